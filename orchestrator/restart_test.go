package orchestrator_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func ptr[T any](v T) *T { return &v }

// taskByID finds a task in a snapshot.
func (s *snap) task(id string) *model.Task {
	for _, t := range s.tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func TestRestartPolicy(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	tests := []struct {
		condition model.RestartCondition
		delay     *time.Duration
		end       model.TaskState
		restart   bool
	}{
		{condition: "", end: model.TaskStateComplete, restart: true}, // any is the default
		{condition: model.RestartOnAny, end: model.TaskStateFailed, restart: true},
		{condition: model.RestartOnAny, delay: ptr(10 * time.Second), end: model.TaskStateShutdown, restart: true},
		{condition: model.RestartOnFailure, end: model.TaskStateFailed, restart: true},
		{condition: model.RestartOnFailure, end: model.TaskStateRejected, restart: true},
		{condition: model.RestartOnFailure, end: model.TaskStateComplete, restart: false},
		{condition: model.RestartOnNone, end: model.TaskStateFailed, restart: false},
		{condition: model.RestartOnAny, delay: ptr(time.Duration(0)), end: model.TaskStateFailed, restart: true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.condition, tt.end), func(t *testing.T) {
			spec := replicated(fmt.Sprintf("job%d", i), 1)
			spec.Task.Restart = model.RestartPolicy{Condition: tt.condition, Delay: tt.delay}
			id := w.createService(spec)
			first := w.waitFor(id, "running", func(s *snap) bool { return len(s.running()) == 1 }).running()[0]
			w.reportTask(first, tt.end, "")

			delay := model.DefaultRestartDelay
			if tt.delay != nil {
				delay = *tt.delay
			}
			if delay > 0 {
				// Nothing before the delay has passed, counted from the
				// task's status timestamp.
				w.clock.Advance(delay - time.Second)
				w.settle()
				if s := w.get(id); len(s.tasks) != 1 || (tt.restart && s.task(first.ID).DesiredState != model.TaskStateRunning) {
					t.Fatalf("replaced before the restart delay:\n%s", s)
				}
				w.clock.Advance(time.Second)
			}
			if !tt.restart {
				w.settle()
				s := w.get(id)
				if len(s.tasks) != 1 {
					t.Fatalf("restarted against the policy:\n%s", s)
				}
				want := model.TaskStateShutdown
				if tt.end == model.TaskStateShutdown {
					want = model.TaskStateRunning
				}
				if got := s.task(first.ID).DesiredState; got != want {
					t.Fatalf("ended task has desired state %s, want %s", got, want)
				}
				return
			}
			s := w.waitTicking(id, "replacement running", func(s *snap) bool {
				r := s.running()
				return len(r) == 1 && r[0].ID != first.ID
			})
			if got := s.running()[0].Slot; got != first.Slot {
				t.Fatalf("replacement in slot %d, want %d", got, first.Slot)
			}
			if got := s.task(first.ID).DesiredState; got != model.TaskStateShutdown {
				t.Fatalf("replaced task has desired state %s, want shutdown", got)
			}
		})
	}
}

// failAndWait fails a running task of a service and waits until the
// failure is in the store.
func failAndWait(w *world, id string) *model.Task {
	w.t.Helper()
	cur := w.waitFor(id, "running", func(s *snap) bool { return len(s.running()) >= 1 }).running()[0]
	w.reportTask(cur, model.TaskStateFailed, "exit 1")
	w.waitFor(id, "failure seen", func(s *snap) bool { return s.task(cur.ID).Status.State == model.TaskStateFailed })
	return cur
}

func TestRestartMaxAttempts(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")

	t.Run("forever", func(t *testing.T) {
		spec := replicated("twice", 1)
		spec.Task.Restart = model.RestartPolicy{Delay: ptr(time.Duration(0)), MaxAttempts: 2}
		id := w.createService(spec)
		for range 3 {
			failAndWait(w, id)
		}
		w.settle()
		if s := w.get(id); len(s.tasks) != 3 || len(s.runnable()) != 0 {
			t.Fatalf("want the first run and 2 restarts, all failed:\n%s", s)
		}
	})

	t.Run("window", func(t *testing.T) {
		spec := replicated("once-a-minute", 1)
		spec.Task.Restart = model.RestartPolicy{Delay: ptr(time.Duration(0)), MaxAttempts: 1, Window: time.Minute}
		id := w.createService(spec)
		failAndWait(w, id) // restarted: no attempt in the window yet
		w.waitFor(id, "restarted", func(s *snap) bool { return len(s.running()) == 1 })
		w.clock.Advance(2 * time.Minute)
		failAndWait(w, id) // restarted: the first attempt is out of the window
		w.waitFor(id, "restarted again", func(s *snap) bool { return len(s.running()) == 1 })
		w.clock.Advance(10 * time.Second)
		failAndWait(w, id) // not restarted: one attempt within the window
		w.settle()
		if s := w.get(id); len(s.tasks) != 3 || len(s.runnable()) != 0 {
			t.Fatalf("want 3 runs and no fourth:\n%s", s)
		}
	})
}

func TestTaskHistoryIsTrimmed(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.updateCluster(func(c *model.ClusterSpec) { c.Orchestration.TaskHistoryRetentionLimit = 2 })
	spec := replicated("flaky", 2)
	spec.Task.Restart = model.RestartPolicy{Delay: ptr(time.Duration(0))}
	id := w.createService(spec)
	for range 5 {
		failAndWait(w, id)
		w.waitFor(id, "restarted", func(s *snap) bool { return len(s.running()) == 2 })
	}
	w.settle()
	s := w.get(id)
	ended := map[uint64]int{}
	for _, task := range s.tasks {
		if task.Status.State.Terminal() {
			ended[task.Slot]++
		}
	}
	if ended[1] != 2 || ended[2] != 0 || len(s.running()) != 2 {
		t.Fatalf("want 2 running and the 2 latest failures kept, got %v:\n%s", ended, s)
	}
}
