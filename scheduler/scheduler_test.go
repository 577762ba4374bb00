package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// raft.Node is what the manager hands the scheduler.
var _ state.Proposer = (*raft.Node)(nil)

// world is a rafttest cluster (real Raft, real stores) whose managers each
// run a Scheduler in their OnLeader hook, as the manager wires it. Tests
// write nodes, services and tasks through Raft as the API, the dispatcher
// and the orchestrator would.
type world struct {
	*driver
	c *rafttest.Cluster

	mu     sync.Mutex
	scheds map[string]*Scheduler        // by manager ID
	props  map[string]*countingProposer // by manager ID
}

// countingProposer records the scheduler's writes on their way to Raft.
type countingProposer struct {
	inner state.Proposer

	mu sync.Mutex
	// assignments holds the number of assignments of each command that
	// committed.
	assignments []int
}

func (p *countingProposer) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	res, err := p.inner.Propose(ctx, cmd)
	if err == nil {
		n := 0
		for _, op := range cmd.Ops {
			n += len(op.Assignments)
		}
		p.mu.Lock()
		p.assignments = append(p.assignments, n)
		p.mu.Unlock()
	}
	return res, err
}

// wait returns the assignment counts of the commands that committed, once
// there is one: the store shows a write before Propose returns it to the
// scheduler.
func (p *countingProposer) wait() []int {
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		p.mu.Lock()
		cmds := append([]int(nil), p.assignments...)
		p.mu.Unlock()
		if len(cmds) > 0 {
			return cmds
		}
	}
	return nil
}

func newWorld(t *testing.T, managers int) *world {
	t.Helper()
	w := &world{scheds: map[string]*Scheduler{}, props: map[string]*countingProposer{}}
	w.c = rafttest.New(t, managers, func(c *rafttest.Cluster) {
		c.OnStart = func(m *rafttest.Member) {
			cfg := DefaultConfig()
			cfg.Logger = testLogger(t, slog.LevelDebug, "manager", m.ID)
			p := &countingProposer{inner: m.Node}
			s := New(m.Store, p, cfg)
			m.Node.OnLeader(func(ctx context.Context) {
				if err := s.Run(ctx); err != nil && !errors.Is(err, ErrStopped) {
					t.Errorf("scheduler on %s: %v", m.ID, err)
				}
			})
			w.mu.Lock()
			w.scheds[m.ID], w.props[m.ID] = s, p
			w.mu.Unlock()
		}
	})
	w.driver = &driver{
		t: t,
		propose: func(ctx context.Context, cmd *state.Command) (state.Results, error) {
			// Any manager takes writes; followers forward them.
			return w.c.Leader(waitTimeout).Node.Propose(ctx, cmd)
		},
		// The leader applies a write before Propose returns.
		store: func() *state.Store { return w.c.Leader(waitTimeout).Store },
		now:   time.Now,
	}
	w.c.Leader(waitTimeout)
	return w
}

func (w *world) scheduler(m *rafttest.Member) *Scheduler {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.scheds[m.ID]
}

func (w *world) proposer(m *rafttest.Member) *countingProposer {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.props[m.ID]
}

func TestSchedulerAssignsAndSpreads(t *testing.T) {
	w := newWorld(t, 3)
	for _, id := range []string{"n1", "n2", "n3"} {
		w.addNode(mkNode(id))
	}
	web := w.createService(replicatedSpec("web", 9))
	ids := w.createTasks(web, 1, 9)
	got := w.waitTasks("web assigned", ids, assigned)
	if m := perNode(got); m["n1"] != 3 || m["n2"] != 3 || m["n3"] != 3 {
		t.Fatalf("web placements %v, want 3 per node", m)
	}
	for _, task := range got {
		if task.Status.Message != "scheduler assigned task to node" {
			t.Fatalf("task %s message %q", task.ID, task.Status.Message)
		}
	}

	// Another service spreads over the nodes with the fewest tasks
	// overall once its own tasks are even: n4 joins empty.
	w.addNode(mkNode("n4"))
	api := w.createService(replicatedSpec("api", 4))
	ids = w.createTasks(api, 1, 4)
	got = w.waitTasks("api assigned", ids, assigned)
	if m := perNode(got); m["n1"] != 1 || m["n2"] != 1 || m["n3"] != 1 || m["n4"] != 1 {
		t.Fatalf("api placements %v, want 1 per node", m)
	}
	// Scaling up: every node has one api task, so the fewest tasks
	// overall decides: n4 first, then the ties go by node ID.
	ids = w.createTasks(api, 5, 3)
	got = w.waitTasks("api scaled", ids, assigned)
	if m := perNode(got); m["n4"] != 1 || m["n1"] != 1 || m["n2"] != 1 {
		t.Fatalf("api scale-up placements %v, want n4, n1, n2", m)
	}
}

func TestSchedulerExplainsAndPlacesWhenANodeFits(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode(mkNode("n1", resources(4, gib)))
	db := w.createService(replicatedSpec("db", 3, reserveMemory(3*gib)))
	ids := w.createTasks(db, 1, 3)
	w.waitTasks("explained", ids, pendingWith("no suitable node (1 node insufficient memory)"))

	// A node that is down, then paused, is not available.
	n2 := mkNode("n2", resources(8, 8*gib), status(model.NodeStateDown))
	w.addNode(n2)
	w.waitTasks("down node explained", ids,
		pendingWith("no suitable node (1 node not available for new tasks; 1 node insufficient memory)"))
	w.updateNode("n2", func(n *model.Node) { n.Spec.Availability = model.AvailabilityPause })
	w.setNodeState("n2", model.NodeStateReady)
	time.Sleep(100 * time.Millisecond) // a pass would have placed them by now
	w.waitTasks("paused node explained", ids,
		pendingWith("no suitable node (1 node not available for new tasks; 1 node insufficient memory)"))

	// Once active, it takes two of the three; the third waits.
	w.updateNode("n2", func(n *model.Node) { n.Spec.Availability = model.AvailabilityActive })
	var left string
	w.waitFor("two placed", func(tx state.ReadTx) bool {
		placed := 0
		for _, id := range ids {
			switch task := tx.GetTask(id); {
			case assigned(task) && task.NodeID == "n2":
				placed++
			case task.Status.Message == "no suitable node (2 nodes insufficient memory)":
				left = id
			}
		}
		return placed == 2 && left != ""
	})

	// n1 grows (its agent reports more memory): the last one fits there.
	w.must(state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{
		ID:          "n1",
		Status:      model.NodeStatus{State: model.NodeStateReady},
		Description: &model.NodeDescription{Hostname: "n1", Platform: model.Platform{OS: "linux", Architecture: "amd64"}, Resources: model.Resources{NanoCPUs: 4 * core, MemoryBytes: 4 * gib}},
	}}})
	if task := w.waitTasks("last placed", []string{left}, assigned)[0]; task.NodeID != "n1" {
		t.Fatalf("last task on %s, want n1", task.NodeID)
	}
}

func TestSchedulerUnavailableNodesGetNothing(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode(mkNode("active"))
	w.addNode(mkNode("drained", availability(model.AvailabilityDrain)))
	w.addNode(mkNode("paused", availability(model.AvailabilityPause)))
	w.addNode(mkNode("down", status(model.NodeStateDown)))
	w.addNode(mkNode("disconnected", status(model.NodeStateDisconnected)))

	web := w.createService(replicatedSpec("web", 10))
	webIDs := w.createTasks(web, 1, 10)
	got := w.waitTasks("assigned", webIDs, assigned)
	if m := perNode(got); m["active"] != 10 {
		t.Fatalf("placements %v, want all on the active node", m)
	}

	// A global service's tasks are pinned: each goes to its own node or
	// waits for it, even though "active" would take them all.
	nodes := []string{"active", "drained", "paused", "down", "disconnected"}
	mon := w.createService(globalSpec("monitor"))
	ids := w.createGlobalTasks(mon, nodes...)
	if task := w.waitTasks("pinned assigned", ids[:1], assigned)[0]; task.NodeID != "active" {
		t.Fatalf("global task of active on %s", task.NodeID)
	}
	w.waitTasks("pinned explained", ids[1:], pendingWith("no suitable node (1 node not available for new tasks)"))

	w.updateNode("drained", func(n *model.Node) { n.Spec.Availability = model.AvailabilityActive })
	w.setNodeState("down", model.NodeStateReady)
	got = w.waitTasks("pinned placed once available", []string{ids[1], ids[3]}, assigned)
	if got[0].NodeID != "drained" || got[1].NodeID != "down" {
		t.Fatalf("pinned tasks on %s and %s", got[0].NodeID, got[1].NodeID)
	}
	w.waitTasks("others still pending", []string{ids[2], ids[4]}, pendingWith("no suitable node (1 node not available for new tasks)"))
	for _, task := range w.waitTasks("web", webIDs, assigned) {
		if task.NodeID != "active" {
			t.Fatalf("web task %s moved to %s", task.ID, task.NodeID)
		}
	}
}

func TestSchedulerNewLeaderPlacesWhatTheOldOneLeft(t *testing.T) {
	w := newWorld(t, 3)
	for _, id := range []string{"n1", "n2", "n3"} {
		w.addNode(mkNode(id))
	}
	web := w.createService(replicatedSpec("web", 6))
	before := w.waitTasks("web assigned", w.createTasks(web, 1, 6), assigned)

	// The leader's scheduler stops (as if its manager hung before the
	// pass); tasks created now stay pending...
	old := w.c.Leader(waitTimeout)
	w.scheduler(old).Stop()
	api := w.createService(replicatedSpec("api", 6))
	ids := w.createTasks(api, 1, 6)
	time.Sleep(200 * time.Millisecond)
	w.waitTasks("api pending under the old leader", ids, pendingWith("pending task scheduling"))

	// ...until the leader dies and the new leader's scheduler takes
	// over from the replicated store.
	w.c.Stop(old)
	got := w.waitTasks("api assigned by the new leader", ids, assigned)
	if m := perNode(got); m["n1"] != 2 || m["n2"] != 2 || m["n3"] != 2 {
		t.Fatalf("api placements %v, want 2 per node", m)
	}
	leader := w.c.Leader(waitTimeout)
	if leader == old {
		t.Fatal("no leader change")
	}
	if cmds := w.proposer(leader).wait(); len(cmds) == 0 {
		t.Fatal("the new leader's scheduler wrote nothing")
	}
	for _, b := range before {
		if now := w.task(b.ID); now.NodeID != b.NodeID || now.Version != b.Version {
			t.Fatalf("web task %s changed across the leader change", b.ID)
		}
	}
}

func TestSchedulerPassIsOneRaftWrite(t *testing.T) {
	const tasks = 10_000
	w := newWorld(t, 1)
	for _, id := range []string{"n1", "n2", "n3", "n4", "n5"} {
		w.addNode(mkNode(id, resources(64, 256*gib)))
	}
	s := w.createService(replicatedSpec("batch", tasks))
	ids := w.createTasks(s, 1, tasks)
	var created uint64
	w.view(func(tx state.ReadTx) { created = tx.GetTask(ids[0]).Version.Index })

	got := w.waitTasks("all assigned", ids, assigned)
	for _, task := range got {
		// One entry wrote them all, the one after their creation.
		if task.Version.Index != created+1 {
			t.Fatalf("task %s written at index %d, want %d", task.ID, task.Version.Index, created+1)
		}
	}
	if m := perNode(got); len(m) != 5 || m["n1"] != tasks/5 {
		t.Fatalf("placements %v", m)
	}
	if cmds := w.proposer(w.c.Leader(waitTimeout)).wait(); len(cmds) != 1 || cmds[0] != tasks {
		t.Fatalf("scheduler commands held %v assignments, want one of %d", cmds, tasks)
	}
}
