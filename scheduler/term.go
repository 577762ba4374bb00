package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/state"
)

// term is one continuous watch of the store: from a snapshot, through every
// later change, until the context ends or the change feed must resync.
// Everything it holds is derived from the store; a new term rebuilds it.
type term struct {
	s   *Scheduler
	log *slog.Logger

	nodes    map[string]*NodeInfo
	nodeList []*NodeInfo // the values of nodes; nil after a node came or went
	// strategies holds each service's placement strategy: tasks do not
	// carry it.
	strategies map[string]state.PlacementStrategy

	// The pending tasks (state PENDING, desired RUNNING), by group.
	groups  map[groupKey]*pendingGroup
	pending map[string]*pendingGroup // task ID -> its group

	// assumed holds the placements of the last pass, by task ID, until
	// the change feed shows the task: they count on their nodes already,
	// and the next pass takes back those the store refused.
	assumed map[string]string

	// What the next pass must place: the dirty groups, or every group
	// when retryAll is set (a node became usable, resources were freed).
	retryAll bool
	// changed is set while a batch of changes is observed if it holds a
	// change worth a pass.
	changed bool
	// firstChange is when the oldest change not yet handled by a pass
	// arrived, due when the pass should start; both zero when no pass is
	// wanted.
	firstChange, due time.Time

	// writeFailures counts the failed writes in a row; no pass starts
	// before retryAt.
	writeFailures int
	retryAt       time.Time

	// scratch is the task given to NodeInfo.AddTask for a placement, so
	// that a pass of 100,000 tasks copies none: AddTask keeps no
	// reference to it.
	scratch state.Task
}

type groupKey struct {
	serviceID   string
	specVersion uint64
}

// pendingGroup is the pending tasks of one service at one spec version: the unit
// PlaceTasks works on.
type pendingGroup struct {
	key   groupKey
	tasks []*state.Task
	index map[string]int // task ID -> position in tasks
	dirty bool
}

func newTerm(s *Scheduler) *term {
	return &term{
		s:          s,
		log:        s.log,
		nodes:      map[string]*NodeInfo{},
		strategies: map[string]state.PlacementStrategy{},
		groups:     map[groupKey]*pendingGroup{},
		pending:    map[string]*pendingGroup{},
		assumed:    map[string]string{},
	}
}

// run watches the store and schedules until ctx ends (returning its error)
// or the watcher fails (state.ErrResync).
func (t *term) run(ctx context.Context) error {
	w, err := t.s.store.ViewAndWatch(t.seed, state.WithFilter(relevant))
	if err != nil {
		return err
	}
	defer w.Close()

	clock := t.s.cfg.Clock
	var timer Timer
	var timerC <-chan time.Time
	var timerAt time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if next := t.nextPass(); !next.Equal(timerAt) {
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
			timerAt = next
			if !next.IsZero() {
				timer = clock.NewTimer(max(next.Sub(clock.Now()), 0))
				timerC = timer.C()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Ready():
			if err := t.drain(w); err != nil {
				return err
			}
		case <-timerC:
			timer, timerC, timerAt = nil, nil, time.Time{}
			// A pass sees every change committed so far, its own
			// previous write included.
			if err := t.drain(w); err != nil {
				return err
			}
			t.pass(ctx)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// drain observes the batches the watcher holds.
func (t *term) drain(w *state.Watcher) error {
	batches, err := w.Drain()
	if err != nil {
		return err
	}
	for _, b := range batches {
		t.observe(b)
	}
	if t.changed {
		t.changed = false
		t.want(t.s.cfg.Clock.Now())
	}
	return nil
}

// want asks for a pass Debounce from now, no later than MaxDelay after the
// first change it has not handled yet.
func (t *term) want(now time.Time) {
	cfg := &t.s.cfg
	if t.firstChange.IsZero() {
		t.firstChange = now
	}
	t.due = now.Add(cfg.Debounce)
	if last := t.firstChange.Add(cfg.MaxDelay); t.due.After(last) {
		t.due = last
	}
}

// nextPass returns when the next pass starts, or zero if none is wanted.
func (t *term) nextPass() time.Time {
	if t.due.IsZero() {
		return time.Time{}
	}
	if t.retryAt.After(t.due) {
		return t.retryAt
	}
	return t.due
}

// seed reads the snapshot the term starts from.
func (t *term) seed(tx state.ReadTx) error {
	nodes, err := tx.FindNodes(state.All)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		t.nodes[n.ID] = NewNodeInfo(n)
	}
	services, err := tx.FindServices(state.All)
	if err != nil {
		return err
	}
	for _, s := range services {
		t.strategies[s.ID] = s.Spec.Strategy
	}
	now := t.s.cfg.Clock.Now()
	err = tx.ForEachTask(state.All, func(task *state.Task) bool {
		if isPending(task) {
			t.addPending(task)
			return true
		}
		if ni := t.nodes[task.NodeID]; ni != nil {
			ni.AddTask(task)
			// The failures of the previous term still count: a new
			// leader keeps avoiding a node where tasks keep failing.
			if failed(task.Status.State) && now.Sub(task.Status.Timestamp) < FailureWindow {
				ni.TaskFailed(task.ServiceID, task.Status.Timestamp)
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	t.retryAll, t.changed = true, false
	if len(t.pending) > 0 {
		t.want(now)
	}
	t.log.Info("scheduling", "index", tx.Index(), "nodes", len(t.nodes), "pending", len(t.pending), "groups", len(t.groups))
	return nil
}

// isPending tells whether the scheduler must place t.
func isPending(t *state.Task) bool {
	return t.Status.State == state.TaskStatePending && t.DesiredState == state.TaskStateRunning
}

func failed(s state.TaskState) bool {
	return s == state.TaskStateFailed || s == state.TaskStateRejected
}

// observe applies a batch of changes to the NodeInfos and pending groups,
// and notes whether it is worth a pass.
func (t *term) observe(b state.Batch) {
	for _, ev := range b.Events {
		switch o := ev.Object.(type) {
		case *state.Node:
			t.observeNode(ev.Action, o)
		case *state.Service:
			if ev.Action == state.ActionDelete {
				delete(t.strategies, o.ID)
			} else {
				t.strategies[o.ID] = o.Spec.Strategy
			}
		case *state.Task:
			old, _ := ev.Old.(*state.Task)
			t.observeTask(ev.Action, o, old)
		}
	}
}

func (t *term) observeNode(action state.Action, n *state.Node) {
	switch ni := t.nodes[n.ID]; {
	case action == state.ActionDelete:
		delete(t.nodes, n.ID)
		t.nodeList = nil
	case ni != nil:
		ni.SetNode(n)
	default:
		t.nodes[n.ID] = NewNodeInfo(n)
		t.nodeList = nil
	}
	// The watch filter let through only changes the filters see: the
	// node may now take a pending task, and if not, the explanations
	// of the pending tasks count it differently.
	t.retry()
}

func (t *term) observeTask(action state.Action, task *state.Task, old *state.Task) {
	id := task.ID
	if nodeID, ok := t.assumed[id]; ok {
		// The feed shows what became of a placement of the last pass:
		// unless it shows the task assigned there, take it back.
		delete(t.assumed, id)
		if ni := t.nodes[nodeID]; ni != nil && (action == state.ActionDelete || !ni.occupies(task)) {
			ni.RemoveTask(id)
		}
	}
	if action == state.ActionDelete {
		t.removePending(id)
		if ni := t.nodes[task.NodeID]; ni != nil && ni.RemoveTask(id) {
			t.retry()
		}
		return
	}
	if isPending(task) {
		if g := t.pending[id]; g != nil {
			g.tasks[g.index[id]] = task // a newer message
		} else {
			t.addPending(task)
		}
		return
	}
	t.removePending(id)
	ni := t.nodes[task.NodeID]
	if ni == nil {
		return
	}
	_, had := ni.tasks[id]
	if ni.AddTask(task) && had {
		// A recorded task changed: it ended or was told to stop, and
		// the node has room again.
		t.retry()
	}
	if old != nil && old.Status.State != task.Status.State && failed(task.Status.State) {
		ni.TaskFailed(task.ServiceID, t.s.cfg.Clock.Now())
	}
}

// retry makes the next pass place every pending group again.
func (t *term) retry() {
	if len(t.pending) > 0 {
		t.retryAll = true
		t.changed = true
	}
}

func (t *term) addPending(task *state.Task) {
	key := groupKey{serviceID: task.ServiceID, specVersion: task.SpecVersion.Index}
	g := t.groups[key]
	if g == nil {
		g = &pendingGroup{key: key, index: map[string]int{}}
		t.groups[key] = g
	}
	g.index[task.ID] = len(g.tasks)
	g.tasks = append(g.tasks, task)
	g.dirty = true
	t.pending[task.ID] = g
	t.changed = true
}

func (t *term) removePending(id string) {
	g := t.pending[id]
	if g == nil {
		return
	}
	delete(t.pending, id)
	i, last := g.index[id], len(g.tasks)-1
	delete(g.index, id)
	if i != last {
		moved := g.tasks[last]
		g.tasks[i] = moved
		g.index[moved.ID] = i
	}
	g.tasks[last] = nil
	g.tasks = g.tasks[:last]
	if len(g.tasks) == 0 {
		delete(t.groups, g.key)
	}
}

func (t *term) nodeSlice() []*NodeInfo {
	if t.nodeList == nil {
		t.nodeList = slices.Collect(maps.Values(t.nodes))
	}
	return t.nodeList
}

// pass places the dirty groups, or all of them, and writes every decision
// in one command.
func (t *term) pass(ctx context.Context) {
	cfg := &t.s.cfg
	start := cfg.Clock.Now()
	t.firstChange, t.due = time.Time{}, time.Time{}

	// Placements of the last pass that the feed did not confirm were
	// refused by the store (the node is gone): take them back and place
	// those tasks again.
	for id, nodeID := range t.assumed {
		if ni := t.nodes[nodeID]; ni != nil {
			ni.RemoveTask(id)
		}
		if g := t.pending[id]; g != nil {
			g.dirty = true
		}
		delete(t.assumed, id)
	}

	var groups []*pendingGroup
	for _, g := range t.groups {
		if g.dirty || t.retryAll {
			g.dirty = false
			groups = append(groups, g)
		}
	}
	t.retryAll = false
	if len(groups) == 0 {
		return
	}
	// Groups are placed one after the other, each seeing the tasks the
	// earlier ones placed: a fixed order makes a pass reproducible.
	slices.SortFunc(groups, func(a, b *pendingGroup) int {
		return cmp.Or(cmp.Compare(a.key.serviceID, b.key.serviceID), cmp.Compare(a.key.specVersion, b.key.specVersion))
	})

	stats := PassStats{Groups: len(groups)}
	nodes := t.nodeSlice()
	size := 0
	for _, g := range groups {
		size += len(g.tasks)
	}
	assignments := make([]state.Assignment, 0, size)
	var reasons []state.PendingReason
	for _, g := range groups {
		strategy := t.strategies[g.key.serviceID]
		ds, err := PlaceTasks(g.tasks, nodes, Options{Strategy: strategy, Now: start})
		if err != nil {
			// Only a strategy the API should have refused gets here.
			t.log.Error("cannot place tasks", "service", g.key.serviceID, "err", err)
			msg := noSuitableNode(fmt.Sprintf("unknown placement strategy %q", strategy))
			ds = make([]Decision, len(g.tasks))
			for i, task := range g.tasks {
				ds[i] = Decision{Task: task, Err: msg}
			}
		}
		for _, d := range ds {
			if !d.Placed() {
				stats.Unplaceable++
				if d.Err != d.Task.Status.Message {
					reasons = append(reasons, state.PendingReason{TaskID: d.Task.ID, Message: d.Err})
				}
				continue
			}
			// The task counts on its node at once, for the next group.
			t.scratch = *d.Task
			t.scratch.NodeID = d.NodeID
			t.scratch.Status.State = state.TaskStateAssigned
			t.nodes[d.NodeID].AddTask(&t.scratch)
			t.assumed[d.Task.ID] = d.NodeID
			assignments = append(assignments, state.Assignment{TaskID: d.Task.ID, NodeID: d.NodeID})
		}
	}
	t.scratch = state.Task{}
	stats.Placed, stats.Explained = len(assignments), len(reasons)

	if len(assignments) > 0 || len(reasons) > 0 {
		var ops []state.Op
		if len(assignments) > 0 {
			ops = append(ops, state.Op{Type: state.OpAssignTasks, Assignments: assignments})
		}
		if len(reasons) > 0 {
			ops = append(ops, state.Op{Type: state.OpTaskPending, Pending: reasons})
		}
		writeStart := cfg.Clock.Now()
		stats.Err = t.write(ctx, &state.Command{Time: start.UTC(), Ops: ops}, len(assignments))
		stats.Write = cfg.Clock.Now().Sub(writeStart)
		if stats.Err != nil {
			t.undo(assignments, groups)
		}
	}
	stats.Duration = cfg.Clock.Now().Sub(start)
	if cfg.Metrics != nil {
		cfg.Metrics.ObservePass(&stats)
	}
	t.log.Debug("pass", "groups", stats.Groups, "placed", stats.Placed, "unplaceable", stats.Unplaceable,
		"explained", stats.Explained, "duration", stats.Duration, "write", stats.Write, "err", stats.Err)
}

// write proposes a pass's command. On failure it schedules the retry.
func (t *term) write(ctx context.Context, cmd *state.Command, assignments int) error {
	cfg := &t.s.cfg
	wctx, cancel := context.WithTimeout(ctx, cfg.ProposeTimeout)
	res, err := t.s.proposer.Propose(wctx, cmd)
	cancel()
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.writeFailures++
		wait := backoff(cfg.RetryBackoff, cfg.MaxRetryBackoff, t.writeFailures)
		now := cfg.Clock.Now()
		t.retryAt = now.Add(wait)
		t.want(now)
		if ctx.Err() == nil {
			t.log.Warn("writing placements failed; retrying", "err", err, "retry_in", wait)
		}
		return fmt.Errorf("scheduler: writing placements: %w", err)
	}
	t.writeFailures, t.retryAt = 0, time.Time{}
	if assignments > 0 && (len(res) == 0 || res[0].Applied < assignments) {
		// The store skipped assignments (a task or node changed
		// meanwhile): once the feed has shown why, place again what is
		// still pending.
		t.want(cfg.Clock.Now())
	}
	return nil
}

// undo takes back the placements of a pass whose write failed and marks
// its groups for the retry.
func (t *term) undo(placed []state.Assignment, groups []*pendingGroup) {
	for _, a := range placed {
		if ni := t.nodes[a.NodeID]; ni != nil {
			ni.RemoveTask(a.TaskID)
		}
		delete(t.assumed, a.TaskID)
	}
	for _, g := range groups {
		g.dirty = true
	}
}

// relevant drops the changes no placement depends on, so that heartbeats
// and agents' status messages do not reach the scheduler. It runs on the
// store's writer goroutine and must stay cheap.
func relevant(ev state.Event) bool {
	switch o := ev.Object.(type) {
	case *state.Task:
		if ev.Action != state.ActionUpdate {
			return true
		}
		old := ev.Old.(*state.Task)
		return old.Status.State != o.Status.State || old.DesiredState != o.DesiredState ||
			old.NodeID != o.NodeID || (isPending(o) && old.Status.Message != o.Status.Message)
	case *state.Node:
		if ev.Action != state.ActionUpdate {
			return true
		}
		return nodeChanged(ev.Old.(*state.Node), o)
	case *state.Service:
		if ev.Action != state.ActionUpdate {
			return true
		}
		return ev.Old.(*state.Service).Spec.Strategy != o.Spec.Strategy
	}
	return false
}

// nodeChanged tells whether a node update changes anything a filter or a
// preference reads.
func nodeChanged(old, n *state.Node) bool {
	return old.Status.State != n.Status.State ||
		old.Spec.Availability != n.Spec.Availability ||
		old.Role != n.Role ||
		!maps.Equal(old.Spec.Labels, n.Spec.Labels) ||
		old.Description.Hostname != n.Description.Hostname ||
		old.Description.Platform != n.Description.Platform ||
		old.Description.Resources != n.Description.Resources ||
		!maps.Equal(old.Description.Engine.Labels, n.Description.Engine.Labels)
}
