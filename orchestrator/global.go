package orchestrator

import (
	"maps"
	"slices"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/scheduler"
)

// Global services run one task per eligible node; the node is the slot.
// Each node is in one of three classes for a service:
//
//   - run: ready, active, and matching the service's constraints and
//     platforms. Its task is settled, refilled as restart supervision
//     decides, and updated by rolling updates.
//   - keep: paused, or not ready (down, unknown, disconnected). What runs
//     there keeps running and nothing new starts: a paused node takes no
//     new task, and a node that is down cannot start one. Unlike replicated
//     tasks, a global task on a down node is not replaced (it has nowhere
//     else to go) nor stopped, so it just carries on if the node comes back.
//   - stop: drained, or no longer matching the constraints (labels
//     changed). Its tasks are asked to stop.
//
// Tasks of nodes that were deleted are deleted. New tasks are created with
// NewTask.NodeID set; the scheduler checks the node and assigns them.

type nodeClass int

const (
	nodeRun nodeClass = iota
	nodeKeep
	nodeStop
)

// placement checks a task spec's constraints and platforms against nodes
// with the scheduler's own filters, so both agree on where a task may run.
type placement struct {
	constraints    scheduler.ConstraintFilter
	platforms      scheduler.PlatformFilter
	checkC, checkP bool
}

func newPlacement(spec *model.TaskSpec) *placement {
	pl := &placement{}
	t := &model.Task{Spec: *spec}
	pl.checkC = pl.constraints.SetTask(t)
	pl.checkP = pl.platforms.SetTask(t)
	return pl
}

func (pl *placement) matches(n *model.Node) bool {
	if !pl.checkC && !pl.checkP {
		return true
	}
	ni := scheduler.NewNodeInfo(n)
	return (!pl.checkC || pl.constraints.Check(ni)) && (!pl.checkP || pl.platforms.Check(ni))
}

func globalClass(n *model.Node, pl *placement) nodeClass {
	switch {
	case n.Spec.Availability == model.AvailabilityDrain || !pl.matches(n):
		return nodeStop
	case ready(n):
		return nodeRun
	}
	return nodeKeep
}

func (r *round) global(svc *model.Service, tasks []*model.Task, p *plan) {
	r.reapGoneNodes(tasks, p)
	slots := groupByNode(tasks, func(id string) bool { return r.nodes[id] != nil })
	pl := newPlacement(&svc.Spec.Task)
	var keys []*slot
	for _, n := range r.nodeList {
		s := slots[n.ID]
		if s == nil {
			s = &slot{nodeID: n.ID}
		}
		switch globalClass(n, pl) {
		case nodeStop:
			s.retire(p, "node drained or no longer eligible")
		case nodeKeep:
			s.settle(p, nil)
		case nodeRun:
			s.settle(p, nil)
			if len(s.live) == 0 {
				r.fill(svc, s, p)
			}
			keys = append(keys, s)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(slots)) {
		if id == "" {
			// A global task must name its node; one that does not is stopped.
			slots[id].retire(p, "global task without a node")
		}
	}
	r.update(svc, keys, tasks, p)
	r.trim(maps.Values(slots), p)
}
