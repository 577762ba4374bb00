package orchestrator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/internal/clock"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// recorder is a state.Proposer that records the commands and refuses the
// operations refuse says to.
type recorder struct {
	cmds   []*state.Command
	refuse func(op state.Op) bool
}

func (r *recorder) Propose(_ context.Context, cmd *state.Command) (state.Results, error) {
	r.cmds = append(r.cmds, cmd)
	res := make(state.Results, len(cmd.Ops))
	for i, op := range cmd.Ops {
		if r.refuse != nil && r.refuse(op) {
			res[i].Err = state.ErrConflict
		}
	}
	return res, nil
}

// shape describes the commands: per command, per operation, the service
// and the number of task changes.
func (r *recorder) shape() []string {
	var out []string
	for _, c := range r.cmds {
		s := ""
		for _, op := range c.Ops {
			s += fmt.Sprintf("%s:%s%d ", op.ID, op.Type, opChanges(op))
		}
		out = append(out, s)
	}
	return out
}

func testLoop(maxBatch int, prop state.Proposer) *loop {
	cfg := DefaultConfig()
	cfg.Clock = clock.Real()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.MaxBatch = maxBatch
	return newLoop(New(state.NewStore(), prop, cfg))
}

// creating returns a plan of service id creating n tasks.
func creating(id string, n int) *plan {
	p := newPlan(id, &model.Service{ID: id}, 1<<20)
	for i := range n {
		p.add(&slot{num: uint64(i + 1)})
	}
	return p
}

func TestCommitSplitsLargePlans(t *testing.T) {
	rec := &recorder{}
	tm := testLoop(4, rec)
	small, large, after := creating("a", 3), creating("b", 10), creating("c", 1)
	stopping := newPlan("d", &model.Service{ID: "d"}, 1<<20)
	stopping.stop(&model.Task{ID: "t1", DesiredState: model.TaskStateRunning}, "test")
	stopping.stop(&model.Task{ID: "t2", DesiredState: model.TaskStateRunning}, "test")
	tm.commit(t.Context(), t0, []*plan{small, large, after, stopping})
	want := []string{
		"a:create_tasks3 ", // b does not fit beside a: it starts a new command
		"b:create_tasks4 ", // b split in MaxBatch parts
		"b:create_tasks4 ",
		"b:create_tasks2 c:create_tasks1 ", // b's last part shared
		":set_tasks_desired2 ",             // d does not fit beside b and c
	}
	if got := rec.shape(); !slices.Equal(got, want) {
		t.Fatalf("commands\n%q\nwant\n%q", got, want)
	}
	// Every task of b is written once, in order.
	var ids []string
	for _, c := range rec.cmds {
		for _, op := range c.Ops {
			if op.ID == "b" {
				for _, nt := range op.NewTasks {
					ids = append(ids, nt.ID)
				}
			}
		}
	}
	var planned []string
	for _, nt := range large.create {
		planned = append(planned, nt.ID)
	}
	if !slices.Equal(ids, planned) {
		t.Fatalf("written %v, planned %v", ids, planned)
	}
}

// Once a part of a split plan is refused (the spec moved on), its later
// parts are not written: they would be refused too, each counting as one
// more refusal.
func TestCommitDropsTheRestOfARefusedPlan(t *testing.T) {
	rec := &recorder{refuse: func(op state.Op) bool { return op.ID == "b" }}
	tm := testLoop(4, rec)
	tm.commit(t.Context(), t0, []*plan{creating("b", 10), creating("c", 2)})
	want := []string{"b:create_tasks4 ", "c:create_tasks2 "}
	if got := rec.shape(); !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
	if c := tm.conflicts["b"]; c == nil || c.count != 1 {
		t.Fatalf("refusals of b: %+v, want 1", c)
	}
}

// A plan stops taking tasks once it is full, and makes no task for a slot
// it has no room for.
func TestPlanAddMakesNoTaskWithoutRoom(t *testing.T) {
	p := newPlan("s", &model.Service{ID: "s"}, 2)
	for i := range 5 {
		_, ok := p.add(&slot{num: uint64(i + 1)})
		if ok != (i < 2) {
			t.Fatalf("add %d: %v", i, ok)
		}
	}
	if len(p.create) != 2 || !p.full {
		t.Fatalf("%d tasks planned, full %v; want 2, full", len(p.create), p.full)
	}
}
