package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// serverOn returns an API server on member m of e's cluster, with its own
// event log over m's store, as the manager on m would run it.
func (e *env) serverOn(m *rafttest.Member) *api.Server {
	b := &testBackend{c: e.c, m: m, reg: prometheus.NewRegistry(), nodeID: m.ID, manager: true,
		reach: map[string]model.Reachability{}, logs: newFakeLogs(), events: startEventLog(e.t, m)}
	cfg := api.DefaultConfig()
	cfg.Version = "test"
	cfg.Logger = testLogger(e.t).With("api_on", m.ID)
	return api.NewServer(b, cfg)
}

// eventStream is a `docker events` that runs until stopped.
type eventStream struct {
	t      *testing.T
	lines  chan events.Message
	cancel context.CancelFunc
	done   chan error
}

// follow starts `docker events --format {{json .}}` with args and decodes
// what it prints.
func (d *dockerCLI) follow(args ...string) *eventStream {
	d.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	full := append([]string{"-H", "unix://" + d.sock, "events", "--format", "{{json .}}"}, args...)
	cmd := exec.CommandContext(ctx, d.docker, full...)
	cmd.Env = d.env
	cmd.Stderr = tLogWriter{d.t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	s := &eventStream{t: d.t, lines: make(chan events.Message, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m events.Message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				d.t.Errorf("docker events printed %q: %v", sc.Text(), err)
				continue
			}
			s.lines <- m
		}
		s.done <- cmd.Wait()
		close(s.lines)
	}()
	d.t.Cleanup(s.stop)
	return s
}

// tLogWriter logs what a background command prints on its standard error.
type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("docker events: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func (s *eventStream) stop() {
	s.cancel()
	for range s.lines {
	}
}

// want waits for an event of type typ and action act of the actor named
// name whose attributes include attrs, skipping the others.
func (s *eventStream) want(typ events.Type, act events.Action, name string, attrs ...string) events.Message {
	s.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case m, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("docker events ended (%v) before %s %s %s %v", <-s.done, typ, act, name, attrs)
			}
			if m.Type == typ && m.Action == act && m.Actor.Attributes["name"] == name && hasAttrs(m, attrs...) {
				return m
			}
		case <-timeout:
			s.t.Fatalf("no %s %s event of %s with %v", typ, act, name, attrs)
		}
	}
}

func hasAttrs(m events.Message, kv ...string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if m.Actor.Attributes[kv[i]] != kv[i+1] {
			return false
		}
	}
	return true
}

// replay runs a `docker events` that ends by itself (--until in the past)
// and returns the events it printed.
func (d *dockerCLI) replay(args ...string) []events.Message {
	d.t.Helper()
	out := d.ok(append([]string{"events", "--format", "{{json .}}"}, args...)...)
	var msgs []events.Message
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m events.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			d.t.Fatalf("docker events printed %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func summary(msgs []events.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s %s %s %v\n", m.Type, m.Action, m.Actor.Attributes["name"], m.Actor.Attributes)
	}
	return b.String()
}

// TestDockerCLIEvents follows `docker events` through a follower while
// services and nodes change and the leader is replaced, then replays the
// history with --since/--until and filters.
func TestDockerCLIEvents(t *testing.T) {
	docker := dockerBinary(t)
	e := newEnv(t, 3, orchestrated(t))
	e.addWorker("wrk0000000000000000000002", "node-2", func(n *model.Node) { n.Status.Addr = "10.0.0.2" })
	follower := e.c.Followers()[0]
	d := serveDockerCLI(t, e.serverOn(follower), docker)
	start := time.Now()
	time.Sleep(10 * time.Millisecond)

	stream := d.follow()
	// Let the CLI subscribe before the first change.
	time.Sleep(300 * time.Millisecond)
	created := strings.TrimSpace(d.ok("service", "create", "-d", "--no-resolve-image", "--name", "web", "nginx:1.27"))
	m := stream.want(events.ServiceEventType, events.ActionCreate, "web")
	if m.Actor.ID != created || m.Scope != "swarm" || m.TimeNano == 0 || m.Time != m.TimeNano/1e9 {
		t.Errorf("create event %+v (service %s)", m, created)
	}
	d.ok("service", "scale", "-d", "web=3")
	stream.want(events.ServiceEventType, events.ActionUpdate, "web", "replicas.old", "1", "replicas.new", "3")
	d.ok("service", "update", "-d", "--no-resolve-image", "--image", "nginx:1.28", "web")
	stream.want(events.ServiceEventType, events.ActionUpdate, "web", "image.old", "nginx:1.27", "image.new", "nginx:1.28")
	d.ok("node", "update", "--availability", "drain", "node-2")
	stream.want(events.NodeEventType, events.ActionUpdate, "node-2", "availability.old", "active", "availability.new", "drain")

	// The leader goes; the follower's stream goes on with the next
	// changes, committed by the new leader.
	old := e.c.Leader(waitTimeout)
	if old == follower {
		t.Fatal("the API's member leads")
	}
	e.c.Stop(old)
	leader := e.c.Leader(waitTimeout)
	t.Logf("leader %s stopped, %s leads", old.ID, leader.ID)
	d.ok("node", "update", "--availability", "active", "node-2")
	stream.want(events.NodeEventType, events.ActionUpdate, "node-2", "availability.old", "drain", "availability.new", "active")
	d.ok("service", "rm", "web")
	stream.want(events.ServiceEventType, events.ActionRemove, "web")
	stream.stop()
	end := time.Now()

	// Replays: the history between two times, then filtered.
	since, until := fmt.Sprintf("%d.%09d", start.Unix(), start.Nanosecond()), fmt.Sprintf("%d.%09d", end.Unix(), end.Nanosecond())
	all := d.replay("--since", since, "--until", until)
	var seq []string
	for _, m := range all {
		if m.Actor.Attributes["name"] == "web" || m.Actor.Attributes["name"] == "node-2" {
			seq = append(seq, string(m.Type)+" "+string(m.Action))
		}
	}
	want := "service create|service update|node update|service remove"
	if got := strings.Join(dedupe(seq), "|"); got != want {
		t.Errorf("replayed %s, want %s:\n%s", got, want, summary(all))
	}
	for _, tt := range []struct {
		filter string
		ok     func(events.Message) bool
	}{
		{"type=node", func(m events.Message) bool { return m.Type == events.NodeEventType }},
		{"event=remove", func(m events.Message) bool { return m.Action == events.ActionRemove }},
		{"service=web", func(m events.Message) bool { return m.Actor.Attributes["name"] == "web" }},
		{"node=node-2", func(m events.Message) bool { return m.Actor.Attributes["name"] == "node-2" }},
		{"scope=swarm", func(m events.Message) bool { return m.Scope == "swarm" }},
	} {
		got := d.replay("--since", since, "--until", until, "--filter", tt.filter)
		if len(got) == 0 {
			t.Errorf("--filter %s: nothing", tt.filter)
		}
		for _, m := range got {
			if !tt.ok(m) {
				t.Errorf("--filter %s let through %s %s %s", tt.filter, m.Type, m.Action, m.Actor.Attributes["name"])
			}
		}
	}
	if got := d.replay("--since", since, "--until", until, "--filter", "scope=local"); len(got) != 0 {
		t.Errorf("--filter scope=local: %d swarm events", len(got))
	}
	// Only what happened before --until.
	mid := time.Unix(0, m.TimeNano)
	if got := d.replay("--since", since, "--until", fmt.Sprintf("%d.%09d", mid.Unix(), mid.Nanosecond()), "--filter", "service=web"); len(got) != 1 || got[0].Action != events.ActionCreate {
		t.Errorf("--until the creation: %s", summary(got))
	}
	errOut := d.fails("events", "--since", since, "--until", until, "--filter", "colour=blue")
	wantContains(t, "unknown filter", errOut, `"colour": want a filter this endpoint accepts`)
}

// dedupe drops repeats in a row (scale, image, the orchestrator's
// updatestate; drain, activate).
func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// TestEventsParameters: bad times and filter values are refused, naming
// the parameter and what it wants.
func TestEventsParameters(t *testing.T) {
	e := newEnv(t, 1)
	for _, tt := range []struct{ query, want string }{
		{"since=yesterday", `parameter since: "yesterday": want seconds`},
		{"until=soon", `parameter until: "soon": want seconds`},
		{"since=99999999999", "cannot be after now"},
		{"since=1700000100&until=1700000000", "cannot be before since"},
		{filters("type", "pod"), `"type=pod": want one of builder, config`},
		{filters("scope", "global"), `"scope=global": want local or swarm`},
	} {
		r := e.do("GET", "/events?"+tt.query, nil)
		if r.status != 400 || !strings.Contains(r.message(), tt.want) {
			t.Errorf("GET /events?%s: %d %q, want 400 with %q", tt.query, r.status, r.message(), tt.want)
		}
	}
}
