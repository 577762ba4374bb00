package orchestrator

import (
	"iter"
	"slices"

	"github.com/shoal-dev/shoal/model"
)

// The reaper deletes tasks nobody needs any more:
//
//   - history beyond Cluster.Spec.Orchestration.TaskHistoryRetentionLimit
//     ended tasks per slot (per node for global services), oldest first.
//     The newest ended task of a slot without a live task is always kept:
//     it decides how the slot is refilled (restart delay, restart policy).
//     A negative limit keeps everything.
//   - tasks of deleted services (desired state REMOVE, set by
//     OpDeleteService) once they ended, never reached a node, or their node
//     is down or gone. A task that still runs on a live node is first asked
//     to stop, if it was not yet.
//   - tasks whose node was deleted.

// reapGoneNodes deletes the tasks whose node was deleted. The slot logic
// still sees them this round, as lost, and replaces them.
func (r *round) reapGoneNodes(tasks []*model.Task, p *plan) {
	for _, t := range tasks {
		if t.NodeID != "" && r.nodes[t.NodeID] == nil {
			p.delete(t)
		}
	}
}

// reapService deletes the tasks of a deleted service that no longer run.
func (r *round) reapService(tasks []*model.Task, p *plan) {
	for _, t := range tasks {
		n := r.nodes[t.NodeID]
		switch {
		case t.Status.State.Terminal(), t.Status.State < model.TaskStateAssigned,
			n == nil, n.Status.State == model.NodeStateDown:
			p.delete(t)
		default:
			p.markRemove(t)
		}
	}
	if len(p.del) > 0 {
		r.log.Info("deleting tasks of removed service", "service", p.serviceID, "tasks", len(p.del))
	}
}

// historic tells whether a dead task is history: it ended, or never
// reached a node. A task asked to stop on a node that is down is not: it
// may still run there.
func historic(t *model.Task) bool {
	return t.Status.State.Terminal() || t.Status.State < model.TaskStateAssigned
}

// trim deletes history beyond the retention limit in every slot.
func (r *round) trim(slots iter.Seq[*slot], p *plan) {
	if r.retention < 0 {
		return
	}
	for s := range slots {
		var hist []*model.Task
		for _, t := range s.dead {
			if historic(t) {
				hist = append(hist, t)
			}
		}
		keep := int(min(r.retention, 1<<20))
		if keep < 1 && len(s.live) == 0 {
			keep = 1
		}
		if len(hist) <= keep {
			continue
		}
		slices.SortFunc(hist, newerFirst)
		for _, t := range hist[keep:] {
			p.delete(t)
		}
	}
}
