package orchestrator_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// tracker follows a service through every batch of changes of the store,
// replaying the events on its own copy so that no intermediate state is
// missed, and records the extremes the invariants of an update are about.
type tracker struct {
	mu         sync.Mutex
	minRunning int
	maxRunning int
	maxWanted  int // runnable tasks: wanted and not ended
	maxDoubled int // most runnable tasks in one slot
	states     []model.UpdateState
	index      uint64 // of the last batch seen
	store      *state.Store
	cancel     context.CancelFunc
	done       chan struct{}
}

func (w *world) track(id string) *tracker {
	tr := &tracker{minRunning: 1 << 30, done: make(chan struct{}), store: w.sim.member.Store}
	ctx, cancel := context.WithCancel(context.Background())
	tr.cancel = cancel
	var cur *snap
	tasks := map[string]*model.Task{}
	watch, err := w.sim.member.Store.ViewAndWatch(func(tx state.ReadTx) error {
		cur = w.snapshot(tx, id)
		for _, t := range cur.tasks {
			tasks[t.ID] = t
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	tr.record(cur)
	go func() {
		defer close(tr.done)
		defer watch.Close()
		for {
			batches, err := watch.Next(ctx)
			if err != nil {
				return
			}
			for _, b := range batches {
				for _, ev := range b.Events {
					switch o := ev.Object.(type) {
					case *model.Service:
						if o.ID == id && ev.Action != state.ActionDelete {
							cur.svc = o
						}
					case *model.Task:
						if o.ServiceID != id {
							continue
						}
						if ev.Action == state.ActionDelete {
							delete(tasks, o.ID)
						} else {
							tasks[o.ID] = o
						}
					}
				}
				cur.tasks = slices.Collect(maps.Values(tasks))
				tr.record(cur)
				tr.mu.Lock()
				tr.index = b.Index
				tr.mu.Unlock()
			}
		}
	}()
	w.t.Cleanup(tr.stop)
	return tr
}

func (tr *tracker) record(s *snap) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.minRunning = min(tr.minRunning, len(s.running()))
	tr.maxRunning = max(tr.maxRunning, len(s.running()))
	tr.maxWanted = max(tr.maxWanted, len(s.runnable()))
	per := map[string]int{}
	for _, t := range s.runnable() {
		per[fmt.Sprint(t.Slot, t.NodeID)]++
	}
	for _, n := range per {
		tr.maxDoubled = max(tr.maxDoubled, n)
	}
	if st := s.status(); len(tr.states) == 0 || tr.states[len(tr.states)-1] != st {
		tr.states = append(tr.states, st)
	}
}

// stop waits until the tracker has seen everything the simulation's store
// holds now, then stops it.
func (tr *tracker) stop() {
	select {
	case <-tr.done:
		return
	default:
	}
	want := tr.store.Index()
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		tr.mu.Lock()
		seen := tr.index
		tr.mu.Unlock()
		if seen >= want {
			break
		}
	}
	tr.cancel()
	<-tr.done
}

func (tr *tracker) statesString() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var parts []string
	for _, s := range tr.states {
		if s == "" {
			s = "none"
		}
		parts = append(parts, string(s))
	}
	return strings.Join(parts, " -> ")
}

// image returns the service's current image.
func (s *snap) image() string { return s.svc.Spec.Task.Container.Image }

// converged tells whether n tasks run the current spec and nothing else runs.
func converged(n int) func(*snap) bool {
	return func(s *snap) bool { return len(s.upToDate()) == n && len(s.runnable()) == n }
}

func TestRollingUpdate(t *testing.T) {
	const replicas = 4
	tests := []struct {
		order       model.UpdateOrder
		parallelism uint64
		// Invariants: the fewest running and the most wanted tasks at any
		// time during the update.
		minRunning, maxWanted int
	}{
		{model.UpdateOrderStopFirst, 1, replicas - 1, replicas},
		{model.UpdateOrderStopFirst, 2, replicas - 2, replicas},
		{model.UpdateOrderStartFirst, 1, replicas, replicas + 1},
		{model.UpdateOrderStartFirst, 2, replicas, replicas + 2},
		{model.UpdateOrderStartFirst, 0, replicas, 2 * replicas},
	}
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/parallelism=%d", tt.order, tt.parallelism), func(t *testing.T) {
			spec := replicated(fmt.Sprintf("web-%s-%d", tt.order, tt.parallelism), replicas)
			spec.Update = &model.UpdateConfig{Parallelism: tt.parallelism, Order: tt.order}
			id := w.createService(spec)
			old := w.waitFor(id, "running", converged(replicas))
			tr := w.track(id)

			w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:2" })
			s := w.waitFor(id, "every task updated", converged(replicas))
			oneTaskPerSlot(t, s, replicas)
			for _, task := range old.tasks {
				if got := s.task(task.ID); got.DesiredState != model.TaskStateShutdown {
					t.Fatalf("old task %s has desired state %s", task.ID, got.DesiredState)
				}
			}
			if s.status() != model.UpdateStateUpdating {
				t.Fatalf("status %q before the monitor period ended, want updating", s.status())
			}
			s = w.afterMonitor(id, "update completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
			if s.svc.UpdateStatus.Message != "update completed" || s.svc.UpdateStatus.CompletedAt == nil {
				t.Fatalf("completed status %+v", s.svc.UpdateStatus)
			}
			tr.stop()
			if tr.minRunning < tt.minRunning || tr.maxWanted > tt.maxWanted {
				t.Fatalf("running dropped to %d (want >= %d), wanted tasks rose to %d (want <= %d)",
					tr.minRunning, tt.minRunning, tr.maxWanted, tt.maxWanted)
			}
			if tt.order == model.UpdateOrderStopFirst && tr.maxDoubled > 1 {
				t.Fatalf("a slot held %d runnable tasks during a stop-first update", tr.maxDoubled)
			}
			if got := tr.statesString(); got != "none -> updating -> completed" {
				t.Fatalf("update states %s", got)
			}
		})
	}
}

func TestUpdateDelayBetweenBatches(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	spec := replicated("web", 3)
	spec.Update = &model.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second, Monitor: 2 * time.Second}
	id := w.createService(spec)
	w.waitFor(id, "running", converged(3))
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:2" })
	for i := 1; i <= 3; i++ {
		w.waitFor(id, fmt.Sprintf("%d updated", i), func(s *snap) bool { return len(s.upToDate()) == i })
		w.settle()
		if got := len(w.get(id).upToDate()); got != i {
			t.Fatalf("%d tasks updated before the delay passed, want %d", got, i)
		}
		w.clock.Advance(10 * time.Second)
	}
	// The monitor period (2 s) is within the last delay: done.
	s := w.waitFor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
	oneTaskPerSlot(t, s, 3)
}

func TestForceUpdateRedeploysEveryTask(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	spec := replicated("web", 3)
	spec.Update = &model.UpdateConfig{Parallelism: 0}
	id := w.createService(spec)
	old := w.waitFor(id, "running", converged(3))
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.ForceUpdate++ })
	s := w.waitFor(id, "redeployed", func(s *snap) bool {
		if !converged(3)(s) {
			return false
		}
		for _, t := range s.running() {
			if old.task(t.ID) != nil {
				return false
			}
		}
		return true
	})
	if s.image() != "app:1" {
		t.Fatalf("image %s", s.image())
	}
	w.afterMonitor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
}

func TestUpdateFailurePauses(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.sim.failImage("app:bad", true)
	id := w.createService(replicated("web", 4))
	w.waitFor(id, "running", converged(4))
	tr := w.track(id)
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:bad" })
	s := w.waitFor(id, "paused", func(s *snap) bool { return s.status() == model.UpdateStatePaused })
	failed := s.filter(func(t *model.Task) bool { return t.Status.State == model.TaskStateFailed })
	if len(failed) != 1 {
		t.Fatalf("want one failed task:\n%s", s)
	}
	want := fmt.Sprintf("update paused due to failure or early termination of task %s", failed[0].ID)
	if s.svc.UpdateStatus.Message != want {
		t.Fatalf("message %q, want %q", s.svc.UpdateStatus.Message, want)
	}
	// Paused: the other slots keep their old tasks, even as time passes.
	w.clock.Advance(time.Minute)
	w.settle()
	s = w.get(id)
	if got := len(s.filter(func(t *model.Task) bool { return runnable(t) && t.Spec.Container.Image == "app:1" })); got != 3 {
		t.Fatalf("%d old tasks left running, want 3:\n%s", got, s)
	}
	tr.stop()
	if got := tr.statesString(); got != "none -> updating -> paused" {
		t.Fatalf("update states %s", got)
	}

	// A new update (the API resets the status) resumes.
	w.sim.failImage("app:bad", false)
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:3" })
	w.waitFor(id, "updated", converged(4))
	w.afterMonitor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
}

func TestUpdateFailureRollsBack(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	w.sim.failImage("app:bad", true)
	spec := replicated("web", 4)
	spec.Update = &model.UpdateConfig{Parallelism: 2, FailureAction: model.FailureActionRollback, MaxFailureRatio: 0.25}
	// The rollback goes all at once, start-first: its config is honoured.
	spec.Rollback = &model.UpdateConfig{Parallelism: 0, Order: model.UpdateOrderStartFirst}
	id := w.createService(spec)
	before := w.waitFor(id, "running", converged(4))
	tr := w.track(id)

	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:bad" })
	s := w.waitFor(id, "rolled back", func(s *snap) bool {
		return s.status() == model.UpdateStateRollbackStarted && s.image() == "app:1"
	})
	if s.svc.SpecVersion != before.svc.SpecVersion {
		t.Fatalf("spec version %d after rollback, want the previous %d", s.svc.SpecVersion.Index, before.svc.SpecVersion.Index)
	}
	if msg := s.svc.UpdateStatus.Message; !strings.HasPrefix(msg, "update rolled back due to failure or early termination of task ") {
		t.Fatalf("message %q", msg)
	}
	s = w.waitFor(id, "old spec running", converged(4))
	s = w.afterMonitor(id, "rollback completed", func(s *snap) bool { return s.status() == model.UpdateStateRollbackCompleted })
	if s.svc.UpdateStatus.Message != "rollback completed" {
		t.Fatalf("message %q", s.svc.UpdateStatus.Message)
	}
	oneTaskPerSlot(t, s, 4)
	tr.stop()
	if got := tr.statesString(); got != "none -> updating -> rollback_started -> rollback_completed" {
		t.Fatalf("update states %s", got)
	}
}

func TestUserRollback(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	spec := replicated("web", 3)
	spec.Rollback = &model.UpdateConfig{Parallelism: 1, Order: model.UpdateOrderStartFirst}
	id := w.createService(spec)
	w.waitFor(id, "running", converged(3))
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:2" })
	w.waitFor(id, "updated", converged(3))
	w.afterMonitor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })

	tr := w.track(id)
	w.rollbackService(id)
	s := w.waitFor(id, "rolled back", converged(3))
	if s.image() != "app:1" {
		t.Fatalf("image %s after rollback", s.image())
	}
	w.afterMonitor(id, "rollback completed", func(s *snap) bool { return s.status() == model.UpdateStateRollbackCompleted })
	tr.stop()
	if got := tr.statesString(); got != "completed -> rollback_started -> rollback_completed" {
		t.Fatalf("update states %s", got)
	}
	if tr.minRunning < 3 || tr.maxWanted > 4 {
		t.Fatalf("start-first rollback with parallelism 1: running dropped to %d, wanted rose to %d", tr.minRunning, tr.maxWanted)
	}
}

func TestGlobalRollingUpdate(t *testing.T) {
	w := newWorld(t, 1)
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	spec := global("agent")
	spec.Update = &model.UpdateConfig{Parallelism: 1, Order: model.UpdateOrderStartFirst}
	id := w.createService(spec)
	w.waitFor(id, "running", converged(3))
	tr := w.track(id)
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "agent:2" })
	s := w.waitFor(id, "updated", converged(3))
	if got := s.nodesRunning(); fmt.Sprint(got) != "[n1 n2 n3]" {
		t.Fatalf("running on %v", got)
	}
	w.afterMonitor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
	tr.stop()
	if tr.minRunning < 3 || tr.maxWanted > 4 {
		t.Fatalf("start-first global update: running dropped to %d, wanted rose to %d", tr.minRunning, tr.maxWanted)
	}
}

func TestUpdateFailureContinues(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.sim.failImage("app:bad", true)
	spec := replicated("web", 3)
	spec.Update = &model.UpdateConfig{Parallelism: 1, FailureAction: model.FailureActionContinue}
	id := w.createService(spec)
	w.waitFor(id, "running", converged(3))
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "app:bad" })
	s := w.waitFor(id, "completed", func(s *snap) bool { return s.status() == model.UpdateStateCompleted })
	failed := s.filter(func(t *model.Task) bool {
		return t.Status.State == model.TaskStateFailed && t.Spec.Container.Image == "app:bad"
	})
	if len(failed) != 3 || len(s.runnable()) != 0 {
		t.Fatalf("want every slot tried with the new spec and failed:\n%s", s)
	}
}
