package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// round is one pass over the services that need a look, all read from one
// snapshot of the store, ending in one Raft command (or a few, see
// Config.MaxBatch and loop.commit).
type round struct {
	loop *loop
	log  *slog.Logger
	tx   state.ReadTx
	// now is the clock's time, which delays are compared with. stamp is
	// the time of the round's command, the CreatedAt of the tasks it
	// creates: never earlier than any stamp before (see loop.nextStamp).
	now   time.Time
	stamp time.Time

	nodes    map[string]*model.Node
	nodeList []*model.Node // sorted by ID
	// retention is the number of ended tasks kept per slot; negative keeps
	// them all.
	retention int64
	// rebalanceAll is the cluster-wide rebalance setting.
	rebalanceAll bool
	// orchestration is the cluster's orchestration settings, whose limits
	// every service is checked against before it is planned; nil (no
	// cluster object) means the defaults.
	orchestration *model.OrchestrationConfig
}

func newRound(t *loop, tx state.ReadTx, now, stamp time.Time) (*round, error) {
	nodes, err := tx.FindNodes(state.All)
	if err != nil {
		return nil, err
	}
	r := &round{
		loop: t, log: t.log, tx: tx, now: now, stamp: stamp,
		nodes:     make(map[string]*model.Node, len(nodes)),
		nodeList:  nodes,
		retention: model.DefaultClusterSpec().Orchestration.TaskHistoryRetentionLimit,
	}
	slices.SortFunc(r.nodeList, func(a, b *model.Node) int { return strings.Compare(a.ID, b.ID) })
	for _, n := range nodes {
		r.nodes[n.ID] = n
	}
	if c := tx.Cluster(); c != nil {
		r.retention = c.Spec.Orchestration.TaskHistoryRetentionLimit
		r.rebalanceAll = c.Spec.Orchestration.Rebalance
		r.orchestration = &c.Spec.Orchestration
	}
	return r, nil
}

// round reconciles every service that is dirty or due, then writes.
func (t *loop) round(ctx context.Context) {
	now := t.o.cfg.Clock.Now()
	for id, at := range t.wakes {
		if !at.After(now) {
			t.dirty[id] = true
			delete(t.wakes, id)
		}
	}
	if len(t.dirty) == 0 && !t.pendingFlags() {
		return
	}
	if now.Before(t.retryAt) {
		return
	}
	var plans []*plan
	stamp := t.nextStamp(now)
	err := t.o.store.View(func(tx state.ReadTx) error {
		r, err := newRound(t, tx, now, stamp)
		if err != nil {
			return err
		}
		if err := t.expand(r); err != nil {
			return err
		}
		for _, id := range slices.Sorted(maps.Keys(t.dirty)) {
			delete(t.dirty, id)
			if c := t.conflicts[id]; c != nil && now.Before(c.until) {
				t.wakeAt(id, c.until)
				continue
			}
			delete(t.wakes, id)
			p, err := r.service(id)
			if err != nil {
				t.dirty[id] = true
				return err
			}
			plans = append(plans, p)
			if p.follow {
				t.follow[id] = true
			} else {
				delete(t.follow, id)
			}
			if p.full {
				t.dirty[id] = true
			}
			if !p.wake.IsZero() {
				t.wakeAt(id, p.wake)
			}
		}
		return nil
	})
	if err != nil {
		t.failed(fmt.Errorf("reading the store: %w", err), plans)
		return
	}
	t.commit(ctx, stamp, plans)
}

// nextStamp returns the time of the next command: the clock's time, or
// just after the previous command's if the clock is not past it (a new
// leader's clock behind the old one's, a coarse clock). Creation times of
// tasks are then strictly increasing, which orders the tasks of a slot.
func (t *loop) nextStamp(now time.Time) time.Time {
	if !now.After(t.lastStamp) {
		now = t.lastStamp.Add(time.Nanosecond)
	}
	t.lastStamp = now
	return now
}

// expand turns the round's flags into dirty services.
func (t *loop) expand(r *round) error {
	if !t.pendingFlags() {
		return nil
	}
	services, err := r.tx.FindServices(state.All)
	if err != nil {
		return err
	}
	for id := range t.nodesChanged {
		err := r.tx.ForEachTask(state.ByNodeID(id), func(task *model.Task) bool {
			t.dirty[task.ServiceID] = true
			return true
		})
		if err != nil {
			return err
		}
	}
	for _, s := range services {
		switch {
		case t.allDirty:
			t.dirty[s.ID] = true
		case len(t.nodesChanged) > 0 && s.Spec.IsGlobal():
			t.dirty[s.ID] = true
		}
		if t.rebalanceAll && !s.Spec.IsGlobal() && !s.Spec.IsJob() && (s.Spec.Rebalance || r.rebalanceAll) {
			if rb := t.rebalances[s.ID]; rb != nil {
				rb.restart()
			} else {
				t.rebalances[s.ID] = &rebalance{}
			}
			t.dirty[s.ID] = true
		}
	}
	clear(t.nodesChanged)
	t.allDirty, t.rebalanceAll = false, false
	return nil
}

func (t *loop) wakeAt(id string, at time.Time) {
	if cur, ok := t.wakes[id]; !ok || at.Before(cur) {
		t.wakes[id] = at
	}
}

// service plans one service.
func (r *round) service(id string) (*plan, error) {
	svc := r.tx.GetService(id)
	tasks, err := r.tx.FindTasks(state.ByServiceID(id))
	if err != nil {
		return nil, err
	}
	if svc != nil {
		if err := svc.Spec.CheckLimits(r.orchestration); err != nil {
			return r.refuse(svc, err), nil
		}
	}
	p, crash := r.plan(id, svc, tasks)
	if crash != nil {
		return r.refuse(svc, crash), nil
	}
	if svc != nil && refusedStatus(svc.UpdateStatus) {
		// Refused before (a limit since raised, a spec since fixed by a
		// path that kept the status): the mark goes, the service is
		// orchestrated again.
		p.clearStatus = true
	}
	return p, nil
}

// plan plans one service. A panic while planning it (a bug that one
// service's data triggers, or a poison entry an older version committed)
// is not allowed to take the manager down with it, and every round after
// it: the plan is dropped and the panic returned as an error, which the
// caller reports on the service (refuse).
func (r *round) plan(id string, svc *model.Service, tasks []*model.Task) (p *plan, crash error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("panic while planning a service; the service is left as it is",
				"service", id, "panic", v, "stack", string(debug.Stack()))
			p, crash = nil, fmt.Errorf("internal error while planning the service: %v", v)
		}
	}()
	p = newPlan(id, svc, r.loop.o.cfg.MaxRoundChanges)
	p.createBudget = max(r.loop.o.cfg.MaxStartingTasks-starting(tasks), 0)
	switch {
	case svc == nil:
		r.loop.forget(id)
		r.reapService(tasks, p)
	case svc.Spec.Mode.ReplicatedJob != nil:
		r.replicatedJob(svc, tasks, p)
	case svc.Spec.Mode.GlobalJob != nil:
		r.globalJob(svc, tasks, p)
	case svc.Spec.IsGlobal():
		r.global(svc, tasks, p)
	default:
		r.replicated(svc, tasks, p)
	}
	if p.paced {
		p.wakeAt(r.now.Add(r.loop.o.cfg.PacingInterval))
	}
	return p, nil
}

// RefusedMessagePrefix starts the UpdateStatus message of a service the
// orchestrator does not act on: its spec is over a cluster limit (a spec
// committed before the limit existed, or written around the API), or
// planning it failed. The tasks it has are left as they are; updating the
// spec or removing the service clears the mark.
const RefusedMessagePrefix = "not orchestrated: "

func refusedStatus(us *model.UpdateStatus) bool {
	return us != nil && us.State == model.UpdateStatePaused && strings.HasPrefix(us.Message, RefusedMessagePrefix)
}

// refuse returns the plan of a service the round does not act on: it only
// marks the service (UpdateStatus paused, the reason in its message) so
// that `docker service inspect` and `service ps` tell the user, who can fix
// or remove it. svc is nil for a deleted service, which has no status to
// mark: its tasks wait for the next round.
func (r *round) refuse(svc *model.Service, reason error) *plan {
	p := newPlan("", svc, r.loop.o.cfg.MaxRoundChanges)
	if svc == nil {
		return p
	}
	p.serviceID = svc.ID
	msg := RefusedMessagePrefix + reason.Error() + "; update the service or remove it"
	if us := svc.UpdateStatus; us == nil || us.State != model.UpdateStatePaused || us.Message != msg {
		r.log.Warn("not orchestrating a service", "service", svc.ID, "name", svc.Spec.Name, "reason", reason)
		p.status = &model.UpdateStatus{State: model.UpdateStatePaused, Message: msg}
	}
	return p
}

// forget drops what the loop remembers of a deleted service.
func (t *loop) forget(id string) {
	delete(t.rebalances, id)
	delete(t.follow, id)
	for k := range t.ends {
		if k.serviceID == id {
			delete(t.ends, k)
		}
	}
}

// commit writes the plans stamped with the round's stamp, in commands of
// at most Config.MaxBatch task changes. Plans are packed whole into a
// command while they fit; a plan that does not fit starts a new one, and a
// plan larger than MaxBatch is split over several commands, in the order
// of its operations, its last part shared with the next plans. Commands are
// written one after the other: a later part of a plan is written only once
// the earlier ones are applied, and not at all once an operation of the
// plan was refused (the service is looked at again, see conflict).
func (t *loop) commit(ctx context.Context, stamp time.Time, plans []*plan) {
	limit := t.o.cfg.MaxBatch
	var ops []state.Op
	var owners []*plan
	items := 0
	flush := func() bool {
		if len(ops) == 0 {
			return true
		}
		ok := t.propose(ctx, stamp, ops, owners)
		ops, owners, items = nil, nil, 0
		return ok
	}
	for i, p := range plans {
		pops := p.ops()
		if len(pops) == 0 {
			continue
		}
		n := 0
		for _, op := range pops {
			n += opChanges(op)
		}
		if items > 0 && items+n > limit && !flush() {
			t.redo(plans[i:])
			return
		}
	plan:
		for _, op := range pops {
			for {
				room := limit - items
				if opChanges(op) <= room {
					ops, owners = append(ops, op), append(owners, p)
					items += opChanges(op)
					break
				}
				if room > 0 {
					var head state.Op
					head, op = splitOp(op, room)
					ops, owners = append(ops, head), append(owners, p)
					items += room
				}
				if !flush() {
					t.redo(plans[i:])
					return
				}
				if p.refused {
					break plan
				}
			}
		}
	}
	flush()
}

// opChanges counts the task changes of an operation.
func opChanges(op state.Op) int { return len(op.IDs) + len(op.NewTasks) }

// splitOp splits an operation on tasks into one on the first n of them and
// one on the rest. The parts share op's slices, which nobody modifies.
func splitOp(op state.Op, n int) (head, rest state.Op) {
	head, rest = op, op
	if op.NewTasks != nil {
		head.NewTasks, rest.NewTasks = op.NewTasks[:n:n], op.NewTasks[n:]
	} else {
		head.IDs, rest.IDs = op.IDs[:n:n], op.IDs[n:]
	}
	return head, rest
}

func (t *loop) redo(plans []*plan) {
	for _, p := range plans {
		t.dirty[p.serviceID] = true
	}
}

// propose writes one command stamped at stamp and sorts out its results
// per service. It returns false if the write failed as a whole.
func (t *loop) propose(ctx context.Context, stamp time.Time, ops []state.Op, owners []*plan) bool {
	pctx, cancel := context.WithTimeout(ctx, t.o.cfg.ProposeTimeout)
	defer cancel()
	res, err := t.o.proposer.Propose(pctx, &state.Command{Time: stamp.UTC(), Ops: ops})
	if err == nil && len(res) != len(ops) {
		err = fmt.Errorf("%d results for %d operations", len(res), len(ops))
	}
	if err != nil {
		if ctx.Err() == nil {
			t.failed(err, owners)
		}
		return false
	}
	t.proposeFailures = 0
	failed := map[string]error{}
	changes := map[string]int{}
	for i, r := range res {
		id := owners[i].serviceID
		changes[id] += opChanges(ops[i])
		if r.Err != nil {
			if _, ok := failed[id]; !ok {
				failed[id] = r.Err
			}
		}
	}
	var last *plan
	for _, p := range owners {
		if p == last {
			continue
		}
		last = p
		if err := failed[p.serviceID]; err != nil {
			p.refused = true
			t.conflict(p.serviceID, err)
			continue
		}
		delete(t.conflicts, p.serviceID)
		t.log.Debug("applied", "service", p.serviceID, "task_changes", changes[p.serviceID],
			"planned_created", len(p.create), "planned_shut_down", len(p.shutdown),
			"planned_removed", len(p.remove), "planned_deleted", len(p.del))
	}
	return true
}

// failed backs off after a write or read that failed as a whole.
func (t *loop) failed(err error, owners []*plan) {
	t.proposeFailures++
	wait := clock.Backoff(t.o.cfg.RetryBackoff, t.o.cfg.MaxRetryBackoff, t.proposeFailures)
	t.retryAt = t.o.cfg.Clock.Now().Add(wait)
	t.redo(owners)
	t.log.Warn("orchestrator write failed; retrying", "err", err, "retry_in", wait)
}

// conflict handles an operation refused on a precondition: the service or
// its spec changed under the round. The change that beat the round is in
// the change feed and triggers the retry; repeated refusals back off.
func (t *loop) conflict(id string, err error) {
	now := t.o.cfg.Clock.Now()
	c := t.conflicts[id]
	if c == nil {
		c = &conflict{}
		t.conflicts[id] = c
	}
	c.count++
	var wait time.Duration
	if c.count > 1 {
		wait = clock.Backoff(t.o.cfg.RetryBackoff, t.o.cfg.MaxRetryBackoff, c.count-1)
	}
	c.until = now.Add(wait)
	t.wakeAt(id, now.Add(max(wait, t.o.cfg.ConflictRetry)))
	t.log.Info("operation refused; retrying on the next change", "service", id, "err", err, "refusals", c.count)
}
