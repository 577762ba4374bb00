package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/scheduler"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// raft.Node is what the manager hands the orchestrator.
var _ state.Proposer = (*raft.Node)(nil)

const waitTimeout = 10 * time.Second

// world is a rafttest cluster whose members each run an orchestrator in
// their OnLeader hook, plus a simulated scheduler and agents (sim) that
// drive the real store through Raft as those components would.
type world struct {
	t     *testing.T
	c     *rafttest.Cluster
	clock *testutil.FakeClock
	sim   *sim
}

func testLogger(t *testing.T, id string) *slog.Logger {
	return testutil.Logger(t, slog.LevelInfo).With("manager", id)
}

// newWorld starts managers, waits for a leader, creates the cluster object
// and starts the simulation on the member simOn returns (the leader if nil).
func newWorld(t *testing.T, managers int, opts ...func(*orchestrator.Config)) *world {
	t.Helper()
	return newWorldWith(t, managers, nil, opts...)
}

// newWorldWith is newWorld with the orchestrators' proposer wrapped.
func newWorldWith(t *testing.T, managers int, wrap func(*rafttest.Member) state.Proposer, opts ...func(*orchestrator.Config)) *world {
	t.Helper()
	w := &world{t: t, clock: testutil.NewFakeClock()}
	w.c = rafttest.New(t, managers, func(c *rafttest.Cluster) {
		c.OnStart = func(m *rafttest.Member) {
			cfg := orchestrator.DefaultConfig()
			cfg.Clock = w.clock
			cfg.Logger = testLogger(t, m.ID)
			for _, o := range opts {
				o(&cfg)
			}
			var prop state.Proposer = m.Node
			if wrap != nil {
				prop = wrap(m)
			}
			o := orchestrator.New(m.Store, prop, cfg)
			m.Node.OnLeader(func(ctx context.Context) {
				if err := o.Run(ctx); err != nil {
					t.Errorf("orchestrator on %s: %v", m.ID, err)
				}
			})
		}
	})
	leader := w.c.Leader(waitTimeout)
	w.sim = startSim(t, leader, w.clock)
	spec := model.DefaultClusterSpec()
	w.propose(state.Op{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: model.NewID(), Spec: spec}})
	return w
}

// moveSim restarts the simulation on another member.
func (w *world) moveSim(m *rafttest.Member) {
	w.sim.stop()
	w.sim = startSim(w.t, m, w.clock)
}

// propose writes through the simulation's member, as an API call would.
func (w *world) propose(ops ...state.Op) state.Results {
	w.t.Helper()
	res, err := w.tryPropose(ops...)
	if err != nil {
		w.t.Fatalf("propose %v: %v", ops[0].Type, err)
	}
	return res
}

func (w *world) tryPropose(ops ...state.Op) (state.Results, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := w.sim.member.Node.Propose(ctx, &state.Command{Time: w.clock.Now(), Ops: ops})
	if err != nil {
		return nil, err
	}
	return res, res.Err()
}

// read reads the simulation member's store after a linearizable barrier.
func (w *world) read(fn func(tx state.ReadTx)) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.sim.member.Node.ReadBarrier(ctx); err != nil {
		w.t.Fatalf("read barrier: %v", err)
	}
	_ = w.sim.member.Store.View(func(tx state.ReadTx) error { fn(tx); return nil })
}

// ---------------------------------------------------------------------------
// API calls

func (w *world) addNode(id string, mods ...func(*model.Node)) {
	w.t.Helper()
	n := &model.Node{
		ID:          id,
		Spec:        model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
		Role:        model.RoleWorker,
		Description: model.NodeDescription{Hostname: id, Platform: model.Platform{OS: "linux", Architecture: "amd64"}},
		Status:      model.NodeStatus{State: model.NodeStateReady},
	}
	for _, m := range mods {
		m(n)
	}
	w.propose(state.Op{Type: state.OpCreateNode, Node: n})
}

func (w *world) setNodeState(id string, s model.NodeState) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{ID: id, Status: model.NodeStatus{State: s}}}})
}

// updateNode changes a node's spec as `docker node update` does.
func (w *world) updateNode(id string, mod func(*model.NodeSpec)) {
	w.t.Helper()
	w.retrySequence(func() error {
		var n *model.Node
		w.read(func(tx state.ReadTx) { n = tx.GetNode(id).Copy() })
		version := n.Version.Index
		mod(&n.Spec)
		_, err := w.tryPropose(state.Op{Type: state.OpUpdateNode, Node: n, Version: version})
		return err
	})
}

func (w *world) deleteNode(id string) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpDeleteNode, ID: id})
}

func (w *world) updateCluster(mod func(*model.ClusterSpec)) {
	w.t.Helper()
	w.retrySequence(func() error {
		var c *model.Cluster
		w.read(func(tx state.ReadTx) { c = tx.Cluster().Copy() })
		version := c.Version.Index
		mod(&c.Spec)
		_, err := w.tryPropose(state.Op{Type: state.OpUpdateCluster, Cluster: c, Version: version})
		return err
	})
}

func (w *world) retrySequence(fn func() error) {
	w.t.Helper()
	for range 20 {
		err := fn()
		if err == nil {
			return
		}
		if !errors.Is(err, state.ErrSequence) {
			w.t.Fatal(err)
		}
	}
	w.t.Fatal("update kept failing out of sequence")
}

func replicated(name string, replicas uint64) model.ServiceSpec {
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "app:1"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
	}
}

func global(name string) model.ServiceSpec {
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "agent:1"}},
		Mode:        model.ServiceMode{Global: &model.GlobalService{}},
	}
}

func (w *world) createService(spec model.ServiceSpec) string {
	w.t.Helper()
	id := model.NewID()
	w.propose(state.Op{Type: state.OpCreateService, Service: &model.Service{ID: id, Spec: spec}})
	return id
}

// updateService changes a service's spec as the API does: the old spec is
// kept for rollback and UpdateStatus is reset.
func (w *world) updateService(id string, mod func(*model.ServiceSpec)) {
	w.t.Helper()
	w.retrySequence(func() error {
		var s *model.Service
		w.read(func(tx state.ReadTx) { s = tx.GetService(id).Copy() })
		version := s.Version.Index
		prev := s.Spec.Copy()
		mod(&s.Spec)
		s.PreviousSpec, s.PreviousSpecVersion = &prev, s.SpecVersion
		s.UpdateStatus = nil
		_, err := w.tryPropose(state.Op{Type: state.OpUpdateService, Service: s, Version: version})
		return err
	})
}

// rollbackService asks for a rollback as `docker service rollback` does.
func (w *world) rollbackService(id string) {
	w.t.Helper()
	w.retrySequence(func() error {
		var s *model.Service
		w.read(func(tx state.ReadTx) { s = tx.GetService(id).Copy() })
		version := s.Version.Index
		cur := s.Spec.Copy()
		s.Spec, s.PreviousSpec = s.PreviousSpec.Copy(), &cur
		s.PreviousSpecVersion = s.SpecVersion
		now := w.clock.Now()
		s.UpdateStatus = &model.UpdateStatus{State: model.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
		_, err := w.tryPropose(state.Op{Type: state.OpUpdateService, Service: s, Version: version})
		return err
	})
}

func (w *world) deleteService(id string) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpDeleteService, ID: id})
}

// reportTask reports a task's status as its node's agent would.
func (w *world) reportTask(task *model.Task, s model.TaskState, errMsg string) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpTaskStatus, ID: task.NodeID, TaskStatuses: []model.TaskStatusUpdate{{
		TaskID: task.ID, Status: model.TaskStatus{Timestamp: w.clock.Now(), State: s, Err: errMsg},
	}}})
}

// ---------------------------------------------------------------------------
// Reading and waiting

// snap is a read of one service's tasks.
type snap struct {
	svc   *model.Service
	tasks []*model.Task
	nodes map[string]*model.Node
}

func (w *world) snapshot(tx state.ReadTx, id string) *snap {
	s := &snap{svc: tx.GetService(id), nodes: map[string]*model.Node{}}
	s.tasks, _ = tx.FindTasks(state.ByServiceID(id))
	slices.SortFunc(s.tasks, func(a, b *model.Task) int {
		if a.Slot != b.Slot {
			return int(a.Slot) - int(b.Slot)
		}
		if a.NodeID != b.NodeID {
			return strings.Compare(a.NodeID, b.NodeID)
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	nodes, _ := tx.FindNodes(state.All)
	for _, n := range nodes {
		s.nodes[n.ID] = n
	}
	return s
}

// runnable tells whether a task is wanted and not terminated.
func runnable(t *model.Task) bool {
	return t.DesiredState.Wanted() && t.Status.State <= model.TaskStateRunning
}

func (s *snap) filter(fn func(*model.Task) bool) []*model.Task {
	var out []*model.Task
	for _, t := range s.tasks {
		if fn(t) {
			out = append(out, t)
		}
	}
	return out
}

// runnable returns the service's wanted, not terminated tasks.
func (s *snap) runnable() []*model.Task { return s.filter(runnable) }

// running returns the runnable tasks that run.
func (s *snap) running() []*model.Task {
	return s.filter(func(t *model.Task) bool { return runnable(t) && t.Status.State == model.TaskStateRunning })
}

// upToDate returns the running tasks made from the current spec.
func (s *snap) upToDate() []*model.Task {
	return s.filter(func(t *model.Task) bool {
		return runnable(t) && t.Status.State == model.TaskStateRunning && model.TaskUpToDate(t, s.svc)
	})
}

// slots returns the slots (or nodes) of the runnable tasks, sorted.
func (s *snap) slots() []string {
	var out []string
	for _, t := range s.runnable() {
		if t.Slot != 0 {
			out = append(out, fmt.Sprint(t.Slot))
		} else {
			out = append(out, t.NodeID)
		}
	}
	slices.Sort(out)
	return out
}

// perNode counts the running tasks per node.
func (s *snap) perNode() map[string]int {
	out := map[string]int{}
	for _, t := range s.running() {
		out[t.NodeID]++
	}
	return out
}

func (s *snap) status() model.UpdateState {
	if s.svc == nil || s.svc.UpdateStatus == nil {
		return ""
	}
	return s.svc.UpdateStatus.State
}

func (s *snap) String() string {
	var b strings.Builder
	if s.svc != nil {
		fmt.Fprintf(&b, "service %s spec v%d status %+v\n", s.svc.Spec.Name, s.svc.SpecVersion.Index, s.svc.UpdateStatus)
	}
	for _, t := range s.tasks {
		fmt.Fprintf(&b, "  %s slot=%d node=%s desired=%s state=%s spec=v%d image=%s created=%s ts=%s\n",
			t.ID[:6], t.Slot, t.NodeID, t.DesiredState, t.Status.State, t.SpecVersion.Index,
			t.Spec.Container.Image, t.CreatedAt.Format("15:04:05"), t.Status.Timestamp.Format("15:04:05"))
	}
	return b.String()
}

// waitFor waits until cond holds for service id, checking after every
// change of the simulation member's store.
func (w *world) waitFor(id, desc string, cond func(*snap) bool) *snap {
	w.t.Helper()
	store := w.sim.member.Store
	var last *snap
	check := func(tx state.ReadTx) error {
		last = w.snapshot(tx, id)
		return nil
	}
	watch, err := store.ViewAndWatch(check)
	if err != nil {
		w.t.Fatal(err)
	}
	defer watch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for !cond(last) {
		if _, err := watch.Next(ctx); err != nil {
			w.t.Fatalf("waiting for %s: %v; last seen:\n%s", desc, err, last)
		}
		_ = store.View(check)
	}
	return last
}

// afterMonitor moves the clock over an update's monitor period (Docker's
// default, 5 s) and waits for cond. The orchestrator arms its monitor
// timer once it has seen the last batch's tasks run, which may come after
// the test saw them: a timer armed after the move would wait for the next
// one, so the clock moves again until cond holds.
func (w *world) afterMonitor(id, desc string, cond func(*snap) bool) *snap {
	w.t.Helper()
	store := w.sim.member.Store
	deadline := time.Now().Add(waitTimeout)
	var last *snap
	for {
		w.clock.Advance(5 * time.Second)
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			_ = store.View(func(tx state.ReadTx) error { last = w.snapshot(tx, id); return nil })
			if cond(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("waiting for %s: clock moved over the monitor period, nothing happened; last seen:\n%s", desc, last)
		}
	}
}

// waitTicking is waitFor for a change that a timer due now makes: the
// orchestrator may arm it (at a time already past) only after the test
// moved the clock, so the clock fires the due timers again and again,
// without moving, until cond holds.
func (w *world) waitTicking(id, desc string, cond func(*snap) bool) *snap {
	w.t.Helper()
	store := w.sim.member.Store
	deadline := time.Now().Add(waitTimeout)
	var last *snap
	for {
		_ = store.View(func(tx state.ReadTx) error { last = w.snapshot(tx, id); return nil })
		if cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("waiting for %s: nothing happened; last seen:\n%s", desc, last)
		}
		w.clock.Advance(0)
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the store has not changed for a while: the
// orchestrator and the simulation have nothing left to do until the clock
// moves. It is how tests check that something does not happen.
func (w *world) settle() {
	w.t.Helper()
	store := w.sim.member.Store
	deadline := time.Now().Add(waitTimeout)
	idx := store.Index()
	quietSince := time.Now()
	for time.Since(quietSince) < 150*time.Millisecond {
		if time.Now().After(deadline) {
			w.t.Fatal("store never settled")
		}
		time.Sleep(10 * time.Millisecond)
		if i := store.Index(); i != idx {
			idx, quietSince = i, time.Now()
		}
	}
}

func (w *world) get(id string) *snap {
	w.t.Helper()
	var s *snap
	w.read(func(tx state.ReadTx) { s = w.snapshot(tx, id) })
	return s
}

// ---------------------------------------------------------------------------
// Simulated scheduler and agents

// sim plays the scheduler (assigns pending tasks: pinned ones to their
// node, others to the ready, active, matching node with the fewest running
// tasks of the service) and the agents of ready nodes (start assigned
// tasks, stop tasks asked to stop, fail tasks of failing images). It reacts
// to the change feed of one member's store and writes through that
// member's node.
type sim struct {
	t      *testing.T
	member *rafttest.Member
	clock  *testutil.FakeClock

	mu         sync.Mutex
	failImages map[string]bool // tasks of these images fail as they start
	frozen     map[string]bool // nodes whose agents report nothing

	poke   chan struct{} // makes the simulation look again
	cancel context.CancelFunc
	done   chan struct{}
}

func startSim(t *testing.T, m *rafttest.Member, clock *testutil.FakeClock) *sim {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sim{t: t, member: m, clock: clock, failImages: map[string]bool{}, frozen: map[string]bool{},
		poke: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	t.Cleanup(s.stop)
	return s
}

func (s *sim) stop() {
	s.cancel()
	<-s.done
}

func (s *sim) failImage(image string, fail bool) {
	s.mu.Lock()
	s.failImages[image] = fail
	s.mu.Unlock()
}

// freeze makes a node's agent silent (its tasks stay as they are).
func (s *sim) freeze(node string, frozen bool) {
	s.mu.Lock()
	s.frozen[node] = frozen
	s.mu.Unlock()
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *sim) run(ctx context.Context) {
	defer close(s.done)
	watch := s.member.Store.Watch()
	defer watch.Close()
	for {
		ops := s.step()
		if len(ops) > 0 {
			pctx, cancel := context.WithTimeout(ctx, waitTimeout)
			_, err := s.member.Node.Propose(pctx, &state.Command{Time: s.clock.Now(), Ops: ops})
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.t.Logf("sim: %v", err)
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.poke:
		case <-watch.Ready():
			if _, err := watch.Drain(); err != nil {
				watch.Close()
				watch = s.member.Store.Watch()
			}
		}
	}
}

// step decides the scheduler's and agents' writes from the current store.
func (s *sim) step() []state.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var assign []state.Assignment
	reports := map[string][]model.TaskStatusUpdate{}
	_ = s.member.Store.View(func(tx state.ReadTx) error {
		nodes, _ := tx.FindNodes(state.All)
		slices.SortFunc(nodes, func(a, b *model.Node) int { return strings.Compare(a.ID, b.ID) })
		byID := map[string]*model.Node{}
		for _, n := range nodes {
			byID[n.ID] = n
		}
		tasks, _ := tx.FindTasks(state.All)
		load := map[string]map[string]int{} // service -> node -> tasks
		for _, t := range tasks {
			if t.NodeID != "" && runnable(t) && t.Status.State >= model.TaskStateAssigned {
				if load[t.ServiceID] == nil {
					load[t.ServiceID] = map[string]int{}
				}
				load[t.ServiceID][t.NodeID]++
			}
		}
		for _, t := range tasks {
			n := byID[t.NodeID]
			switch {
			case t.Status.State == model.TaskStatePending && t.DesiredState.Wanted():
				if target := s.place(t, n, nodes, load); target != "" {
					assign = append(assign, state.Assignment{TaskID: t.ID, NodeID: target})
				}
			case n == nil || n.Status.State != model.NodeStateReady || s.frozen[n.ID]:
				// No agent to report.
			case t.Status.State < model.TaskStateAssigned || t.Status.State > model.TaskStateRunning:
			case !t.DesiredState.Wanted():
				reports[n.ID] = append(reports[n.ID], model.TaskStatusUpdate{TaskID: t.ID,
					Status: model.TaskStatus{Timestamp: now, State: model.TaskStateShutdown, Message: "shutdown"}})
			case t.Status.State < model.TaskStateRunning:
				st := model.TaskStatus{Timestamp: now, State: model.TaskStateRunning, Message: "started"}
				if s.failImages[t.Spec.Container.Image] {
					st = model.TaskStatus{Timestamp: now, State: model.TaskStateFailed, Err: "task: non-zero exit (1)"}
				}
				reports[n.ID] = append(reports[n.ID], model.TaskStatusUpdate{TaskID: t.ID, Status: st})
			}
		}
		return nil
	})
	var ops []state.Op
	if len(assign) > 0 {
		ops = append(ops, state.Op{Type: state.OpAssignTasks, Assignments: assign})
	}
	for _, id := range slices.Sorted(maps.Keys(reports)) {
		ops = append(ops, state.Op{Type: state.OpTaskStatus, ID: id, TaskStatuses: reports[id]})
	}
	return ops
}

// place picks a node for a pending task: spread over the ready, active
// nodes that satisfy its constraints.
func (s *sim) place(t *model.Task, pinned *model.Node, nodes []*model.Node, load map[string]map[string]int) string {
	if t.NodeID != "" {
		if pinned != nil && pinned.Status.State == model.NodeStateReady && pinned.Spec.Availability == model.AvailabilityActive {
			return pinned.ID
		}
		return ""
	}
	cons, err := scheduler.ParseConstraints(t.Spec.Placement.Constraints)
	if err != nil {
		return ""
	}
	best := ""
	for _, n := range nodes {
		if n.Status.State != model.NodeStateReady || n.Spec.Availability != model.AvailabilityActive {
			continue
		}
		ok := true
		for _, c := range cons {
			ok = ok && c.Matches(n)
		}
		if ok && (best == "" || load[t.ServiceID][n.ID] < load[t.ServiceID][best]) {
			best = n.ID
		}
	}
	if best != "" {
		if load[t.ServiceID] == nil {
			load[t.ServiceID] = map[string]int{}
		}
		load[t.ServiceID][best]++
	}
	return best
}
