package system

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
)

func TestEventsPrintsDockersLines(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 5, time.UTC)
	fc := &fakeclient.Client{EventLog: []events.Message{
		{Type: events.ServiceEventType, Action: events.ActionUpdate, Scope: "swarm", TimeNano: at.UnixNano(), Time: at.Unix(),
			Actor: events.Actor{ID: "svc1", Attributes: map[string]string{"name": "web", "replicas.old": "1", "replicas.new": "3"}}},
		{Type: events.NodeEventType, Action: events.ActionRemove, Scope: "swarm", TimeNano: at.UnixNano() + 1e9, Time: at.Unix() + 1,
			Actor: events.Actor{ID: "node1"}},
	}}
	tests := []struct {
		args []string
		want string
		err  bool
	}{
		{nil, "2026-12-06T12:00:00.000000005Z service update svc1 (name=web, replicas.new=3, replicas.old=1)\n" +
			"2026-12-06T12:00:01.000000005Z node remove node1\n", false},
		{[]string{"--format", "json"}, `{"Type":"service","Action":"update","Actor":{"ID":"svc1","Attributes":{"name":"web","replicas.new":"3","replicas.old":"1"}},"scope":"swarm","time":1796558400,"timeNano":1796558400000000005}` + "\n" +
			`{"Type":"node","Action":"remove","Actor":{"ID":"node1","Attributes":null},"scope":"swarm","time":1796558401,"timeNano":1796558401000000005}` + "\n", false},
		{[]string{"--format", "table"}, "", true},
		{[]string{"--filter", "nokeyvalue"}, "", true},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		env := command.NewEnv(&out, &out, func() (command.Client, error) { return fc, nil })
		cmd := NewEventsCommand(env)
		cmd.SetArgs(tt.args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.ExecuteContext(context.Background())
		if (err != nil) != tt.err {
			t.Errorf("%v: err %v", tt.args, err)
			continue
		}
		if !tt.err && out.String() != tt.want {
			t.Errorf("%v printed:\n%s\nwant:\n%s", tt.args, out.String(), tt.want)
		}
	}
}
