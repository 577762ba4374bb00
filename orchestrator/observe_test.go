package orchestrator

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// storeProposer applies commands to a store at increasing indexes, as a
// single manager's Raft log would.
type storeProposer struct {
	mu    sync.Mutex
	store *state.Store
}

func (p *storeProposer) Propose(_ context.Context, cmd *state.Command) (state.Results, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.store.Apply(state.Entry{Index: p.store.Index() + 1, Cmd: cmd})[0], nil
}

// stepper drives a loop by hand: rounds, and the change feed into observe,
// so that a test sees what each change makes dirty.
type stepper struct {
	t    *testing.T
	tm   *loop
	prop *storeProposer
	w    *state.Watcher
}

func newStepper(t *testing.T) *stepper {
	store := state.NewStore()
	prop := &storeProposer{store: store}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	st := &stepper{t: t, prop: prop}
	for _, n := range []struct {
		id    string
		avail model.Availability
	}{{"n1", model.AvailabilityActive}, {"n2", model.AvailabilityDrain}} {
		st.apply(state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: n.id, Role: model.RoleWorker,
			Spec:   model.NodeSpec{DesiredRole: model.RoleWorker, Availability: n.avail},
			Status: model.NodeStatus{State: model.NodeStateReady}}})
	}
	spec := model.ServiceSpec{
		Annotations: model.Annotations{Name: "web"},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "app:1"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 3}},
		Update:      &model.UpdateConfig{Parallelism: 1, Order: model.UpdateOrderStartFirst},
	}
	st.apply(state.Op{Type: state.OpCreateService, Service: &model.Service{ID: "web", Spec: spec}})
	st.tm = newLoop(New(store, prop, cfg))
	w, err := store.ViewAndWatch(st.tm.seed, state.WithFilter(relevant))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	st.w = w
	return st
}

func (st *stepper) apply(ops ...state.Op) {
	st.t.Helper()
	res, err := st.prop.Propose(context.Background(), &state.Command{Time: time.Now(), Ops: ops})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		st.t.Fatal(err)
	}
}

// observe feeds the changes so far to the loop and returns the services
// they made dirty.
func (st *stepper) observe() []string {
	st.t.Helper()
	batches, err := st.w.Drain()
	if err != nil {
		st.t.Fatal(err)
	}
	for _, b := range batches {
		st.tm.observe(b)
	}
	return slices.Sorted(maps.Keys(st.tm.dirty))
}

// settle runs rounds until no service is dirty.
func (st *stepper) settle() {
	st.t.Helper()
	for range 10 {
		st.tm.round(context.Background())
		if len(st.observe()) == 0 {
			return
		}
	}
	st.t.Fatal("rounds never settled")
}

func (st *stepper) tasks(keep func(*model.Task) bool) []*model.Task {
	var out []*model.Task
	_ = st.prop.store.View(func(tx state.ReadTx) error {
		all, _ := tx.FindTasks(state.ByServiceID("web"))
		for _, t := range all {
			if keep(t) {
				out = append(out, t)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *model.Task) int { return int(a.Slot) - int(b.Slot) })
	return out
}

func pending(t *model.Task) bool { return t.Status.State == model.TaskStatePending }

func (st *stepper) assign(tasks []*model.Task, node string) {
	var as []state.Assignment
	for _, t := range tasks {
		as = append(as, state.Assignment{TaskID: t.ID, NodeID: node})
	}
	st.apply(state.Op{Type: state.OpAssignTasks, Assignments: as})
}

func (st *stepper) report(tasks []*model.Task, s model.TaskState) {
	var us []model.TaskStatusUpdate
	for _, t := range tasks {
		us = append(us, model.TaskStatusUpdate{TaskID: t.ID, Status: model.TaskStatus{Timestamp: time.Now(), State: s}})
	}
	st.apply(state.Op{Type: state.OpTaskStatus, ID: tasks[0].NodeID, TaskStatuses: us})
}

// A steady service is not looked at again while its tasks are assigned,
// start and run: only when one ends.
func TestProgressOfASteadyServiceTriggersNoRound(t *testing.T) {
	st := newStepper(t)
	st.settle()
	tasks := st.tasks(pending)
	if len(tasks) != 3 {
		t.Fatalf("%d pending tasks, want 3", len(tasks))
	}
	st.assign(tasks, "n1")
	if got := st.observe(); len(got) != 0 {
		t.Fatalf("assignment to a usable node made %v dirty", got)
	}
	tasks = st.tasks(func(*model.Task) bool { return true })
	for _, s := range []model.TaskState{model.TaskStateAccepted, model.TaskStateStarting, model.TaskStateRunning} {
		st.report(tasks, s)
		if got := st.observe(); len(got) != 0 {
			t.Fatalf("tasks reporting %s made %v dirty", s, got)
		}
	}
	if len(st.tm.runningAt) != 3 {
		t.Fatalf("%d tasks seen running, want 3", len(st.tm.runningAt))
	}
	st.report(tasks[:1], model.TaskStateFailed)
	if got := st.observe(); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("a task that failed made %v dirty, want web", got)
	}
}

// A task the scheduler put on a node it cannot count on (drained here; or
// down, or deleted, after the round that created it) must be replaced: its
// assignment makes the service dirty.
func TestAssignmentToAnUnusableNodeTriggersARound(t *testing.T) {
	st := newStepper(t)
	st.settle()
	st.assign(st.tasks(pending)[:1], "n2")
	if got := st.observe(); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("assignment to a drained node made %v dirty, want web", got)
	}
}

// While an update runs, the progress of the new tasks drives it: a task
// that runs lets the start-first replacement stop the old one.
func TestProgressDuringAnUpdateTriggersRounds(t *testing.T) {
	st := newStepper(t)
	st.settle()
	st.assign(st.tasks(pending), "n1")
	st.report(st.tasks(func(*model.Task) bool { return true }), model.TaskStateRunning)
	st.settle()

	var svc *model.Service
	_ = st.prop.store.View(func(tx state.ReadTx) error { svc = tx.GetService("web").Copy(); return nil })
	prev := svc.Spec.Copy()
	svc.Spec.Task.Container.Image = "app:2"
	svc.PreviousSpec, svc.PreviousSpecVersion = &prev, svc.SpecVersion
	st.apply(state.Op{Type: state.OpUpdateService, Service: svc, Version: svc.Version.Index})
	st.settle()
	if !st.tm.follow["web"] {
		t.Fatal("the service is not followed during its update")
	}
	fresh := st.tasks(pending)
	if len(fresh) != 1 {
		t.Fatalf("%d new tasks, want 1 (parallelism 1, start-first)", len(fresh))
	}
	st.assign(fresh, "n1")
	if got := st.observe(); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("assignment during an update made %v dirty, want web", got)
	}
	st.settle()
	fresh = st.tasks(func(t *model.Task) bool { return t.ID == fresh[0].ID }) // now on n1
	st.report(fresh, model.TaskStateRunning)
	if got := st.observe(); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("a new task running during an update made %v dirty, want web", got)
	}
	st.settle()
	stopped := st.tasks(func(t *model.Task) bool {
		return t.Slot == fresh[0].Slot && t.DesiredState == model.TaskStateShutdown
	})
	if len(stopped) != 1 {
		t.Fatalf("%d old tasks asked to stop in slot %d once the new one runs, want 1", len(stopped), fresh[0].Slot)
	}
}

// A start-first pair is followed whatever started it (an update since
// paused, a rebalancing since turned off): the old task stops only once
// the new one runs.
func TestSettleFollowsAStartFirstPair(t *testing.T) {
	for _, tt := range []struct {
		newest model.TaskState
		follow bool
	}{{model.TaskStateStarting, true}, {model.TaskStateRunning, false}} {
		s := &slot{num: 1, live: []*model.Task{
			task("old", 6, model.TaskStateRunning, model.TaskStateRunning, time.Hour, 0),
			task("new", 7, model.TaskStateRunning, tt.newest, time.Minute, 0),
		}}
		p := newPlan("s", &model.Service{ID: "s"}, 100)
		s.settle(p, nil)
		if p.follow != tt.follow {
			t.Errorf("newest task %s: follow %v, want %v", tt.newest, p.follow, tt.follow)
		}
	}
}

func TestProgressOnly(t *testing.T) {
	base := task("a", 7, model.TaskStateRunning, model.TaskStateAssigned, time.Hour, 0)
	with := func(mod func(*model.Task)) *model.Task { c := *base; mod(&c); return &c }
	tests := []struct {
		name string
		cur  *model.Task
		want bool
	}{
		{"accepted", with(func(t *model.Task) { t.Status.State = model.TaskStateAccepted }), true},
		{"running", with(func(t *model.Task) { t.Status.State = model.TaskStateRunning }), true},
		{"failed", with(func(t *model.Task) { t.Status.State = model.TaskStateFailed }), false},
		{"same state", with(func(t *model.Task) { t.Status.Message = "x" }), false},
		{"back to pending", with(func(t *model.Task) { t.Status.State = model.TaskStatePending }), false},
		{"desired shutdown", with(func(t *model.Task) {
			t.Status.State, t.DesiredState = model.TaskStateRunning, model.TaskStateShutdown
		}), false},
		{"moved node", with(func(t *model.Task) { t.Status.State, t.NodeID = model.TaskStateRunning, "n9" }), false},
	}
	for _, tt := range tests {
		if got := progressOnly(base, tt.cur); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	unassigned := with(func(t *model.Task) { t.Status.State, t.NodeID = model.TaskStatePending, "" })
	if !progressOnly(unassigned, base) {
		t.Error("assignment of a pending task is progress")
	}
}
