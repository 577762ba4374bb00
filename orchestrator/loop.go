package orchestrator

import (
	"context"
	"log/slog"
	"maps"
	"reflect"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// loop is one continuous watch of the store: from a snapshot, through every
// later change, until the context ends or the change feed must resync.
// Everything it holds is derived from the store or is a cache that a new
// loop rebuilds; the store is the only memory that outlives a loop.
type loop struct {
	o   *Orchestrator
	log *slog.Logger

	// What the next round must look at.
	dirty        map[string]bool // service IDs
	nodesChanged map[string]bool // node IDs: their tasks' services and every global service
	allDirty     bool            // cluster settings changed: every service
	rebalanceAll bool            // a node became eligible: every opted-in service

	// wakes holds when each service must be looked at again with no
	// change to it: restart delays, update delays and monitor periods.
	wakes map[string]time.Time
	// conflicts counts the failed operations in a row per service.
	conflicts map[string]*conflict
	// proposeFailures counts the whole writes failed in a row; no round
	// runs before retryAt.
	proposeFailures int
	retryAt         time.Time

	// runningAt is when each task was seen running first (its status
	// timestamp), to tell an early failure of an updated task from a late
	// one. endedBefore holds the tasks already terminated when the loop
	// began: how long they ran is not known.
	runningAt   map[string]time.Time
	endedBefore map[string]bool
	// ends remembers, per slot, the ends that count as restart attempts.
	ends map[restartKey]map[string]endRecord
	// rebalances holds the rebalancing in progress per service.
	rebalances map[string]*rebalance
	// follow holds the services whose last plan waits for tasks to
	// progress (an update, a rollback or a rebalancing in progress, a
	// start-first replacement): a task of theirs that starts or runs makes
	// them dirty. For the others only a task's end, or a change of its
	// desired state or node, does (see observe).
	follow map[string]bool
	// usable holds the nodes a replicated task still counts on (they
	// exist, are not down, not drained; replicatedUsable), as the change
	// feed last showed them: a task assigned to any other node must be
	// replaced, so its assignment makes its service dirty.
	usable map[string]bool
	// lastStamp is the latest command time used or task creation time
	// seen (see nextStamp).
	lastStamp time.Time
}

type conflict struct {
	count int
	until time.Time
}

func newLoop(o *Orchestrator) *loop {
	return &loop{
		o:            o,
		log:          o.log,
		dirty:        map[string]bool{},
		nodesChanged: map[string]bool{},
		wakes:        map[string]time.Time{},
		conflicts:    map[string]*conflict{},
		runningAt:    map[string]time.Time{},
		endedBefore:  map[string]bool{},
		ends:         map[restartKey]map[string]endRecord{},
		rebalances:   map[string]*rebalance{},
		follow:       map[string]bool{},
		usable:       map[string]bool{},
	}
}

// run watches the store and reconciles until ctx ends (returning its
// error) or the watcher fails (state.ErrResync).
func (t *loop) run(ctx context.Context) error {
	opts := []state.WatchOption{state.WithFilter(relevant)}
	if t.o.cfg.WatchLimit > 0 {
		opts = append(opts, state.WithLimit(t.o.cfg.WatchLimit))
	}
	w, err := t.o.store.ViewAndWatch(t.seed, opts...)
	if err != nil {
		return err
	}
	defer w.Close()

	var timer clock.Timer
	var timerC <-chan time.Time
	var timerAt time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		t.round(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if next := t.nextWake(); !next.Equal(timerAt) {
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
			timerAt = next
			if !next.IsZero() {
				timer = clock.TimerAt(t.o.cfg.Clock, next)
				timerC = timer.C()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Ready():
			batches, err := w.Drain()
			if err != nil {
				return err
			}
			for _, b := range batches {
				t.observe(b)
			}
		case <-timerC:
			timer, timerC, timerAt = nil, nil, time.Time{}
		}
	}
}

// nextWake returns when the loop must run a round with no event, or zero.
func (t *loop) nextWake() time.Time {
	var next time.Time
	for _, at := range t.wakes {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if len(t.dirty) > 0 || t.pendingFlags() {
		// Work is left over (a plan hit MaxBatch) or waits for the write
		// backoff to end.
		due := t.o.cfg.Clock.Now()
		if t.retryAt.After(due) {
			due = t.retryAt
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next
}

func (t *loop) pendingFlags() bool {
	return t.allDirty || t.rebalanceAll || len(t.nodesChanged) > 0
}

// seed reads the snapshot the loop starts from: every service is looked at
// in the first round, and so is every service whose tasks outlive it.
func (t *loop) seed(tx state.ReadTx) error {
	services, err := tx.FindServices(state.All)
	if err != nil {
		return err
	}
	for _, s := range services {
		t.dirty[s.ID] = true
	}
	nodes, err := tx.FindNodes(state.All)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		t.usable[n.ID] = usableNode(n)
	}
	err = tx.ForEachTask(state.All, func(task *model.Task) bool {
		switch {
		case task.Status.State == model.TaskStateRunning:
			t.runningAt[task.ID] = task.Status.Timestamp
		case task.Status.State.Terminal():
			t.endedBefore[task.ID] = true
		}
		t.dirty[task.ServiceID] = true
		if task.CreatedAt.After(t.lastStamp) {
			t.lastStamp = task.CreatedAt
		}
		return true
	})
	if err != nil {
		return err
	}
	// A node may have become eligible while no leader was watching.
	t.rebalanceAll = true
	t.log.Info("orchestrating", "index", tx.Index(), "services", len(services), "tasks_tracked", len(t.runningAt)+len(t.endedBefore))
	return nil
}

// observe records what a batch of changes makes worth looking at.
//
// A task's progress towards running (assigned, accepted, ..., running) is
// most of the change feed while a service starts, and most services decide
// nothing on it: their tasks are replaced when they end, their desired
// state or node changes, or their node does. So progress makes a service
// dirty only if its last plan follows it (t.follow), or if the task was
// assigned to a node it cannot count on; the time a task was seen running
// is recorded either way, for the failure ratio of a later update.
func (t *loop) observe(b state.Batch) {
	for _, ev := range b.Events {
		switch o := ev.Object.(type) {
		case *model.Service:
			t.dirty[o.ID] = true
		case *model.Task:
			if ev.Action == state.ActionDelete {
				t.dirty[o.ServiceID] = true
				delete(t.runningAt, o.ID)
				delete(t.endedBefore, o.ID)
				continue
			}
			if o.Status.State == model.TaskStateRunning {
				if _, ok := t.runningAt[o.ID]; !ok {
					t.runningAt[o.ID] = o.Status.Timestamp
				}
			}
			if old, ok := ev.Old.(*model.Task); ok && progressOnly(old, o) && !t.follow[o.ServiceID] &&
				(o.NodeID == old.NodeID || t.usable[o.NodeID]) {
				continue
			}
			t.dirty[o.ServiceID] = true
		case *model.Node:
			if ev.Action == state.ActionDelete {
				delete(t.usable, o.ID)
			} else {
				t.usable[o.ID] = usableNode(o)
			}
			t.nodesChanged[o.ID] = true
			if ev.Action != state.ActionDelete && ready(o) {
				old, _ := ev.Old.(*model.Node)
				if old == nil || !ready(old) || !maps.Equal(old.Spec.Labels, o.Spec.Labels) ||
					!maps.Equal(old.Description.Engine.Labels, o.Description.Engine.Labels) {
					t.rebalanceAll = true
				}
			}
		case *model.Cluster:
			t.allDirty = true
			if old, ok := ev.Old.(*model.Cluster); ok && o.Spec.Orchestration.Rebalance && !old.Spec.Orchestration.Rebalance {
				t.rebalanceAll = true
			}
		}
	}
}

// progressOnly tells whether a task update only moved the task forward to
// a state short of its end: nothing but its observed state, and its node
// when the scheduler assigned it, changed.
func progressOnly(old, cur *model.Task) bool {
	return cur.Status.State > old.Status.State && !cur.Status.State.Terminal() &&
		cur.DesiredState == old.DesiredState && (cur.NodeID == old.NodeID || old.NodeID == "") &&
		cur.Slot == old.Slot && cur.ServiceID == old.ServiceID && cur.SpecVersion == old.SpecVersion
}

// usableNode tells whether a replicated task on n still counts as running
// there (round.replicatedUsable).
func usableNode(n *model.Node) bool {
	return n.Status.State != model.NodeStateDown && n.Spec.Availability != model.AvailabilityDrain
}

// ready tells whether a node takes new tasks.
func ready(n *model.Node) bool {
	return n.Status.State == model.NodeStateReady && n.Spec.Availability == model.AvailabilityActive
}

// relevant drops the changes no decision depends on, so that heartbeats and
// status messages do not wake the orchestrator. It runs on the store's
// writer goroutine and must stay cheap.
func relevant(ev state.Event) bool {
	if ev.Action != state.ActionUpdate {
		return true
	}
	switch o := ev.Object.(type) {
	case *model.Task:
		old := ev.Old.(*model.Task)
		return old.Status.State != o.Status.State || old.DesiredState != o.DesiredState || old.NodeID != o.NodeID
	case *model.Node:
		old := ev.Old.(*model.Node)
		return old.Status.State != o.Status.State || old.Spec.Availability != o.Spec.Availability ||
			old.Role != o.Role || !maps.Equal(old.Spec.Labels, o.Spec.Labels) ||
			!reflect.DeepEqual(old.Description, o.Description)
	case *model.Cluster:
		return ev.Old.(*model.Cluster).Spec.Orchestration != o.Spec.Orchestration
	}
	return true
}
