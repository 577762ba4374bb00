package state

import (
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func testJob(id, name string, total uint64) *model.Service {
	s := testService(id, name, 0)
	s.Spec.Mode = model.ServiceMode{ReplicatedJob: &model.ReplicatedJob{MaxConcurrent: 1, TotalCompletions: total}}
	return s
}

// TestJobIterationFollowsEverySpecChange: a job's iteration starts at its
// creation and again at every change of its spec (a scale too), and is its
// spec version; its tasks want to complete; it cannot be rolled back nor
// become a service.
func TestJobIterationFollowsEverySpecChange(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateService, Service: testJob("j1", "batch", 2)})
	s := a.service("j1")
	if s.JobStatus == nil || s.JobStatus.JobIteration.Index != 1 || s.SpecVersion.Index != 1 || s.JobStatus.LastExecution.IsZero() {
		t.Fatalf("after create: job status %+v, spec version %d", s.JobStatus, s.SpecVersion.Index)
	}
	a.mustApply(Op{Type: OpCreateTasks, ID: "j1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t0", Slot: 0}}})
	if tk := a.task("t0"); tk.DesiredState != model.TaskStateComplete {
		t.Fatalf("job task desired %s, want complete", tk.DesiredState)
	}

	tests := []struct {
		name    string
		mod     func(*model.Service)
		newIter bool
		wantErr error
	}{
		{"unchanged", func(*model.Service) {}, false, nil},
		{"more completions", func(s *model.Service) { s.Spec.Mode.ReplicatedJob.TotalCompletions = 3 }, true, nil},
		{"label", func(s *model.Service) { s.Spec.Labels = map[string]string{"a": "b"} }, true, nil},
		{"image", func(s *model.Service) { s.Spec.Task.Container.Image = "demo:2" }, true, nil},
		{"to a service", func(s *model.Service) {
			s.Spec.Mode = model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}}
		}, false, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := a.service("j1")
			n := cur.Copy()
			tc.mod(n)
			err := a.apply(Op{Type: OpUpdateService, Service: n, Version: cur.Version.Index}).Err()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			got := a.service("j1")
			if moved := got.JobStatus.JobIteration != cur.JobStatus.JobIteration; moved != tc.newIter {
				t.Fatalf("iteration %d -> %d, want a new one: %v", cur.JobStatus.JobIteration.Index, got.JobStatus.JobIteration.Index, tc.newIter)
			}
			if got.JobStatus.JobIteration != got.SpecVersion {
				t.Fatalf("iteration %d is not the spec version %d", got.JobStatus.JobIteration.Index, got.SpecVersion.Index)
			}
		})
	}
	cur := a.service("j1")
	prev := cur.Spec.Copy()
	n := cur.Copy()
	n.PreviousSpec = &prev
	a.mustApply(Op{Type: OpUpdateService, Service: n, Version: cur.Version.Index})
	if err := a.apply(Op{Type: OpRollbackService, ID: "j1", SpecVersion: a.service("j1").SpecVersion.Index}).Err(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rollback of a job: %v, want refused", err)
	}
}
