package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// loop is one continuous watch of the store: from a snapshot, through every
// later change, until the context ends or the change feed must resync.
// Everything it holds is derived from the store; a new loop rebuilds it.
type loop struct {
	s   *Scheduler
	log *slog.Logger

	nodes    map[string]*NodeInfo
	nodeList []*NodeInfo // the values of nodes; nil after a node came or went
	// strategies holds each service's placement strategy: tasks do not
	// carry it.
	strategies map[string]model.PlacementStrategy

	// The pending tasks (state PENDING, desired RUNNING), by group.
	groups  map[groupKey]*pendingGroup
	pending map[string]*pendingTask // by task ID

	// assumed lists the pending tasks the last pass placed. Their
	// placements (pendingTask.assumedOn) count on their nodes until the
	// change feed shows the tasks, and the next pass takes back those the
	// store refused. unconfirmed counts the entries still assumed; the
	// list is emptied when none is.
	assumed     []*pendingTask
	unconfirmed int

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
}

type groupKey struct {
	serviceID   string
	specVersion uint64
}

// pendingGroup is the pending tasks of one service at one spec version: the unit
// PlaceTasks works on.
type pendingGroup struct {
	key     groupKey
	tasks   []*model.Task
	entries []*pendingTask // entries[i] is tasks[i]'s
	dirty   bool
}

// pendingTask is where a pending task is kept, so that the change feed's
// news of it costs one lookup by ID: its group and position, and the
// assumption of the last pass.
type pendingTask struct {
	group *pendingGroup
	pos   int // in group.tasks and group.entries
	// assumedOn is the node the last pass placed the task on, until the
	// change feed shows what became of it; nil otherwise.
	assumedOn *NodeInfo
}

func newLoop(s *Scheduler) *loop {
	return &loop{
		s:          s,
		log:        s.log,
		nodes:      map[string]*NodeInfo{},
		strategies: map[string]model.PlacementStrategy{},
		groups:     map[groupKey]*pendingGroup{},
		pending:    map[string]*pendingTask{},
	}
}

// run watches the store and schedules until ctx ends (returning its error)
// or the watcher fails (state.ErrResync).
func (t *loop) run(ctx context.Context) error {
	w, err := t.s.store.ViewAndWatch(t.seed, state.WithFilter(relevant))
	if err != nil {
		return err
	}
	defer w.Close()

	clk := t.s.cfg.Clock
	var timer clock.Timer
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
				timer = clock.TimerAt(clk, next)
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
func (t *loop) drain(w *state.Watcher) error {
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
func (t *loop) want(now time.Time) {
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
func (t *loop) nextPass() time.Time {
	if t.due.IsZero() {
		return time.Time{}
	}
	if t.retryAt.After(t.due) {
		return t.retryAt
	}
	return t.due
}

// seed reads the snapshot the loop starts from.
func (t *loop) seed(tx state.ReadTx) error {
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
	err = tx.ForEachTask(state.All, func(task *model.Task) bool {
		if isPending(task) {
			t.addPending(task)
			return true
		}
		if ni := t.nodes[task.NodeID]; ni != nil {
			ni.AddTask(task)
			// The failures of the previous loop still count: a new
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
func isPending(t *model.Task) bool {
	return t.Status.State == model.TaskStatePending && t.DesiredState.Wanted()
}

func failed(s model.TaskState) bool {
	return s == model.TaskStateFailed || s == model.TaskStateRejected
}

// observe applies a batch of changes to the NodeInfos and pending groups,
// and notes whether it is worth a pass.
func (t *loop) observe(b state.Batch) {
	t.growPending(b.Events)
	for _, ev := range b.Events {
		switch o := ev.Object.(type) {
		case *model.Node:
			t.observeNode(ev.Action, o)
		case *model.Service:
			if ev.Action == state.ActionDelete {
				delete(t.strategies, o.ID)
			} else {
				t.strategies[o.ID] = o.Spec.Strategy
			}
		case *model.Task:
			old, _ := ev.Old.(*model.Task)
			t.observeTask(ev.Action, o, old)
		}
	}
}

func (t *loop) observeNode(action state.Action, n *model.Node) {
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

func (t *loop) observeTask(action state.Action, task *model.Task, old *model.Task) {
	id := task.ID
	var e *pendingTask
	if action != state.ActionCreate {
		// A created task is new to the feed, as any earlier task with its
		// ID was deleted on it: it is not pending yet.
		e = t.pending[id]
	}
	if e != nil && e.assumedOn != nil {
		// The feed shows what became of a placement of the last pass:
		// unless it shows the task assigned there, take it back.
		placedOn := e.assumedOn
		t.unassume(e)
		if ni := t.nodes[placedOn.node.ID]; ni != nil {
			switch {
			case action == state.ActionDelete || !ni.occupies(task):
				ni.RemoveTask(id)
			case ni == placedOn && task.DesiredState.Wanted():
				// The node recorded the task, active, when the pass
				// placed it: all that is left is to stop placing it.
				t.removePending(id, e)
				return
			}
		}
	}
	if action == state.ActionDelete {
		t.removePending(id, e)
		if ni := t.nodes[task.NodeID]; ni != nil && ni.RemoveTask(id) {
			t.retry()
		}
		return
	}
	if isPending(task) {
		if e != nil {
			e.group.tasks[e.pos] = task // a newer message
		} else {
			t.addPending(task)
		}
		return
	}
	t.removePending(id, e)
	ni := t.nodes[task.NodeID]
	if ni == nil {
		return
	}
	if had, changed := ni.addTask(task); had && changed {
		// A recorded task changed: it ended or was told to stop, and
		// the node has room again.
		t.retry()
	}
	if old != nil && old.Status.State != task.Status.State && failed(task.Status.State) {
		ni.TaskFailed(task.ServiceID, t.s.cfg.Clock.Now())
	}
}

// retry makes the next pass place every pending group again.
func (t *loop) retry() {
	if len(t.pending) > 0 {
		t.retryAll = true
		t.changed = true
	}
}

func (t *loop) addPending(task *model.Task) {
	key := groupKey{serviceID: task.ServiceID, specVersion: task.SpecVersion.Index}
	g := t.groups[key]
	if g == nil {
		g = &pendingGroup{key: key}
		t.groups[key] = g
	}
	e := &pendingTask{group: g, pos: len(g.tasks)}
	g.tasks = append(g.tasks, task)
	g.entries = append(g.entries, e)
	g.dirty = true
	t.pending[task.ID] = e
	t.changed = true
}

// growPending makes room for the tasks events create, which are pending
// unless they wait for networks: the orchestrator's write of 100,000 tasks
// grows the map of pending tasks once.
func (t *loop) growPending(events []state.Event) {
	created := 0
	for i := range events {
		if events[i].Action == state.ActionCreate {
			if _, ok := events[i].Object.(*model.Task); ok {
				created++
			}
		}
	}
	if created <= len(t.pending) {
		return
	}
	m := make(map[string]*pendingTask, len(t.pending)+created)
	maps.Copy(m, t.pending)
	t.pending = m
}

// removePending forgets the pending task with this ID, kept in e (nil if
// the task is not pending). Its placement must not be assumed.
func (t *loop) removePending(id string, e *pendingTask) {
	if e == nil {
		return
	}
	delete(t.pending, id)
	g := e.group
	i, last := e.pos, len(g.tasks)-1
	if i != last {
		g.tasks[i], g.entries[i] = g.tasks[last], g.entries[last]
		g.entries[i].pos = i
	}
	g.tasks[last], g.entries[last] = nil, nil
	g.tasks, g.entries = g.tasks[:last], g.entries[:last]
	if last == 0 {
		delete(t.groups, g.key)
	}
}

// assume records that the pass placed the pending task of e on the node.
func (t *loop) assume(e *pendingTask, ni *NodeInfo) {
	e.assumedOn = ni
	t.assumed = append(t.assumed, e)
	t.unconfirmed++
}

// unassume ends the assumption of e.
func (t *loop) unassume(e *pendingTask) {
	e.assumedOn = nil
	if t.unconfirmed--; t.unconfirmed == 0 {
		clear(t.assumed)
		t.assumed = t.assumed[:0]
	}
}

func (t *loop) nodeSlice() []*NodeInfo {
	if t.nodeList == nil {
		t.nodeList = slices.Collect(maps.Values(t.nodes))
	}
	return t.nodeList
}

// pass places the dirty groups, or all of them, and writes every decision
// in one command.
func (t *loop) pass(ctx context.Context) {
	cfg := &t.s.cfg
	start := cfg.Clock.Now()
	t.firstChange, t.due = time.Time{}, time.Time{}

	// Placements of the last pass that the feed did not confirm were
	// refused by the store (the node is gone): take them back and place
	// those tasks again.
	for _, e := range t.assumed {
		if e.assumedOn == nil {
			continue
		}
		if ni := t.nodes[e.assumedOn.node.ID]; ni != nil {
			ni.RemoveTask(e.group.tasks[e.pos].ID)
		}
		e.group.dirty = true
		e.assumedOn = nil
	}
	clear(t.assumed)
	t.assumed, t.unconfirmed = t.assumed[:0], 0

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
		ds, err := t.placeGroup(g, nodes, Options{Strategy: strategy, Now: start})
		if err != nil {
			// Only a strategy the API should have refused, or a bug one
			// service's tasks trigger, gets here: the group stays pending
			// with the reason, the other groups are placed.
			t.log.Error("cannot place tasks", "service", g.key.serviceID, "err", err)
			msg := noSuitableNode(fmt.Sprintf("unknown placement strategy %q", strategy))
			if errors.Is(err, errPlacementPanic) {
				msg = noSuitableNode(err.Error())
			}
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
			assignments = append(assignments, state.Assignment{TaskID: d.Task.ID, NodeID: d.NodeID})
		}
		// The tasks count on their nodes at once, for the next group.
		t.recordPlacements(g, ds)
	}
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

// recordPlacements assumes the placements of a group's decisions (ds[i]
// is g.tasks[i]'s) and counts the tasks on their nodes, as AddTask of each
// task assigned there would. It counts node by node: a spread batch hands
// tasks to every node in turn, and the task maps of a thousand NodeInfos
// do not stay in the cache from one task to the next, while a node's map
// stays for all of its own tasks.
func (t *loop) recordPlacements(g *pendingGroup, ds []Decision) {
	// Number the nodes, and count each one's placements.
	slot := make(map[*NodeInfo]int32)
	var nodes []*NodeInfo
	var starts []int32 // counts first, then where each node's run starts
	nodeOf := make([]int32, len(ds))
	placed := 0
	for i := range ds {
		d := &ds[i]
		if !d.Placed() {
			nodeOf[i] = -1
			continue
		}
		ni := t.nodes[d.NodeID]
		k, ok := slot[ni]
		if !ok {
			k = int32(len(nodes))
			slot[ni] = k
			nodes = append(nodes, ni)
			starts = append(starts, 0)
		}
		nodeOf[i] = k
		starts[k]++
		placed++
		t.assume(g.entries[i], ni)
	}
	if placed == 0 {
		return
	}
	run := int32(0)
	for k, n := range starts {
		starts[k], run = run, run+n
	}
	// Sort the placements by node, with what each task takes.
	type placement struct {
		id    string
		use   taskUse
		ports []hostPort
	}
	byNode := make([]placement, placed)
	next := slices.Clone(starts)
	for i, k := range nodeOf {
		if k >= 0 {
			p := &byNode[next[k]]
			p.id = ds[i].Task.ID
			p.use, p.ports = useOf(ds[i].Task)
			next[k]++
		}
	}
	for k, ni := range nodes {
		ni.grow(int(next[k] - starts[k]))
		for _, p := range byNode[starts[k]:next[k]] {
			ni.recordUse(p.id, p.use, p.ports)
		}
	}
}

// write proposes a pass's command. On failure it schedules the retry.
func (t *loop) write(ctx context.Context, cmd *state.Command, assignments int) error {
	cfg := &t.s.cfg
	wctx, cancel := context.WithTimeout(ctx, cfg.ProposeTimeout)
	res, err := t.s.proposer.Propose(wctx, cmd)
	cancel()
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.writeFailures++
		wait := clock.Backoff(cfg.RetryBackoff, cfg.MaxRetryBackoff, t.writeFailures)
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
func (t *loop) undo(placed []state.Assignment, groups []*pendingGroup) {
	for _, a := range placed {
		if ni := t.nodes[a.NodeID]; ni != nil {
			ni.RemoveTask(a.TaskID)
		}
		if e := t.pending[a.TaskID]; e != nil && e.assumedOn != nil {
			t.unassume(e)
		}
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
	case *model.Task:
		if ev.Action != state.ActionUpdate {
			return true
		}
		old := ev.Old.(*model.Task)
		return old.Status.State != o.Status.State || old.DesiredState != o.DesiredState ||
			old.NodeID != o.NodeID || (isPending(o) && old.Status.Message != o.Status.Message)
	case *model.Node:
		if ev.Action != state.ActionUpdate {
			return true
		}
		return nodeChanged(ev.Old.(*model.Node), o)
	case *model.Service:
		if ev.Action != state.ActionUpdate {
			return true
		}
		return ev.Old.(*model.Service).Spec.Strategy != o.Spec.Strategy
	}
	return false
}

// nodeChanged tells whether a node update changes anything a filter or a
// preference reads.
func nodeChanged(old, n *model.Node) bool {
	return old.Status.State != n.Status.State ||
		old.Spec.Availability != n.Spec.Availability ||
		old.Role != n.Role ||
		!maps.Equal(old.Spec.Labels, n.Spec.Labels) ||
		old.Description.Hostname != n.Description.Hostname ||
		old.Description.Platform != n.Description.Platform ||
		old.Description.Resources != n.Description.Resources ||
		!maps.Equal(old.Description.Engine.Labels, n.Description.Engine.Labels)
}

// placeTasks is PlaceTasks; tests replace it to make one group's placement
// fail.
var placeTasks = PlaceTasks

// errPlacementPanic marks a placement that panicked.
var errPlacementPanic = errors.New("internal error while placing the tasks")

// placeGroup places one group, turning a panic into an error: a bug that
// one service's tasks trigger must not take the scheduler down, nor the
// manager with it, on every pass.
func (t *loop) placeGroup(g *pendingGroup, nodes []*NodeInfo, opts Options) (ds []Decision, err error) {
	defer func() {
		if v := recover(); v != nil {
			t.log.Error("panic while placing a service's tasks; they stay pending",
				"service", g.key.serviceID, "panic", v, "stack", string(debug.Stack()))
			ds, err = nil, fmt.Errorf("%w: %v", errPlacementPanic, v)
		}
	}()
	return placeTasks(g.tasks, nodes, opts)
}
