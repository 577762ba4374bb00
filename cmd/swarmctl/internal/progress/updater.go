package progress

import (
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// stateOrder numbers task states so that they compare like the clock they
// are in SwarmKit; 0 is an unknown state, ignored.
var stateOrder = map[swarm.TaskState]int64{
	swarm.TaskStateNew:       1,
	swarm.TaskStateAllocated: 2,
	swarm.TaskStatePending:   3,
	swarm.TaskStateAssigned:  4,
	swarm.TaskStateAccepted:  5,
	swarm.TaskStatePreparing: 6,
	swarm.TaskStateReady:     7,
	swarm.TaskStateStarting:  8,
	swarm.TaskStateRunning:   9,
	swarm.TaskStateComplete:  10,
	swarm.TaskStateShutdown:  11,
	swarm.TaskStateFailed:    12,
	swarm.TaskStateRejected:  13,
	swarm.TaskStateRemove:    14,
	swarm.TaskStateOrphaned:  15,
}

// runningOrder is where a bar is full.
var runningOrder = stateOrder[swarm.TaskStateRunning]

// stateWidth pads state names so the bars line up: the longest state a bar
// shows ("allocated", "preparing").
const stateWidth = 9

// maxBars is the largest number of per-task lines shown; above it only the
// overall line is.
const maxBars = 20

// maxErrWidth keeps a task's error on one line of a narrow terminal.
const maxErrWidth = 75

func terminal(s swarm.TaskState) bool { return stateOrder[s] > runningOrder }

// cluster is what one poll read besides the service and its tasks.
type cluster struct {
	// active holds the nodes that are not DOWN; names maps node IDs to
	// hostnames.
	active map[string]bool
	names  map[string]string
}

// updater turns one poll into rows and says whether the service converged.
type updater interface {
	update(scr *screen, svc swarm.Service, tasks []swarm.Task, c cluster, rollback bool) bool
}

func newUpdater(m swarm.ServiceMode) (updater, error) {
	switch {
	case m.Global != nil:
		return &globalUpdater{}, nil
	case m.Replicated != nil:
		return &replicatedUpdater{slots: map[int]int{}}, nil
	case m.ReplicatedJob != nil, m.GlobalJob != nil:
		return &jobUpdater{}, nil
	}
	return nil, fmt.Errorf("cannot show the progress of a %s service", modeName(m))
}

// jobUpdater shows "N out of M complete" for a job's current iteration:
// M is TotalCompletions, or for a global job the nodes its iteration's
// tasks were first seen on (nodes joining later are not waited for, as
// with the docker CLI). A job is done once M tasks completed; there is
// nothing to verify after.
type jobUpdater struct {
	total int
	nodes map[string]bool
}

func (u *jobUpdater) update(scr *screen, svc swarm.Service, tasks []swarm.Task, _ cluster, _ bool) bool {
	var iteration uint64
	if svc.JobStatus != nil {
		iteration = svc.JobStatus.JobIteration.Index
	}
	var cur []swarm.Task
	for _, t := range tasks {
		if t.JobIteration != nil && t.JobIteration.Index == iteration {
			cur = append(cur, t)
		}
	}
	if j := svc.Spec.Mode.ReplicatedJob; j != nil && j.TotalCompletions != nil {
		u.total = int(*j.TotalCompletions)
	} else if u.nodes == nil {
		if len(cur) == 0 {
			scr.set("job progress", row{action: "waiting for tasks"})
			return false
		}
		u.nodes = map[string]bool{}
		for _, t := range cur {
			u.nodes[t.NodeID] = true
		}
		u.total = len(u.nodes)
	}
	complete, active := map[string]bool{}, 0
	for _, t := range cur {
		key := fmt.Sprint(t.Slot)
		if svc.Spec.Mode.GlobalJob != nil {
			if !u.nodes[t.NodeID] {
				continue
			}
			key = t.NodeID
		}
		switch {
		case t.Status.State == swarm.TaskStateComplete:
			complete[key] = true
		case !terminal(t.Status.State):
			active++
		}
	}
	scr.set("job progress", row{action: fmt.Sprintf("%d out of %d complete", len(complete), u.total),
		current: int64(len(complete)), total: int64(u.total)})
	scr.set("active tasks", row{action: fmt.Sprintf("%d tasks", active)})
	return len(complete) >= u.total
}

func modeName(m swarm.ServiceMode) string {
	switch {
	case m.ReplicatedJob != nil:
		return "replicated job"
	case m.GlobalJob != nil:
		return "global job"
	}
	return "modeless"
}

func overall(scr *screen, running, total int, rollback bool) {
	text := fmt.Sprintf("%d out of %d tasks", running, total)
	if rollback {
		text = "rolling back update: " + text
	}
	scr.set("overall progress", row{action: text})
}

// taskRow is a task's line: its error, or its state and a bar.
func taskRow(t swarm.Task) (row, bool) {
	if t.Status.Err != "" {
		msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(t.Status.Err)
		if r := []rune(msg); len(r) > maxErrWidth {
			msg = string(r[:maxErrWidth-1]) + "…"
		}
		return row{action: msg}, true
	}
	if terminal(t.DesiredState) || terminal(t.Status.State) {
		return row{}, false
	}
	return row{
		action:  fmt.Sprintf("%-*s", stateWidth, t.Status.State),
		current: stateOrder[t.Status.State],
		total:   runningOrder,
	}, true
}

// preferred tells whether t should stand for its slot (or node) rather
// than cur: the lower desired state wins (a task being replaced has a
// higher one), then the lower observed state (with start-first, the new
// task still starting rather than the old one running).
func preferred(t, cur swarm.Task) bool {
	dt, dc := stateOrder[t.DesiredState], stateOrder[cur.DesiredState]
	if dt != dc {
		return dt < dc
	}
	return stateOrder[t.Status.State] < stateOrder[cur.Status.State]
}

func known(t swarm.Task) bool {
	return stateOrder[t.DesiredState] != 0 && stateOrder[t.Status.State] != 0
}

func isRunning(t swarm.Task) bool {
	return !terminal(t.DesiredState) && t.Status.State == swarm.TaskStateRunning
}

// replicatedUpdater shows "N out of M tasks" and a line per slot.
type replicatedUpdater struct {
	// slots maps slot numbers to lines 1..M, in order of first sight, as
	// slot numbers need not be contiguous after scaling.
	slots       map[int]int
	initialized bool
	done        bool
}

func (u *replicatedUpdater) update(scr *screen, svc swarm.Service, tasks []swarm.Task, c cluster, rollback bool) bool {
	replicas := 1
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		replicas = int(*r.Replicas)
	}
	if !u.initialized {
		overall(scr, 0, replicas, rollback)
		if replicas <= maxBars {
			for i := 1; i <= replicas; i++ {
				scr.set(fmt.Sprintf("%d/%d", i, replicas), row{})
			}
		}
		u.initialized = true
	}

	bySlot := map[int]swarm.Task{}
	for _, t := range tasks {
		if !known(t) || (t.NodeID != "" && !c.active[t.NodeID]) {
			continue
		}
		if cur, ok := bySlot[t.Slot]; ok && !preferred(t, cur) {
			continue
		}
		bySlot[t.Slot] = t
	}
	slots := slices.Sorted(func(yield func(int) bool) {
		for s := range bySlot {
			if !yield(s) {
				return
			}
		}
	})

	if u.done {
		for _, s := range slots {
			if bySlot[s].Status.State != swarm.TaskStateRunning {
				u.done = false
				break
			}
		}
	}
	running := 0
	for _, s := range slots {
		t := bySlot[s]
		line, ok := u.slots[s]
		if !ok {
			line = len(u.slots) + 1
			u.slots[s] = line
		}
		if isRunning(t) {
			running++
		}
		if u.done || replicas > maxBars || line > replicas {
			continue
		}
		if r, ok := taskRow(t); ok {
			scr.set(fmt.Sprintf("%d/%d", line, replicas), r)
		}
	}
	if !u.done {
		overall(scr, running, replicas, rollback)
		u.done = running == replicas
	}
	return running == replicas
}

// globalUpdater shows "N out of M tasks" and a line per node. M is the
// number of nodes that have an up-to-date task: the orchestrator creates
// the tasks of all eligible nodes at once.
type globalUpdater struct {
	initialized bool
	done        bool
}

func (u *globalUpdater) update(scr *screen, _ swarm.Service, tasks []swarm.Task, c cluster, rollback bool) bool {
	byNode := map[string]swarm.Task{}
	for _, t := range tasks {
		if !known(t) || !c.active[t.NodeID] {
			continue
		}
		if cur, ok := byNode[t.NodeID]; ok && !preferred(t, cur) {
			continue
		}
		byNode[t.NodeID] = t
	}
	nodes := len(byNode)
	if !u.initialized {
		if nodes == 0 {
			scr.set("overall progress", row{action: "waiting for new tasks"})
			return false
		}
		overall(scr, 0, nodes, rollback)
		u.initialized = true
	}
	ids := slices.SortedFunc(func(yield func(string) bool) {
		for id := range byNode {
			if !yield(id) {
				return
			}
		}
	}, func(a, b string) int { return strings.Compare(nodeLabel(c, a), nodeLabel(c, b)) })

	if u.done {
		for _, id := range ids {
			if byNode[id].Status.State != swarm.TaskStateRunning {
				u.done = false
				break
			}
		}
	}
	running := 0
	for _, id := range ids {
		t := byNode[id]
		if isRunning(t) {
			running++
		}
		if u.done || nodes > maxBars {
			continue
		}
		if r, ok := taskRow(t); ok {
			scr.set(nodeLabel(c, id), r)
		}
	}
	if !u.done {
		overall(scr, running, nodes, rollback)
		u.done = running == nodes
	}
	return running == nodes
}

// nodeLabel names a node's line: its hostname, or its short ID.
func nodeLabel(c cluster, id string) string {
	if n := c.names[id]; n != "" {
		return n
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
