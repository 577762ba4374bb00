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

	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/scheduler"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// raft.Node is what the manager hands the orchestrator.
var _ orchestrator.Proposer = (*raft.Node)(nil)

const waitTimeout = 10 * time.Second

// world is a rafttest cluster whose members each run an orchestrator in
// their OnLeader hook, plus a simulated scheduler and agents (sim) that
// drive the real store through Raft as those components would.
type world struct {
	t     *testing.T
	c     *rafttest.Cluster
	clock *fakeClock
	sim   *sim
}

func testLogger(t *testing.T, id string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("manager", id)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newWorld starts managers, waits for a leader, creates the cluster object
// and starts the simulation on the member simOn returns (the leader if nil).
func newWorld(t *testing.T, managers int, opts ...func(*orchestrator.Config)) *world {
	t.Helper()
	return newWorldWith(t, managers, nil, opts...)
}

// newWorldWith is newWorld with the orchestrators' proposer wrapped.
func newWorldWith(t *testing.T, managers int, wrap func(*rafttest.Member) orchestrator.Proposer, opts ...func(*orchestrator.Config)) *world {
	t.Helper()
	w := &world{t: t, clock: newFakeClock()}
	w.c = rafttest.New(t, managers, func(c *rafttest.Cluster) {
		c.OnStart = func(m *rafttest.Member) {
			cfg := orchestrator.DefaultConfig()
			cfg.Clock = w.clock
			cfg.Logger = testLogger(t, m.ID)
			for _, o := range opts {
				o(&cfg)
			}
			var prop orchestrator.Proposer = m.Node
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
	spec := state.DefaultClusterSpec()
	w.propose(state.Op{Type: state.OpCreateCluster, Cluster: &state.Cluster{ID: state.NewID(), Spec: spec}})
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

func (w *world) addNode(id string, mods ...func(*state.Node)) {
	w.t.Helper()
	n := &state.Node{
		ID:          id,
		Spec:        state.NodeSpec{DesiredRole: state.RoleWorker, Availability: state.AvailabilityActive},
		Role:        state.RoleWorker,
		Description: state.NodeDescription{Hostname: id, Platform: state.Platform{OS: "linux", Architecture: "amd64"}},
		Status:      state.NodeStatus{State: state.NodeStateReady},
	}
	for _, m := range mods {
		m(n)
	}
	w.propose(state.Op{Type: state.OpCreateNode, Node: n})
}

func (w *world) setNodeState(id string, s state.NodeState) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{ID: id, Status: state.NodeStatus{State: s}}}})
}

// updateNode changes a node's spec as `docker node update` does.
func (w *world) updateNode(id string, mod func(*state.NodeSpec)) {
	w.t.Helper()
	w.retrySequence(func() error {
		var n *state.Node
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

func (w *world) updateCluster(mod func(*state.ClusterSpec)) {
	w.t.Helper()
	w.retrySequence(func() error {
		var c *state.Cluster
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

func replicated(name string, replicas uint64) state.ServiceSpec {
	return state.ServiceSpec{
		Annotations: state.Annotations{Name: name},
		Task:        state.TaskSpec{Container: state.ContainerSpec{Image: "app:1"}},
		Mode:        state.ServiceMode{Replicated: &state.ReplicatedService{Replicas: replicas}},
	}
}

func global(name string) state.ServiceSpec {
	return state.ServiceSpec{
		Annotations: state.Annotations{Name: name},
		Task:        state.TaskSpec{Container: state.ContainerSpec{Image: "agent:1"}},
		Mode:        state.ServiceMode{Global: &state.GlobalService{}},
	}
}

func (w *world) createService(spec state.ServiceSpec) string {
	w.t.Helper()
	id := state.NewID()
	w.propose(state.Op{Type: state.OpCreateService, Service: &state.Service{ID: id, Spec: spec}})
	return id
}

// updateService changes a service's spec as the API does: the old spec is
// kept for rollback and UpdateStatus is reset.
func (w *world) updateService(id string, mod func(*state.ServiceSpec)) {
	w.t.Helper()
	w.retrySequence(func() error {
		var s *state.Service
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
		var s *state.Service
		w.read(func(tx state.ReadTx) { s = tx.GetService(id).Copy() })
		version := s.Version.Index
		cur := s.Spec.Copy()
		s.Spec, s.PreviousSpec = s.PreviousSpec.Copy(), &cur
		s.PreviousSpecVersion = s.SpecVersion
		now := w.clock.Now()
		s.UpdateStatus = &state.UpdateStatus{State: state.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
		_, err := w.tryPropose(state.Op{Type: state.OpUpdateService, Service: s, Version: version})
		return err
	})
}

func (w *world) deleteService(id string) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpDeleteService, ID: id})
}

// reportTask reports a task's status as its node's agent would.
func (w *world) reportTask(task *state.Task, s state.TaskState, errMsg string) {
	w.t.Helper()
	w.propose(state.Op{Type: state.OpTaskStatus, ID: task.NodeID, TaskStatuses: []state.TaskStatusUpdate{{
		TaskID: task.ID, Status: state.TaskStatus{Timestamp: w.clock.Now(), State: s, Err: errMsg},
	}}})
}

// ---------------------------------------------------------------------------
// Reading and waiting

// snap is a read of one service's tasks.
type snap struct {
	svc   *state.Service
	tasks []*state.Task
	nodes map[string]*state.Node
}

func (w *world) snapshot(tx state.ReadTx, id string) *snap {
	s := &snap{svc: tx.GetService(id), nodes: map[string]*state.Node{}}
	s.tasks, _ = tx.FindTasks(state.ByServiceID(id))
	slices.SortFunc(s.tasks, func(a, b *state.Task) int {
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
func runnable(t *state.Task) bool {
	return t.DesiredState <= state.TaskStateRunning && t.Status.State <= state.TaskStateRunning
}

func (s *snap) filter(fn func(*state.Task) bool) []*state.Task {
	var out []*state.Task
	for _, t := range s.tasks {
		if fn(t) {
			out = append(out, t)
		}
	}
	return out
}

// runnable returns the service's wanted, not terminated tasks.
func (s *snap) runnable() []*state.Task { return s.filter(runnable) }

// running returns the runnable tasks that run.
func (s *snap) running() []*state.Task {
	return s.filter(func(t *state.Task) bool { return runnable(t) && t.Status.State == state.TaskStateRunning })
}

// upToDate returns the running tasks made from the current spec.
func (s *snap) upToDate() []*state.Task {
	return s.filter(func(t *state.Task) bool {
		return runnable(t) && t.Status.State == state.TaskStateRunning && state.TaskUpToDate(t, s.svc)
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

func (s *snap) status() state.UpdateState {
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
	clock  *fakeClock

	mu         sync.Mutex
	failImages map[string]bool // tasks of these images fail as they start
	frozen     map[string]bool // nodes whose agents report nothing

	poke   chan struct{} // makes the simulation look again
	cancel context.CancelFunc
	done   chan struct{}
}

func startSim(t *testing.T, m *rafttest.Member, clock *fakeClock) *sim {
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
	reports := map[string][]state.TaskStatusUpdate{}
	_ = s.member.Store.View(func(tx state.ReadTx) error {
		nodes, _ := tx.FindNodes(state.All)
		slices.SortFunc(nodes, func(a, b *state.Node) int { return strings.Compare(a.ID, b.ID) })
		byID := map[string]*state.Node{}
		for _, n := range nodes {
			byID[n.ID] = n
		}
		tasks, _ := tx.FindTasks(state.All)
		load := map[string]map[string]int{} // service -> node -> tasks
		for _, t := range tasks {
			if t.NodeID != "" && runnable(t) && t.Status.State >= state.TaskStateAssigned {
				if load[t.ServiceID] == nil {
					load[t.ServiceID] = map[string]int{}
				}
				load[t.ServiceID][t.NodeID]++
			}
		}
		for _, t := range tasks {
			n := byID[t.NodeID]
			switch {
			case t.Status.State == state.TaskStatePending && t.DesiredState <= state.TaskStateRunning:
				if target := s.place(t, n, nodes, load); target != "" {
					assign = append(assign, state.Assignment{TaskID: t.ID, NodeID: target})
				}
			case n == nil || n.Status.State != state.NodeStateReady || s.frozen[n.ID]:
				// No agent to report.
			case t.Status.State < state.TaskStateAssigned || t.Status.State > state.TaskStateRunning:
			case t.DesiredState > state.TaskStateRunning:
				reports[n.ID] = append(reports[n.ID], state.TaskStatusUpdate{TaskID: t.ID,
					Status: state.TaskStatus{Timestamp: now, State: state.TaskStateShutdown, Message: "shutdown"}})
			case t.Status.State < state.TaskStateRunning:
				st := state.TaskStatus{Timestamp: now, State: state.TaskStateRunning, Message: "started"}
				if s.failImages[t.Spec.Container.Image] {
					st = state.TaskStatus{Timestamp: now, State: state.TaskStateFailed, Err: "task: non-zero exit (1)"}
				}
				reports[n.ID] = append(reports[n.ID], state.TaskStatusUpdate{TaskID: t.ID, Status: st})
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
func (s *sim) place(t *state.Task, pinned *state.Node, nodes []*state.Node, load map[string]map[string]int) string {
	if t.NodeID != "" {
		if pinned != nil && pinned.Status.State == state.NodeStateReady && pinned.Spec.Availability == state.AvailabilityActive {
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
		if n.Status.State != state.NodeStateReady || n.Spec.Availability != state.AvailabilityActive {
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
