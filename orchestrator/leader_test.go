package orchestrator_test

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// stopLeader crashes the leader and waits for another one.
func stopLeader(t *testing.T, w *world) *rafttest.Member {
	t.Helper()
	old := w.c.Leader(waitTimeout)
	if old == w.sim.member {
		t.Fatal("the simulation runs on the leader")
	}
	w.c.Stop(old)
	leader := w.c.Leader(waitTimeout)
	t.Logf("leader %s stopped, %s leads", old.ID, leader.ID)
	return old
}

func TestLeaderChangeDuringUpdateAndRestartDelay(t *testing.T) {
	w := newWorld(t, 3)
	w.moveSim(w.c.Followers()[0])
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	spec := replicated("web", 3)
	spec.Update = &model.UpdateConfig{Parallelism: 1, Delay: 30 * time.Second}
	id := w.createService(spec)
	w.waitFor(id, "running", converged(3))
	tr := w.track(id)

	// The update replaces one slot, then waits 30 s; the leader dies during
	// the wait. The new leader's orchestrator carries on from the store.
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:2" })
	w.waitFor(id, "first slot updated", func(s *snap) bool { return len(s.upToDate()) == 1 })
	w.settle()
	stopped := stopLeader(t, w)
	w.clock.Advance(20 * time.Second)
	w.settle()
	if got := len(w.get(id).upToDate()); got != 1 {
		t.Fatalf("%d tasks updated before the delay ended, want 1", got)
	}
	w.clock.Advance(10 * time.Second)
	w.waitFor(id, "second slot updated", func(s *snap) bool { return len(s.upToDate()) == 2 })
	w.clock.Advance(30 * time.Second)
	w.waitFor(id, "every slot updated", converged(3))
	// As in Docker, the delay follows the last slot too, then the monitor
	// period (5 s, within the delay) must have passed.
	w.clock.Advance(30 * time.Second)
	s := w.waitFor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
	oneTaskPerSlot(t, s, 3)
	tr.stop()
	if tr.maxDoubled > 1 || tr.minRunning < 2 {
		t.Fatalf("during the update a slot held %d runnable tasks and %d ran", tr.maxDoubled, tr.minRunning)
	}
	if got := tr.statesString(); got != "none -> updating -> completed" {
		t.Fatalf("update states %s", got)
	}

	// A restart delay survives a leader change too: it counts from the
	// failed task's timestamp.
	w.c.Start(stopped)
	w.c.WaitConverged(waitTimeout)
	failed := w.get(id).running()[0]
	w.reportTask(failed, model.TaskStateFailed, "exit 1")
	w.waitFor(id, "failure seen", func(s *snap) bool { return s.task(failed.ID).Status.State == model.TaskStateFailed })
	w.clock.Advance(3 * time.Second)
	if w.c.Leader(waitTimeout) == w.sim.member {
		w.moveSim(w.c.Followers()[0])
	}
	stopLeader(t, w)
	w.settle()
	if got := len(w.get(id).running()); got != 2 {
		t.Fatalf("%d running 3 s after a failure, want 2: replaced before the 5 s delay", got)
	}
	w.clock.Advance(2 * time.Second)
	s = w.waitFor(id, "replaced after the delay", converged(3))
	oneTaskPerSlot(t, s, 3)
}
