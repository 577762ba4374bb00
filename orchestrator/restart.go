package orchestrator

import (
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Restart supervision. A slot without a live task is refilled according to
// its last task (the most recently created one that is not live):
//
//   - no task at all (new slot, new node), a task lost with its node
//     (down, deleted, drained) or one that never reached a node, a task
//     stopped on a manager's request (scale down, update), or a task made
//     from an older spec than the service's (the update or rollback that
//     replaces it should not wait for a restart delay): at once;
//   - a task that ended on its own while wanted (observed complete, failed
//     or rejected, or shutdown that nobody asked for): as the restart
//     policy of the task's spec says. Condition any restarts it (but for
//     a job's task, see job.go), on-failure only after failed or rejected,
//     none never; MaxAttempts bounds the
//     restarts of the slot at that spec version within Window (0: forever)
//     before the last end; the replacement starts Delay (nil: 5 s) after
//     the task's status timestamp.
//
// Everything comes from the stored tasks, so a new leader recomputes the
// same decision and the same time: the delay survives a leader change. Old
// tasks are trimmed to the history limit, so the loop also remembers the
// ends it saw, per slot, to count attempts beyond the history kept.

type restartAction int

const (
	restartNow restartAction = iota
	restartLater
	restartNever
)

type restartDecision struct {
	action restartAction
	at     time.Time // for restartLater
	last   *model.Task
	reason string
}

// endedOnItsOwn tells whether a terminated task stopped without a manager
// asking: these are the ends the restart policy is about.
func endedOnItsOwn(t *model.Task) bool {
	switch t.Status.State {
	case model.TaskStateComplete, model.TaskStateFailed, model.TaskStateRejected:
		return true
	case model.TaskStateShutdown:
		return t.DesiredState.Wanted()
	}
	return false
}

// restartDelay returns the policy's delay, Docker's 5 s when unset.
func restartDelay(p model.RestartPolicy) time.Duration {
	if p.Delay == nil {
		return model.DefaultRestartDelay
	}
	return max(*p.Delay, 0)
}

// restartKey names a slot for the attempt memory.
type restartKey struct {
	serviceID string
	slot      uint64
	nodeID    string
}

// endRecord is one end on its own seen in a slot.
type endRecord struct {
	specVersion uint64
	at          time.Time
}

// decideRestart decides how slot s of svc, which has no live task, is
// refilled.
func (r *round) decideRestart(svc *model.Service, s *slot) restartDecision {
	last := s.lastGone()
	switch {
	case last == nil:
		return restartDecision{action: restartNow, reason: "new slot"}
	case !last.Status.State.Terminal():
		return restartDecision{action: restartNow, last: last, reason: "task lost with its node"}
	case !endedOnItsOwn(last):
		return restartDecision{action: restartNow, last: last, reason: "task shut down"}
	case !model.TaskUpToDate(last, svc):
		// The policy paces reruns of one spec. A task of an older spec
		// is not rerun: the slot gets the current spec now, which is what
		// an update or a rollback is waiting for.
		return restartDecision{action: restartNow, last: last, reason: "task of an older spec ended"}
	}
	policy := last.Spec.Restart
	if svc.Spec.IsJob() && policy.Condition != model.RestartOnNone {
		// A job's task runs to completion: once it completed it is done,
		// so any acts as on-failure.
		policy.Condition = model.RestartOnFailure
	}
	switch policy.Condition {
	case model.RestartOnNone:
		return restartDecision{action: restartNever, last: last, reason: "restart condition none"}
	case model.RestartOnFailure:
		if last.Status.State != model.TaskStateFailed && last.Status.State != model.TaskStateRejected {
			return restartDecision{action: restartNever, last: last, reason: "task completed, restart condition on-failure"}
		}
	}
	if policy.MaxAttempts > 0 {
		if n := r.attempts(svc.ID, s, last); uint64(n) >= policy.MaxAttempts {
			return restartDecision{action: restartNever, last: last, reason: "restart attempts exhausted"}
		}
	}
	at := last.Status.Timestamp.Add(restartDelay(policy))
	if at.After(r.now) {
		return restartDecision{action: restartLater, at: at, last: last, reason: "restart delay"}
	}
	return restartDecision{action: restartNow, last: last, reason: "task ended"}
}

// attempts counts the restarts already made in the slot for last's spec
// version within the policy's window before last ended: the earlier ends
// on their own, each of which was followed by a replacement.
func (r *round) attempts(serviceID string, s *slot, last *model.Task) int {
	key := restartKey{serviceID: serviceID, slot: s.num, nodeID: s.nodeID}
	policy := last.Spec.Restart
	mem := r.loop.ends[key]
	if mem == nil {
		mem = map[string]endRecord{}
		r.loop.ends[key] = mem
	}
	for _, l := range [][]*model.Task{s.ended, s.dead} {
		for _, t := range l {
			if t.Status.State.Terminal() && endedOnItsOwn(t) {
				mem[t.ID] = endRecord{specVersion: t.SpecVersion.Index, at: t.Status.Timestamp}
			}
		}
	}
	end := last.Status.Timestamp
	n := 0
	for id, e := range mem {
		if id == last.ID || e.specVersion != last.SpecVersion.Index || e.at.After(end) {
			continue
		}
		if policy.Window > 0 && !e.at.After(end.Add(-policy.Window)) {
			continue
		}
		n++
	}
	// Keep the memory bounded: ends beyond the most recent MaxAttempts+1
	// can no longer matter.
	if limit := int(min(policy.MaxAttempts, 1<<16)) + 1; len(mem) > limit {
		pruneEnds(mem, limit)
	}
	return n
}

// pruneEnds keeps the limit most recent records.
func pruneEnds(mem map[string]endRecord, limit int) {
	for len(mem) > limit {
		var oldest string
		for id, e := range mem {
			if oldest == "" || e.at.Before(mem[oldest].at) {
				oldest = id
			}
		}
		delete(mem, oldest)
	}
}

// fill refills slot s, which has no live task, as restart supervision
// decides.
func (r *round) fill(svc *model.Service, s *slot, p *plan) {
	if len(s.stopping) > 0 {
		// The previous task is still stopping: start its replacement once
		// it stopped, so the slot never runs two (stop-first).
		return
	}
	d := r.decideRestart(svc, s)
	switch d.action {
	case restartLater:
		p.wakeAt(d.at)
	case restartNever:
		for _, t := range s.ended {
			// Docker shows such tasks as desired shutdown. A task that
			// reported shutdown on its own keeps desired running, the only
			// trace that nobody asked it to stop.
			if t.Status.State != model.TaskStateShutdown {
				p.stop(t, d.reason)
			}
		}
	case restartNow:
		nt, ok := p.add(s)
		if !ok {
			return
		}
		s.filled = true
		for _, t := range s.ended {
			p.stop(t, "restarted")
		}
		for _, t := range s.lost {
			p.stop(t, "replaced")
		}
		if d.last != nil {
			args := append([]any{"service", svc.ID, "task", nt.ID, "old_task", d.last.ID, "reason", d.reason}, s.logKey()...)
			r.log.Info("replacing task", args...)
		}
	}
}
