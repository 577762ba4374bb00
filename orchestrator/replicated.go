package orchestrator

import (
	"maps"
	"slices"

	"github.com/shoal-dev/shoal/model"
)

// Replicated services own slots 1..N. Each round, for one service:
//
//  1. Slots above N (and slot 0, which no replicated task should have) are
//     retired: their wanted tasks are asked to stop. A pending task that no
//     node took yet just gets desired state shutdown.
//  2. Each slot 1..N is settled (settle: at most one live task, two during
//     a start-first replacement, the extra ones on the most loaded nodes
//     stopped) and, if it holds no live task, refilled as restart
//     supervision decides (fill). Slots are taken lowest first, so a scale
//     up fills the lowest free slots.
//  3. The rolling update, then rebalancing, act on the settled slots.
//  4. History is trimmed per slot.
//
// A task counts as live only on a usable node: one that exists, is not
// down and is not drained. Tasks elsewhere are replaced at once and asked
// to stop, so that when the node comes back its agent stops them and the
// slot holds one task.

// replicatedUsable tells whether a replicated task on node id still counts.
func (r *round) replicatedUsable(id string) bool {
	n := r.nodes[id]
	return n != nil && usableNode(n)
}

func (r *round) replicated(svc *model.Service, tasks []*model.Task, p *plan) {
	r.reapGoneNodes(tasks, p)
	slots := groupBySlot(tasks, r.replicatedUsable)
	n := svc.Spec.Replicas()

	for _, num := range slices.Sorted(maps.Keys(slots)) {
		if num == 0 || num > n {
			slots[num].retire(p, "scaled down")
		}
	}
	load := liveLoad(slots)
	// n was checked against the cluster's limit (round.service), but no
	// allocation is sized by a number from a spec: the slots in use are a
	// good guess of the size, and append grows it past a scale up.
	keys := make([]*slot, 0, min(n, uint64(len(slots))))
	for num := uint64(1); num <= n; num++ {
		s := slots[num]
		if s == nil {
			s = &slot{num: num}
		}
		s.settle(p, load)
		if len(s.live) == 0 {
			r.fill(svc, s, p)
		}
		keys = append(keys, s)
	}
	r.update(svc, keys, tasks, p)
	r.rebalance(svc, keys, p)
	if r.loop.rebalances[svc.ID] != nil {
		p.follow = true
	}
	r.trim(maps.Values(slots), p)
}
