package scheduler

import (
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Options tune PlaceTasks.
type Options struct {
	// Strategy ranks the nodes: model.StrategySpread, the default when
	// empty, or model.StrategyBinpack. Pass the service's
	// ServiceSpec.Strategy: tasks do not carry it.
	Strategy model.PlacementStrategy
	// Now is the time recent failures are counted back from. Zero means
	// time.Now(); tests pass their own clock.
	Now time.Time
}

// Decision is the scheduler's verdict on one task.
type Decision struct {
	// Task is the task as given to PlaceTasks. It is not modified.
	Task *model.Task
	// NodeID is the node chosen for the task, or "" if it fits nowhere.
	NodeID string
	// Err says why the task fits nowhere, as Docker words it: "no
	// suitable node (1 node not available for new tasks; 2 nodes
	// insufficient memory)". Empty when NodeID is set. The unplaced tasks
	// of a group share one explanation, except pinned tasks, whose
	// explanation is about their own node.
	Err string
}

// Placed tells whether the task was given a node.
func (d Decision) Placed() bool { return d.NodeID != "" }

// Apply returns a copy of the task updated with the decision, to be written
// to the store: assigned to its node, or still pending with Err. The copy
// is shallow and shares the task's spec, which must not be modified. To
// spare the Raft log, write an unplaced task back only when its Err changed
// (d.Err != d.Task.Status.Err).
func (d Decision) Apply(now time.Time) *model.Task {
	t := *d.Task
	t.Status.Timestamp = now
	if d.NodeID != "" {
		t.NodeID = d.NodeID
		t.Status.State = model.TaskStateAssigned
		t.Status.Message = "scheduler assigned task to node"
		t.Status.Err = ""
		return &t
	}
	t.Status.Message = "pending task scheduling"
	t.Status.Err = d.Err
	return &t
}

// PlaceTasks chooses nodes for a group of tasks of one service at one spec
// version, which therefore share their filters and ranking. It returns one
// decision per task, in the order of tasks. It reads the NodeInfos and does
// not modify them: the caller applies the decisions (see the package
// documentation) before placing the next group.
//
// A task with a NodeID (a global service's task, pinned to its node) is only
// checked against that node. The other tasks are placed by the strategy of
// opts over the nodes every filter accepts, each filter being evaluated once
// per node for the whole group; nodes leave the running as they fill up.
// The cost is O(N·F + (T+N) log N) for T tasks, N nodes and F filters.
//
// The error is ErrMixedGroup or ErrUnknownStrategy: a mistake of the
// caller, not of the tasks. An invalid placement spec, which the API should
// have refused, is reported in every decision's Err instead.
func PlaceTasks(tasks []*model.Task, nodes []*NodeInfo, opts Options) ([]Decision, error) {
	if len(tasks) == 0 {
		return nil, nil
	}
	group := tasks[0]
	for _, t := range tasks[1:] {
		if t.ServiceID != group.ServiceID || t.SpecVersion != group.SpecVersion {
			return nil, fmt.Errorf("%w: task %s is of service %s at version %d, task %s of service %s at version %d",
				ErrMixedGroup, group.ID, group.ServiceID, group.SpecVersion.Index, t.ID, t.ServiceID, t.SpecVersion.Index)
		}
	}
	less, err := strategyLess(opts.Strategy)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}

	decisions := make([]Decision, len(tasks))
	for i, t := range tasks {
		decisions[i].Task = t
	}
	prefs, err := parsePreferences(group.Spec.Placement.Preferences)
	if err == nil {
		_, err = ParseConstraints(group.Spec.Placement.Constraints)
	}
	if err != nil {
		msg := noSuitableNode(err.Error())
		for i := range decisions {
			decisions[i].Err = msg
		}
		return decisions, nil
	}

	p := NewPipeline()
	p.SetTask(group)
	b := batch{
		pipeline:  p,
		less:      less,
		spread:    opts.Strategy != model.StrategyBinpack,
		prefs:     prefs,
		serviceID: group.ServiceID,
		now:       now,
		tasks:     tasks,
		nodes:     nodes,
		decisions: decisions,
	}
	free := b.placePinned()
	if free > 0 {
		b.placeFree(free)
	}
	return decisions, nil
}

// batch is the working state of one PlaceTasks call.
type batch struct {
	pipeline  *Pipeline
	less      lessFunc
	spread    bool // less is spreadLess
	prefs     []preference
	serviceID string
	now       time.Time
	tasks     []*model.Task
	nodes     []*NodeInfo
	decisions []Decision
	// pinned counts the pinned tasks placed on each node, by node index;
	// nil when the group has none.
	pinned []int
}

func (b *batch) pinnedOn(i int) int {
	if b.pinned == nil {
		return 0
	}
	return b.pinned[i]
}

// placePinned checks the pinned tasks against their nodes and returns the
// number of tasks left to place.
func (b *batch) placePinned() (free int) {
	var byID map[string]int
	var oneNode []string // the message of a refusal by each filter
	for i, t := range b.tasks {
		if t.NodeID == "" {
			free++
			continue
		}
		if byID == nil {
			byID = make(map[string]int, len(b.nodes))
			for j, n := range b.nodes {
				byID[n.node.ID] = j
			}
			b.pinned = make([]int, len(b.nodes))
		}
		j, ok := byID[t.NodeID]
		if !ok {
			b.decisions[i].Err = noSuitableNode("node " + t.NodeID + " not found")
			continue
		}
		n := b.nodes[j]
		refusedBy, room := b.pipeline.evaluate(n)
		if refusedBy < 0 && room > b.pinned[j] {
			b.pinned[j]++
			b.decisions[i].NodeID = n.node.ID
			continue
		}
		if refusedBy < 0 {
			refusedBy = b.pipeline.refusedAfter(n, b.pinned[j])
		}
		// A global service on a large cluster can be refused by
		// thousands of nodes: one message per filter is enough.
		if oneNode == nil {
			oneNode = make([]string, len(b.pipeline.stages))
		}
		if oneNode[refusedBy] == "" {
			oneNode[refusedBy] = noSuitableNode(b.pipeline.stages[refusedBy].filter.Explain(1))
		}
		b.decisions[i].Err = oneNode[refusedBy]
	}
	return free
}

// fill is the strategy's fillFunc: spread's without a heap for a batch of
// more tasks than candidates.
func (b *batch) fill(cands []*candidate, n int, assign func(*candidate)) int {
	if b.spread && n >= len(cands) {
		return fillSpread(cands, n, assign)
	}
	return fillNodes(cands, b.less, n, assign)
}

// placeFree places the tasks without a NodeID.
func (b *batch) placeFree(free int) {
	// Run the filters once per node. refused holds the index of the
	// first filter that refused each node, -1 for candidates.
	refused := make([]int8, len(b.nodes))
	cands := make([]candidate, 0, len(b.nodes))
	for j, n := range b.nodes {
		refusedBy, room := b.pipeline.evaluate(n)
		k := b.pinnedOn(j)
		if refusedBy < 0 && room <= k {
			refusedBy = b.pipeline.refusedAfter(n, k)
		}
		refused[j] = int8(refusedBy)
		if refusedBy >= 0 {
			continue
		}
		if room != unlimited {
			room -= k
		}
		cands = append(cands, candidate{
			node:    n,
			id:      n.node.ID,
			failing: n.failing(b.serviceID, b.now),
			service: n.ServiceTasks(b.serviceID) + k,
			active:  n.ActiveTasks() + k,
			room:    room,
			placed:  k,
		})
	}
	if free >= len(cands) {
		// Many tasks per candidate: number them once.
		numberByID(cands)
	}

	// Tasks are identical: hand them out in order.
	next := 0
	assign := func(c *candidate) {
		for b.tasks[next].NodeID != "" {
			next++
		}
		b.decisions[next].NodeID = c.id
		next++
	}
	var placed int
	if len(b.prefs) == 0 {
		ptrs := make([]*candidate, len(cands))
		for i := range cands {
			ptrs[i] = &cands[i]
		}
		placed = b.fill(ptrs, free, assign)
	} else {
		serviceTasks := func(i int) int { return b.nodes[i].ServiceTasks(b.serviceID) + b.pinnedOn(i) }
		tree := buildTree(b.prefs, cands, b.nodes, serviceTasks, free)
		placed = tree.distribute(free, b.fill, assign)
	}
	if placed == free {
		return
	}

	// Every candidate is full: explain with the state the batch left.
	p := b.pipeline
	for i := range p.stages {
		p.stages[i].refused = 0
	}
	for _, r := range refused {
		if r >= 0 {
			p.stages[r].refused++
		}
	}
	for i := range cands {
		if c := &cands[i]; c.room == 0 {
			if r := p.refusedAfter(c.node, c.placed); r >= 0 {
				p.stages[r].refused++
			}
		}
	}
	msg := noSuitableNode(p.Explain())
	for i, t := range b.tasks {
		if t.NodeID == "" && b.decisions[i].NodeID == "" {
			b.decisions[i].Err = msg
		}
	}
}
