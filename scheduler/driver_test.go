package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// What the store-driven tests share: a driver that writes nodes, services
// and tasks as the API, the dispatcher and the orchestrator would, through
// the same proposer the scheduler uses, and waits for what the scheduler
// does.

const waitTimeout = 15 * time.Second

// directProposer applies each command to the store itself, with the next
// index, as a one-manager Raft log would. It can be told to fail.
type directProposer struct {
	store *state.Store

	mu       sync.Mutex
	failures int   // the next failures proposals fail
	failErr  error // with this error
	// assigned records, for each successful command with assignments,
	// how many it held.
	assigned []int
	attempts int
	// before, if set, runs before each command is applied, with the
	// proposer's lock held: a test's way to make a change race a pass.
	before func()
}

var _ state.Proposer = (*directProposer)(nil)

func (p *directProposer) Propose(_ context.Context, cmd *state.Command) (state.Results, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts++
	if p.failures > 0 {
		p.failures--
		return nil, p.failErr
	}
	if p.before != nil {
		p.before()
	}
	res := p.store.Apply(state.Entry{Index: p.store.Index() + 1, Cmd: cmd})[0]
	for _, op := range cmd.Ops {
		if op.Type == state.OpAssignTasks {
			p.assigned = append(p.assigned, len(op.Assignments))
		}
	}
	return res, nil
}

func (p *directProposer) failNext(n int, err error) {
	p.mu.Lock()
	p.failures, p.failErr = n, err
	p.mu.Unlock()
}

// stats returns the number of proposals and the sizes of the assignment
// commands so far.
func (p *directProposer) stats() (attempts int, assigned []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts, append([]int(nil), p.assigned...)
}

// driver writes to and reads from a store through a proposer.
type driver struct {
	t       testing.TB
	propose func(context.Context, *state.Command) (state.Results, error)
	// store returns the store to read, which sees every write once
	// propose returns.
	store func() *state.Store
	now   func() time.Time
}

func (d *driver) must(ops ...state.Op) state.Results {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := d.propose(ctx, &state.Command{Time: d.now(), Ops: ops})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		d.t.Fatalf("propose %s: %v", ops[0].Type, err)
	}
	return res
}

func (d *driver) view(fn func(tx state.ReadTx)) {
	_ = d.store().View(func(tx state.ReadTx) error { fn(tx); return nil })
}

func (d *driver) addNode(n *model.Node) {
	d.t.Helper()
	d.must(state.Op{Type: state.OpCreateNode, Node: n})
}

// setNodeState sets a node's status as the dispatcher does.
func (d *driver) setNodeState(id string, s model.NodeState) {
	d.t.Helper()
	d.must(state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{ID: id, Status: model.NodeStatus{State: s}}}})
}

// updateNode changes a node as `docker node update` does.
func (d *driver) updateNode(id string, mod func(*model.Node)) {
	d.t.Helper()
	var n *model.Node
	d.view(func(tx state.ReadTx) { n = tx.GetNode(id).Copy() })
	version := n.Version.Index
	mod(n)
	d.must(state.Op{Type: state.OpUpdateNode, Node: n, Version: version})
}

// createService creates a service and returns it as stored.
func (d *driver) createService(spec model.ServiceSpec) *model.Service {
	d.t.Helper()
	id := model.NewID()
	d.must(state.Op{Type: state.OpCreateService, Service: &model.Service{ID: id, Spec: spec}})
	var s *model.Service
	d.view(func(tx state.ReadTx) { s = tx.GetService(id) })
	return s
}

// createTasks creates n tasks of a replicated service, in one write, with
// slots from first on, and returns their IDs.
func (d *driver) createTasks(s *model.Service, first, n int) []string {
	d.t.Helper()
	ids := make([]string, n)
	nts := make([]state.NewTask, n)
	for i := range nts {
		ids[i] = fmt.Sprintf("%s.%d", s.Spec.Name, first+i)
		nts[i] = state.NewTask{ID: ids[i], Slot: uint64(first + i)}
	}
	d.must(state.Op{Type: state.OpCreateTasks, ID: s.ID, SpecVersion: s.SpecVersion.Index, NewTasks: nts})
	return ids
}

// createGlobalTasks creates one task of a global service per node, pinned.
func (d *driver) createGlobalTasks(s *model.Service, nodeIDs ...string) []string {
	d.t.Helper()
	ids := make([]string, len(nodeIDs))
	nts := make([]state.NewTask, len(nodeIDs))
	for i, n := range nodeIDs {
		ids[i] = s.Spec.Name + "." + n
		nts[i] = state.NewTask{ID: ids[i], NodeID: n}
	}
	d.must(state.Op{Type: state.OpCreateTasks, ID: s.ID, SpecVersion: s.SpecVersion.Index, NewTasks: nts})
	return ids
}

// reportTask sets a task's observed state as its node's agent would.
func (d *driver) reportTask(id string, s model.TaskState) {
	d.t.Helper()
	var task *model.Task
	d.view(func(tx state.ReadTx) { task = tx.GetTask(id) })
	d.must(state.Op{Type: state.OpTaskStatus, ID: task.NodeID, TaskStatuses: []model.TaskStatusUpdate{
		{TaskID: id, Status: model.TaskStatus{Timestamp: d.now(), State: s}},
	}})
}

// waitFor waits until cond holds on the store.
func (d *driver) waitFor(what string, cond func(tx state.ReadTx) bool) {
	d.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok := false
		d.view(func(tx state.ReadTx) { ok = cond(tx) })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s; tasks:\n%s", what, d.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitTasks waits until every task in ids satisfies cond.
func (d *driver) waitTasks(what string, ids []string, cond func(*model.Task) bool) []*model.Task {
	d.t.Helper()
	var out []*model.Task
	d.waitFor(what, func(tx state.ReadTx) bool {
		out = out[:0]
		for _, id := range ids {
			t := tx.GetTask(id)
			if t == nil || !cond(t) {
				return false
			}
			out = append(out, t)
		}
		return true
	})
	return out
}

func (d *driver) task(id string) *model.Task {
	var t *model.Task
	d.view(func(tx state.ReadTx) { t = tx.GetTask(id) })
	return t
}

func (d *driver) dump() string {
	var b strings.Builder
	d.view(func(tx state.ReadTx) {
		n := 0
		_ = tx.ForEachTask(state.All, func(t *model.Task) bool {
			if n++; n > 40 {
				b.WriteString("  ...\n")
				return false
			}
			fmt.Fprintf(&b, "  %s node=%q %s %q\n", t.ID, t.NodeID, t.Status.State, t.Status.Message)
			return true
		})
	})
	return b.String()
}

func assigned(t *model.Task) bool { return t.Status.State == model.TaskStateAssigned }

func pendingWith(msg string) func(*model.Task) bool {
	return func(t *model.Task) bool {
		return t.Status.State == model.TaskStatePending && t.Status.Message == msg
	}
}

// perNode counts tasks by node.
func perNode(tasks []*model.Task) map[string]int {
	m := map[string]int{}
	for _, t := range tasks {
		m[t.NodeID]++
	}
	return m
}

// replicatedSpec is a service spec of the test image.
func replicatedSpec(name string, replicas uint64, opts ...func(*model.ServiceSpec)) model.ServiceSpec {
	spec := model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demoapp"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
	}
	for _, o := range opts {
		o(&spec)
	}
	return spec
}

func globalSpec(name string, opts ...func(*model.ServiceSpec)) model.ServiceSpec {
	spec := replicatedSpec(name, 0, opts...)
	spec.Mode = model.ServiceMode{Global: &model.GlobalService{}}
	return spec
}

func reserveMemory(bytes int64) func(*model.ServiceSpec) {
	return func(s *model.ServiceSpec) { s.Task.Resources.Reservations.MemoryBytes = bytes }
}

// testLogger sends logs to t.Log.
func testLogger(t testing.TB, level slog.Level, attrs ...any) *slog.Logger {
	return testutil.Logger(t, level).With(attrs...)
}

// recordedPasses is a Metrics that keeps every pass.
type recordedPasses struct {
	mu     sync.Mutex
	passes []PassStats
}

func (r *recordedPasses) ObservePass(s *PassStats) {
	r.mu.Lock()
	r.passes = append(r.passes, *s)
	r.mu.Unlock()
}

func (r *recordedPasses) all() []PassStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]PassStats(nil), r.passes...)
}
