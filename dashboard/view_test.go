package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

func task(id string, st, desired model.TaskState, node string) *model.Task {
	return &model.Task{ID: id, ServiceID: "s1", ServiceName: "web", Slot: 1, NodeID: node,
		DesiredState: desired, Status: model.TaskStatus{State: st}}
}

func TestCoalescerSendsTheLastStateOfEachObject(t *testing.T) {
	now := time.Now()
	c := newCoalescer()
	c.add(state.Batch{Index: 5, Events: []state.Event{
		{Action: state.ActionCreate, Object: task("t1", model.TaskStatePending, model.TaskStateRunning, "")},
		{Action: state.ActionCreate, Object: task("t2", model.TaskStateRunning, model.TaskStateRunning, "n1")},
		{Action: state.ActionCreate, Object: &model.Node{ID: "n9"}},
	}}, now)
	c.add(state.Batch{Index: 6, Events: []state.Event{
		{Action: state.ActionUpdate, Object: task("t1", model.TaskStateRunning, model.TaskStateRunning, "n1"),
			Old: task("t1", model.TaskStatePending, model.TaskStateRunning, "")},
		// stopped for good and not meant to run: gone from the page
		{Action: state.ActionUpdate, Object: task("t2", model.TaskStateShutdown, model.TaskStateShutdown, "n1"),
			Old: task("t2", model.TaskStateRunning, model.TaskStateShutdown, "n1")},
		{Action: state.ActionDelete, Object: &model.Node{ID: "n9"}},
	}}, now)
	d := c.flush()
	if d.Index != 6 {
		t.Errorf("index %d, want 6", d.Index)
	}
	if len(d.Tasks) != 1 || d.Tasks[0].ID != "t1" || d.Tasks[0].State != "running" || d.Tasks[0].Node != "n1" {
		t.Errorf("tasks %+v, want t1 running on n1 only", d.Tasks)
	}
	if len(d.RemovedTasks) != 1 || d.RemovedTasks[0] != "t2" {
		t.Errorf("removed tasks %v, want [t2]", d.RemovedTasks)
	}
	if len(d.Nodes) != 0 || len(d.RemovedNodes) != 1 {
		t.Errorf("nodes %v removed %v: a node created then removed is sent removed", d.Nodes, d.RemovedNodes)
	}
	if len(d.Events) != 6 {
		t.Errorf("%d events, want 6: %+v", len(d.Events), d.Events)
	}
	if !c.empty() {
		t.Error("flush left state behind")
	}
}

func TestDescribeSkipsRewritesThatChangeNothingShown(t *testing.T) {
	running := task("t1", model.TaskStateRunning, model.TaskStateRunning, "n1")
	again := task("t1", model.TaskStateRunning, model.TaskStateRunning, "n1")
	again.Status.Message = "still running"
	n := &model.Node{ID: "n1", Description: model.NodeDescription{Hostname: "h1"}, Spec: model.NodeSpec{Availability: model.AvailabilityActive}}
	drained := n.Copy()
	drained.Spec.Availability = model.AvailabilityDrain
	cases := []struct {
		name string
		e    state.Event
		want string // "" if no feed entry
	}{
		{"task status rewrite", state.Event{Action: state.ActionUpdate, Object: again, Old: running}, ""},
		{"task started", state.Event{Action: state.ActionUpdate, Object: running, Old: task("t1", model.TaskStateStarting, model.TaskStateRunning, "n1")}, "task update web.1: running on n1"},
		{"task told to stop", state.Event{Action: state.ActionUpdate, Object: task("t1", model.TaskStateRunning, model.TaskStateShutdown, "n1"), Old: running}, "task update web.1: desired shutdown"},
		{"node drained", state.Event{Action: state.ActionUpdate, Object: drained, Old: n}, "node update h1: availability drain"},
		{"node heartbeat", state.Event{Action: state.ActionUpdate, Object: n.Copy(), Old: n}, ""},
		{"node removed", state.Event{Action: state.ActionDelete, Object: n}, "node remove h1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fe, ok := describe(tc.e, 1, time.Now())
			got := ""
			if ok {
				got = strings.TrimSpace(fe.Type + " " + fe.Action + " " + fe.Name)
				if fe.Detail != "" {
					got += ": " + fe.Detail
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRaftViewCountsWhatTheClusterCanLose(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m := func(id string, reachable bool, commit, applied uint64) RaftMember {
		return RaftMember{ID: id, Voter: true, Reachable: reachable, CommitIndex: commit, AppliedIndex: applied}
	}
	cases := []struct {
		name                 string
		v                    RaftView
		canLose, quorum, lag int
		stale                string
	}{
		{"three healthy", RaftView{LeaderID: "a", IsLeader: true, Members: []RaftMember{m("a", true, 10, 10), m("b", true, 10, 9), m("c", true, 8, 7)}}, 1, 2, 3, ""},
		{"one of three gone", RaftView{LeaderID: "a", IsLeader: true, Members: []RaftMember{m("a", true, 10, 10), m("b", true, 10, 10), m("c", false, 0, 0)}}, 0, 2, 0, ""},
		{"five, two gone", RaftView{LeaderID: "a", IsLeader: true, Members: []RaftMember{m("a", true, 5, 5), m("b", true, 5, 5), m("c", true, 5, 5), m("d", false, 0, 0), m("e", false, 0, 0)}}, 0, 3, 0, ""},
		{"no leader", RaftView{Members: []RaftMember{m("a", true, 5, 5), m("b", false, 0, 0), m("c", false, 0, 0)}}, -1, 2, 0, "knows no leader"},
		{"follower cut off", RaftView{LeaderID: "b", LastContact: now.Add(-10 * time.Second), Members: []RaftMember{m("a", true, 5, 5), m("b", true, 5, 5), m("c", true, 5, 5)}}, 1, 2, 0, "not heard from the leader for 10s"},
		{"follower in touch", RaftView{LeaderID: "b", LastContact: now.Add(-time.Second), Members: []RaftMember{m("a", true, 5, 5), m("b", true, 5, 5), m("c", true, 5, 5)}}, 1, 2, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			v.finish(3*time.Second, now)
			if v.CanLose != tc.canLose || v.Quorum != tc.quorum {
				t.Errorf("can lose %d quorum %d, want %d and %d", v.CanLose, v.Quorum, tc.canLose, tc.quorum)
			}
			if got := v.Members[len(v.Members)-1].Lag; tc.lag != 0 && got != uint64(tc.lag) {
				t.Errorf("last member's lag %d, want %d", got, tc.lag)
			}
			if (tc.stale == "") != !v.Stale || !strings.Contains(v.StaleReason, tc.stale) {
				t.Errorf("stale %v %q, want %q", v.Stale, v.StaleReason, tc.stale)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"default with an address", func(c *Config) {}, ""},
		{"no address", func(c *Config) { c.Addr = "" }, "--ui-addr"},
		{"no port", func(c *Config) { c.Addr = "127.0.0.1" }, "want IP:PORT"},
		{"no coalescing", func(c *Config) { c.Coalesce = 0 }, "Coalesce"},
		{"raft too often", func(c *Config) { c.RaftInterval = time.Millisecond }, "RaftInterval"},
		{"peer timeout over the interval", func(c *Config) { c.PeerTimeout = 2 * time.Second }, "PeerTimeout"},
		{"negative history", func(c *Config) { c.EventHistory = -1 }, "EventHistory"},
		{"no stream", func(c *Config) { c.MaxStreams = 0 }, "MaxStreams"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Addr = "127.0.0.1:8080"
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	for addr, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:80": true, "0.0.0.0:80": false, "10.0.0.1:80": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%s) = %v", addr, got)
		}
	}
}
