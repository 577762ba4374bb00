package orchestrator_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func replicatedJob(name string, concurrent, total uint64) model.ServiceSpec {
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task: model.TaskSpec{Container: model.ContainerSpec{Image: "batch:1"},
			Restart: model.RestartPolicy{Condition: model.RestartOnAny, Delay: ptr(time.Duration(0))}},
		Mode: model.ServiceMode{ReplicatedJob: &model.ReplicatedJob{MaxConcurrent: concurrent, TotalCompletions: total}},
	}
}

func globalJob(name string) model.ServiceSpec {
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "batch:1"}},
		Mode:        model.ServiceMode{GlobalJob: &model.GlobalJob{}},
	}
}

// complete returns the tasks that completed.
func (s *snap) complete() []*model.Task {
	return s.filter(func(t *model.Task) bool { return t.Status.State == model.TaskStateComplete })
}

// completeSlots returns the slots (or nodes) of the completed tasks of the
// current iteration, sorted, with duplicates.
func (s *snap) completeSlots() []string {
	var out []string
	for _, t := range s.complete() {
		if !model.TaskUpToDate(t, s.svc) {
			continue
		}
		if s.svc.Spec.Mode.GlobalJob != nil {
			out = append(out, t.NodeID)
		} else {
			out = append(out, fmt.Sprint(t.Slot))
		}
	}
	slices.Sort(out)
	return out
}

// jobSlots returns the slots of a replicated job's runnable tasks, sorted
// (slot 0 is a slot, not a global task).
func (s *snap) jobSlots() []string {
	var out []string
	for _, t := range s.runnable() {
		out = append(out, fmt.Sprint(t.Slot))
	}
	slices.Sort(out)
	return out
}

// completeRunning reports every running task of a service complete, as an
// agent whose containers exited 0 would, and returns how many.
func (w *world) completeRunning(id string) int {
	w.t.Helper()
	running := w.get(id).running()
	for _, t := range running {
		w.reportTask(t, model.TaskStateComplete, "")
	}
	return len(running)
}

func TestReplicatedJobRunsToCompletionAtMostMaxConcurrent(t *testing.T) {
	w := newWorld(t, 1)
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	id := w.createService(replicatedJob("batch", 2, 5))
	s := w.waitFor(id, "two running", func(s *snap) bool { return len(s.running()) == 2 })
	for _, task := range s.tasks {
		if task.DesiredState != model.TaskStateComplete {
			t.Fatalf("job task desired %s, want complete:\n%s", task.DesiredState, s)
		}
	}
	if got := s.jobSlots(); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("first slots %v, want [0 1]", got)
	}
	done := 0
	for done < 5 {
		w.settle()
		s := w.get(id)
		if n := len(s.runnable()); n > 2 {
			t.Fatalf("%d tasks runnable, MaxConcurrent is 2:\n%s", n, s)
		}
		if n := len(s.running()); n == 0 {
			t.Fatalf("nothing running after %d completions:\n%s", done, s)
		}
		// One at a time, so that the next slot starts on the completion.
		w.reportTask(s.running()[0], model.TaskStateComplete, "")
		done++
	}
	w.settle()
	s = w.get(id)
	if got := s.completeSlots(); !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) || len(s.tasks) != 5 {
		t.Fatalf("completed slots %v (want each of 0..4 once), %d tasks:\n%s", got, len(s.tasks), s)
	}
	for _, task := range s.tasks {
		if task.DesiredState != model.TaskStateComplete {
			t.Fatalf("a completed task's desired state is %s, want complete", task.DesiredState)
		}
	}
}

func TestJobFailuresAreRetriedWithinThePolicy(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	// Condition any acts as on-failure: a failure is retried, up to
	// MaxAttempts, and a completion is final.
	spec := replicatedJob("flaky", 1, 1)
	spec.Task.Restart.MaxAttempts = 2
	id := w.createService(spec)
	failAndWait(w, id)
	failAndWait(w, id)
	w.waitFor(id, "second retry running", func(s *snap) bool { return len(s.running()) == 1 })
	w.completeRunning(id)
	w.settle()
	s := w.get(id)
	if len(s.tasks) != 3 || len(s.complete()) != 1 || len(s.runnable()) != 0 {
		t.Fatalf("want 2 failures and a completion, nothing more:\n%s", s)
	}

	spec = replicatedJob("broken", 1, 1)
	spec.Task.Restart.MaxAttempts = 1
	id = w.createService(spec)
	failAndWait(w, id)
	failAndWait(w, id)
	w.settle()
	s = w.get(id)
	if len(s.tasks) != 2 || len(s.runnable()) != 0 || len(s.complete()) != 0 {
		t.Fatalf("want the run and one retry, both failed:\n%s", s)
	}
}

func TestGlobalJobRunsOncePerNodeIncludingLaterOnes(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(globalJob("migrate"))
	w.waitFor(id, "one per node", func(s *snap) bool { return len(s.running()) == 2 })
	w.completeRunning(id)
	w.settle()
	if s := w.get(id); len(s.tasks) != 2 || len(s.complete()) != 2 {
		t.Fatalf("after completion:\n%s", s)
	}
	w.addNode("n3")
	s := w.waitFor(id, "the new node's run", func(s *snap) bool { return len(s.running()) == 1 })
	if got := s.running()[0].NodeID; got != "n3" {
		t.Fatalf("the new run is on %s, want n3", got)
	}
	w.completeRunning(id)
	w.settle()
	s = w.get(id)
	if got := s.completeSlots(); !slices.Equal(got, []string{"n1", "n2", "n3"}) || len(s.tasks) != 3 {
		t.Fatalf("completed on %v, want each node once:\n%s", got, s)
	}
}

func TestJobUpdateStartsANewIteration(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicatedJob("etl", 2, 2))
	s := w.waitFor(id, "running", func(s *snap) bool { return len(s.running()) == 2 })
	first := s.svc.JobStatus
	if first == nil || first.JobIteration != s.svc.SpecVersion {
		t.Fatalf("job status %+v, spec version %d", first, s.svc.SpecVersion.Index)
	}
	w.reportTask(s.running()[0], model.TaskStateComplete, "")
	w.settle()
	old := w.get(id)

	w.updateService(id, func(sp *model.ServiceSpec) { sp.Task.Container.Image = "batch:2" })
	s = w.waitFor(id, "new iteration running", func(s *snap) bool {
		return len(s.running()) == 2 && len(s.upToDate()) == 2
	})
	if s.svc.JobStatus == nil || s.svc.JobStatus.JobIteration.Index <= first.JobIteration.Index {
		t.Fatalf("iteration %+v after the update, was %+v", s.svc.JobStatus, first)
	}
	w.settle()
	s = w.get(id)
	for _, task := range old.tasks {
		if cur := s.task(task.ID); cur != nil && cur.DesiredState.Wanted() {
			t.Fatalf("task %s of the old iteration is still wanted:\n%s", task.ID, s)
		}
	}
	if got := s.jobSlots(); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("new iteration's slots %v:\n%s", got, s)
	}
	w.completeRunning(id)
	w.settle()
	if got := w.get(id).completeSlots(); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("completed slots of the new iteration %v", got)
	}
}

func TestJobLeaderChangeDoesNotRepeatCompletedWork(t *testing.T) {
	w := newWorld(t, 3)
	w.moveSim(w.c.Followers()[0])
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	id := w.createService(replicatedJob("once", 2, 4))
	w.waitFor(id, "running", func(s *snap) bool { return len(s.running()) == 2 })
	w.completeRunning(id)
	w.waitFor(id, "next two running", func(s *snap) bool { return len(s.running()) == 2 && len(s.complete()) == 2 })
	w.settle()
	stopLeader(t, w)
	w.settle()
	s := w.get(id)
	if len(s.tasks) != 4 || len(s.complete()) != 2 || len(s.running()) != 2 {
		t.Fatalf("after the leader change:\n%s", s)
	}
	w.completeRunning(id)
	w.settle()
	s = w.get(id)
	if got := s.completeSlots(); !slices.Equal(got, []string{"0", "1", "2", "3"}) || len(s.tasks) != 4 {
		t.Fatalf("completed slots %v, want each of 0..3 once:\n%s", got, s)
	}
}
