package orchestrator

import (
	"maps"
	"slices"

	"github.com/shoal-dev/shoal/model"
)

// Jobs run their tasks to completion. A job's tasks are created with
// desired state complete (the store does that for a job's service); a task
// whose container exits 0 reports complete and is done for good. Each
// round, for one job:
//
//  1. Tasks of earlier iterations (made from an older spec: every change of
//     a job's spec starts an iteration, see model.JobStatus) are retired:
//     the live ones are asked to stop, the ended ones deleted.
//  2. The tasks of the current iteration are grouped in slots: 0..N-1 for
//     a replicated job (N = TotalCompletions), one per node for a global
//     job. A slot holding a complete task is done and left alone: the
//     store is the truth, so a new leader counts the same completions and
//     never runs a done slot again.
//  3. Every other slot that started is settled and, when its task ended,
//     refilled as the restart policy says, with condition any acting as
//     on-failure: a failed task is retried within MaxAttempts and after
//     Delay, a completed one never.
//  4. A replicated job starts slots that never ran, lowest first, while
//     fewer than MaxConcurrent slots are active (running, starting, or
//     waiting out a restart delay). A global job starts one on every
//     eligible node, including nodes that join later.
//  5. History is trimmed per slot as for services.
//
// Jobs have no rolling updates, rollbacks or rebalancing: an update is a
// new iteration.

// jobDone tells whether the slot holds a completed task.
func jobDone(s *slot) bool {
	for _, l := range [][]*model.Task{s.ended, s.dead} {
		for _, t := range l {
			if t.Status.State == model.TaskStateComplete {
				return true
			}
		}
	}
	return false
}

// retireOldIterations stops the live tasks of tasks made from an older
// spec than svc's and deletes the ended ones, returning the tasks of the
// current iteration.
func retireOldIterations(svc *model.Service, tasks []*model.Task, p *plan) []*model.Task {
	cur := tasks[:0:0]
	for _, t := range tasks {
		switch {
		case model.TaskUpToDate(t, svc):
			cur = append(cur, t)
		case historic(t):
			p.delete(t)
		default:
			p.stop(t, "job iteration replaced")
		}
	}
	return cur
}

// jobStart starts slot s of a job if restart supervision says so, and
// tells whether the slot is active afterwards: it runs, or waits to run.
func (r *round) jobStart(svc *model.Service, s *slot, p *plan) bool {
	if len(s.live) > 0 {
		s.settle(p, nil)
		return true
	}
	if len(s.stopping) > 0 {
		return true
	}
	d := r.decideRestart(svc, s)
	r.fill(svc, s, p)
	return d.action != restartNever
}

func (r *round) replicatedJob(svc *model.Service, tasks []*model.Task, p *plan) {
	job := svc.Spec.Mode.ReplicatedJob
	cur := retireOldIterations(svc, tasks, p)
	slots := groupBySlot(cur, r.replicatedUsable)
	total := job.TotalCompletions
	for _, num := range slices.Sorted(maps.Keys(slots)) {
		if num >= total {
			slots[num].retire(p, "slot beyond the job's completions")
		}
	}
	maxActive := max(job.MaxConcurrent, 1)
	var active uint64
	var fresh []uint64
	for num := uint64(0); num < total; num++ {
		s := slots[num]
		switch {
		case s == nil:
			fresh = append(fresh, num)
		case jobDone(s):
			s.settle(p, nil)
		case r.jobStart(svc, s, p):
			active++
		}
	}
	for _, num := range fresh {
		if active >= maxActive || !p.room() {
			break
		}
		s := &slot{num: num}
		slots[num] = s
		r.fill(svc, s, p)
		active++
	}
	r.trim(maps.Values(slots), p)
}

func (r *round) globalJob(svc *model.Service, tasks []*model.Task, p *plan) {
	r.reapGoneNodes(tasks, p)
	cur := retireOldIterations(svc, tasks, p)
	slots := groupByNode(cur, func(id string) bool { return r.nodes[id] != nil })
	pl := newPlacement(&svc.Spec.Task)
	for _, n := range r.nodeList {
		s := slots[n.ID]
		if s == nil {
			s = &slot{nodeID: n.ID}
			slots[n.ID] = s
		}
		if jobDone(s) {
			s.settle(p, nil)
			continue
		}
		switch globalClass(n, pl) {
		case nodeStop:
			s.retire(p, "node drained or no longer eligible")
		case nodeKeep:
			s.settle(p, nil)
		case nodeRun:
			r.jobStart(svc, s, p)
		}
	}
	if s := slots[""]; s != nil {
		s.retire(p, "global task without a node")
	}
	r.trim(maps.Values(slots), p)
}
