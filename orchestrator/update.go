package orchestrator

import (
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Rolling updates. A slot is outdated when its live task was made from an
// older spec than the service's (model.TaskUpToDate). The update is not a
// goroutine with its own memory but a function of the stored state, run
// every round, so a new leader resumes it where the old one left it:
//
//   - UpdateStatus nil and outdated slots: the update starts ("updating").
//     The API resets UpdateStatus to nil when it changes the spec, and sets
//     it to rollback_started for a rollback a user asks for, as Docker's
//     does; a pure scale leaves it nil.
//   - paused or rollback_paused: nothing is replaced until the spec changes.
//     Restarts still happen, from the current spec, as in Docker.
//   - updating or rollback_started: slots are replaced in batches with the
//     service's UpdateConfig, or RollbackConfig while rolling back (Docker's
//     defaults when unset; a zero Monitor means the default 5 s). At most
//     Parallelism slots (0: all) are busy at once. A busy slot has its old
//     task stopping, its new task not yet running, both side by side
//     (start-first), or its new task running for less than Delay: the delay
//     follows each replaced slot, as Docker's update workers wait after
//     each task. Stop-first asks the old task to stop and the slot is
//     refilled from the new spec once it stopped; start-first creates the
//     new task in the slot (on the node, for global services) and the old
//     one is stopped when the new one runs (see settle).
//   - failures: a task of the new spec created since the update started
//     that ended on its own, before running or within Monitor of starting.
//     When failures / slots exceeds MaxFailureRatio the FailureAction
//     applies: pause ("paused" or "rollback_paused"), rollback
//     (OpRollbackService swaps the spec back, SpecVersion included, and the
//     status becomes "rollback_started"; during a rollback it pauses
//     instead: a rollback is never rolled back), or continue.
//   - no slot outdated or busy: once the last replaced task has run for
//     Monitor, "completed" or "rollback_completed".
//
// The messages are Docker's, as the CLI shows them.

// updateConfig returns the config that drives the update: the rollback
// config while rolling back.
func updateConfig(svc *model.Service, rollingBack bool) model.UpdateConfig {
	def := model.DefaultUpdateConfig()
	src := svc.Spec.Update
	if rollingBack {
		src = svc.Spec.Rollback
	}
	if src == nil {
		return def
	}
	c := *src
	if c.Monitor <= 0 {
		c.Monitor = def.Monitor
	}
	if c.FailureAction == "" {
		c.FailureAction = def.FailureAction
	}
	if c.Order == "" {
		c.Order = def.Order
	}
	c.Delay = max(c.Delay, 0)
	return c
}

func (r *round) update(svc *model.Service, keys []*slot, tasks []*model.Task, p *plan) {
	us := svc.UpdateStatus
	if us != nil && (us.State == model.UpdateStatePaused || us.State == model.UpdateStateRollbackPaused) {
		return
	}
	rollingBack := us != nil && us.State == model.UpdateStateRollbackStarted
	cfg := updateConfig(svc, rollingBack)
	since := r.stamp
	if us != nil {
		// The API may leave StartedAt out; the service's last write is when
		// the status was set.
		since = svc.UpdatedAt
		if us.StartedAt != nil {
			since = *us.StartedAt
		}
	}

	var outdated []*slot
	busy := 0
	for _, s := range keys {
		if b, until := s.busy(svc, since, cfg.Delay, r.now); b {
			busy++
			p.wakeAt(until)
			continue
		}
		if s.outdated(svc) {
			outdated = append(outdated, s)
		}
	}

	if us == nil {
		if len(outdated) == 0 {
			return
		}
		now := r.stamp
		us = &model.UpdateStatus{State: model.UpdateStateUpdating, StartedAt: &now, Message: "update in progress"}
		p.status = us
		r.log.Info("rolling update started", "service", svc.ID, "spec_version", svc.SpecVersion.Index,
			"outdated", len(outdated), "parallelism", cfg.Parallelism, "order", cfg.Order)
	}
	active := us.State == model.UpdateStateUpdating || rollingBack
	if active || busy > 0 || len(outdated) > 0 {
		// Progress, completion and the failure ratio depend on when new
		// tasks start and run.
		p.follow = true
	}
	if active && cfg.FailureAction != model.FailureActionContinue {
		if failed := r.updateFailures(svc, tasks, since, cfg, len(keys)); failed != nil {
			r.failUpdate(svc, us, cfg, failed, p)
			return
		}
	}
	if len(outdated) == 0 {
		if busy == 0 && active {
			r.completeUpdate(svc, us, keys, since, cfg, p)
		}
		return
	}

	budget := len(outdated)
	if n := cfg.Parallelism; n > 0 && n < uint64(len(keys)) {
		budget = min(budget, int(n)-busy)
	}
	for _, s := range outdated[:max(budget, 0)] {
		// Start-first keeps a running task until its replacement runs; a
		// task that does not run yet has nothing to keep.
		switch {
		case cfg.Order == model.UpdateOrderStartFirst && s.live[0].Status.State == model.TaskStateRunning:
			if _, ok := p.add(s); !ok {
				return
			}
		default:
			for _, t := range s.live {
				p.stop(t, "rolling update")
			}
		}
		r.log.Debug("updating slot", append([]any{"service", svc.ID, "order", cfg.Order}, s.logKey()...)...)
	}
}

// updateFailures returns the first task whose failure, with the others,
// exceeds the update's failure ratio, or nil.
func (r *round) updateFailures(svc *model.Service, tasks []*model.Task, since time.Time, cfg model.UpdateConfig, slots int) *model.Task {
	var first *model.Task
	n := 0
	for _, t := range tasks {
		if !t.Status.State.Terminal() || !endedOnItsOwn(t) || t.CreatedAt.Before(since) ||
			!model.TaskUpToDate(t, svc) || !r.endedEarly(t, cfg.Monitor) {
			continue
		}
		n++
		if first == nil || t.Status.Timestamp.Before(first.Status.Timestamp) {
			first = t
		}
	}
	if n == 0 || float64(n)/float64(max(slots, 1)) <= float64(cfg.MaxFailureRatio) {
		return nil
	}
	return first
}

// endedEarly tells whether t ended before running or within monitor of
// starting. A task that ended before this loop began and whose start was
// not seen counts if it ended within monitor of its creation.
func (r *round) endedEarly(t *model.Task, monitor time.Duration) bool {
	if at, ok := r.loop.runningAt[t.ID]; ok {
		return t.Status.Timestamp.Sub(at) <= monitor
	}
	if r.loop.endedBefore[t.ID] {
		return t.Status.Timestamp.Sub(t.CreatedAt) <= monitor
	}
	return true // seen ending without ever running
}

func (r *round) failUpdate(svc *model.Service, us *model.UpdateStatus, cfg model.UpdateConfig, failed *model.Task, p *plan) {
	st := *us
	rollingBack := us.State == model.UpdateStateRollbackStarted
	switch {
	case cfg.FailureAction == model.FailureActionRollback && rollingBack:
		st.State = model.UpdateStateRollbackPaused
		st.Message = fmt.Sprintf("rollback paused due to failure or early termination of task %s", failed.ID)
	case cfg.FailureAction == model.FailureActionRollback && svc.PreviousSpec != nil:
		st.State = model.UpdateStateRollbackStarted
		st.Message = fmt.Sprintf("update rolled back due to failure or early termination of task %s", failed.ID)
		p.rollback = true
	default:
		if cfg.FailureAction == model.FailureActionRollback {
			r.log.Warn("cannot roll back: no previous spec; pausing the update", "service", svc.ID)
		}
		st.State = model.UpdateStatePaused
		if rollingBack {
			st.State = model.UpdateStateRollbackPaused
		}
		st.Message = fmt.Sprintf("update paused due to failure or early termination of task %s", failed.ID)
	}
	p.status = &st
	r.log.Warn("rolling update failed", "service", svc.ID, "task", failed.ID, "state", st.State,
		"task_state", failed.Status.State.String(), "err", failed.Status.Err)
}

// completeUpdate marks the update completed once the tasks it started have
// run for the monitor period.
func (r *round) completeUpdate(svc *model.Service, us *model.UpdateStatus, keys []*slot, since time.Time, cfg model.UpdateConfig, p *plan) {
	var lastStart time.Time
	for _, s := range keys {
		for _, t := range s.live {
			if t.Status.State == model.TaskStateRunning && !t.CreatedAt.Before(since) &&
				model.TaskUpToDate(t, svc) && t.Status.Timestamp.After(lastStart) {
				lastStart = t.Status.Timestamp
			}
		}
	}
	if !lastStart.IsZero() {
		if at := lastStart.Add(cfg.Monitor); at.After(r.now) {
			p.wakeAt(at)
			return
		}
	}
	st := *us
	now := r.stamp
	st.CompletedAt = &now
	if us.State == model.UpdateStateRollbackStarted {
		st.State, st.Message = model.UpdateStateRollbackCompleted, "rollback completed"
	} else {
		st.State, st.Message = model.UpdateStateCompleted, "update completed"
	}
	p.status = &st
	r.log.Info("rolling update finished", "service", svc.ID, "state", st.State)
}
