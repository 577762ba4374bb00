package orchestrator_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

func TestScaleUpAndDown(t *testing.T) {
	w := newWorld(t, 1)
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	id := w.createService(replicated("web", 3))
	s := w.waitFor(id, "3 running", func(s *snap) bool { return len(s.running()) == 3 })
	if got := s.slots(); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("slots %v, want 1 2 3", got)
	}
	if s.status() != "" {
		t.Fatalf("update status %q after create, want none", s.status())
	}

	w.updateService(id, func(sp *model.ServiceSpec) { sp.Mode.Replicated.Replicas = 5 })
	s = w.waitFor(id, "5 running", func(s *snap) bool { return len(s.running()) == 5 })
	if got := s.slots(); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("slots %v after scale up, want 1..5", got)
	}

	w.updateService(id, func(sp *model.ServiceSpec) { sp.Mode.Replicated.Replicas = 2 })
	s = w.waitFor(id, "2 running", func(s *snap) bool { return len(s.runnable()) == 2 })
	if got := s.slots(); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("slots %v after scale down, want 1 2", got)
	}
	w.settle()
	s = w.get(id)
	if s.status() != "" {
		t.Fatalf("update status %q after a pure scale, want none", s.status())
	}
	t.Log(s)
}

// onNode returns the runnable tasks of s on node.
func (s *snap) onNode(node string) []*model.Task {
	return s.filter(func(t *model.Task) bool { return runnable(t) && t.NodeID == node })
}

// oneTaskPerSlot fails unless every slot 1..n has exactly one runnable task.
func oneTaskPerSlot(t *testing.T, s *snap, n int) {
	t.Helper()
	per := map[uint64]int{}
	for _, task := range s.runnable() {
		per[task.Slot]++
	}
	for slot := uint64(1); slot <= uint64(n); slot++ {
		if per[slot] != 1 {
			t.Fatalf("slot %d has %d runnable tasks, want 1:\n%s", slot, per[slot], s)
		}
	}
	if len(per) != n {
		t.Fatalf("runnable tasks in %d slots, want %d:\n%s", len(per), n, s)
	}
}

func TestDrainMovesTasksAtOnce(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicated("web", 4))
	w.waitFor(id, "4 running on 2 nodes", func(s *snap) bool { return len(s.running()) == 4 && len(s.perNode()) == 2 })
	before := w.get(id).onNode("n1")

	// The clock does not move: a drained node's tasks are replaced without
	// the restart delay.
	w.updateNode("n1", func(n *model.NodeSpec) { n.Availability = model.AvailabilityDrain })
	s := w.waitFor(id, "4 running on n2, n1's tasks stopped", func(s *snap) bool {
		for _, old := range before {
			if s.task(old.ID).Status.State != model.TaskStateShutdown {
				return false
			}
		}
		return s.perNode()["n2"] == 4
	})
	for _, old := range before {
		if got := s.task(old.ID); got.DesiredState != model.TaskStateShutdown {
			t.Fatalf("drained task %s: desired state %s", got.ID, got.DesiredState)
		}
	}
	w.settle()
	oneTaskPerSlot(t, w.get(id), 4)
}

func TestNodeDownAndBackLeavesNoDoubledSlot(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicated("web", 4))
	w.waitFor(id, "4 running on 2 nodes", func(s *snap) bool { return len(s.running()) == 4 && len(s.perNode()) == 2 })
	stale := w.get(id).onNode("n1")

	// n1 goes down: its agent reports nothing any more; its tasks are
	// replaced at once (no restart delay) and asked to stop.
	w.setNodeState("n1", model.NodeStateDown)
	s := w.waitFor(id, "4 running on n2", func(s *snap) bool { return len(s.onNode("n2")) == 4 && len(s.running()) == 4 })
	for _, task := range s.tasks {
		if task.NodeID == "n1" && task.DesiredState != model.TaskStateShutdown {
			t.Fatalf("task %s on the down node has desired state %s, want shutdown", task.ID, task.DesiredState)
		}
	}

	// n1 comes back: its agent stops the stale tasks; no slot is doubled.
	w.setNodeState("n1", model.NodeStateReady)
	s = w.waitFor(id, "stale tasks stopped", func(s *snap) bool {
		for _, task := range s.tasks {
			for _, old := range stale {
				if task.ID == old.ID && task.Status.State != model.TaskStateShutdown {
					return false
				}
			}
		}
		return true
	})
	w.settle()
	oneTaskPerSlot(t, w.get(id), 4)
}

// With a tiny change-feed buffer the orchestrator keeps losing events and
// starting over from snapshots; it still converges. Rounds hold at most 6
// task changes, written in commands of at most 4.
func TestResyncAfterChangeFeedOverflow(t *testing.T) {
	w := newWorld(t, 1, func(c *orchestrator.Config) { c.WatchLimit = 3; c.MaxBatch = 4; c.MaxRoundChanges = 6 })
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicated("web", 10))
	s := w.waitFor(id, "10 running", func(s *snap) bool { return len(s.running()) == 10 && len(s.runnable()) == 10 })
	oneTaskPerSlot(t, s, 10)
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Mode.Replicated.Replicas = 3 })
	s = w.waitFor(id, "3 running", func(s *snap) bool { return len(s.runnable()) == 3 })
	w.settle()
	oneTaskPerSlot(t, w.get(id), 3)
}

// batchRecorder passes the orchestrator's commands on and records, per
// command that creates tasks, its time (the round's stamp) and how many it
// creates.
type batchRecorder struct {
	m       *rafttest.Member
	mu      sync.Mutex
	creates []int
	rounds  map[time.Time]bool
}

func (p *batchRecorder) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	n := 0
	for _, op := range cmd.Ops {
		if op.Type == state.OpCreateTasks {
			n += len(op.NewTasks)
		}
	}
	if n > 0 {
		p.mu.Lock()
		p.creates = append(p.creates, n)
		p.rounds[cmd.Time] = true
		p.mu.Unlock()
	}
	return p.m.Node.Propose(ctx, cmd)
}

// A scale up plans up to MaxRoundChanges tasks per round, not MaxBatch,
// and writes them in commands of at most MaxBatch.
func TestScaleUpRoundsAndBatches(t *testing.T) {
	var prop *batchRecorder
	w := newWorldWith(t, 1, func(m *rafttest.Member) state.Proposer {
		prop = &batchRecorder{m: m, rounds: map[time.Time]bool{}}
		return prop
	}, func(c *orchestrator.Config) { c.MaxBatch = 4; c.MaxRoundChanges = 10 })
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicated("web", 25))
	w.waitFor(id, "25 running", func(s *snap) bool { return len(s.running()) == 25 })
	w.settle()
	oneTaskPerSlot(t, w.get(id), 25)
	prop.mu.Lock()
	defer prop.mu.Unlock()
	// 10, 10 and 5 tasks in three rounds; 4, 4, 2, 4, 4, 2, 4, 1 per command.
	if want := []int{4, 4, 2, 4, 4, 2, 4, 1}; !slices.Equal(prop.creates, want) {
		t.Fatalf("tasks created per command %v, want %v", prop.creates, want)
	}
	if len(prop.rounds) != 3 {
		t.Fatalf("tasks created in %d rounds, want 3", len(prop.rounds))
	}
}
