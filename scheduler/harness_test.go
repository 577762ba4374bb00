package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// harness plays the store-driven scheduler without a store or a cluster:
// each round places a group, applies the placements to the NodeInfos as
// the real loop would, checks the invariants, and records one line of
// transcript. Tests compare the transcript with what they expect.
type harness struct {
	t       *testing.T
	now     time.Time
	nodes   []*NodeInfo
	byID    map[string]*NodeInfo
	tasks   map[string]*model.Task // every task placed, as last applied
	slots   map[string]int         // last slot used per service
	version uint64                 // spec version of the next group
	log     []string
}

func newHarness(t *testing.T, nodes ...*model.Node) *harness {
	h := &harness{
		t:     t,
		now:   t0,
		byID:  map[string]*NodeInfo{},
		tasks: map[string]*model.Task{},
		slots: map[string]int{},
	}
	for _, n := range nodes {
		ni := NewNodeInfo(n)
		h.nodes = append(h.nodes, ni)
		h.byID[n.ID] = ni
	}
	return h
}

// place schedules n new tasks of a service, spread unless opts say binpack.
func (h *harness) place(service string, n int, strategy model.PlacementStrategy, opts ...taskOpt) {
	h.t.Helper()
	h.version++
	tasks := group(service, n, append(opts, specVersion(h.version))...)
	for _, t := range tasks {
		h.slots[service]++
		t.Slot = uint64(h.slots[service])
		t.ID = fmt.Sprintf("%s.%d", service, t.Slot)
	}
	h.run(fmt.Sprintf("%s x%d", service, n), tasks, strategy)
}

// global schedules one task of the service pinned to each named node.
func (h *harness) global(service string, nodeIDs []string, opts ...taskOpt) {
	h.t.Helper()
	h.version++
	var tasks []*model.Task
	for _, id := range nodeIDs {
		tasks = append(tasks, mkTask(service+"."+id, service, append(opts, pinnedTo(id), specVersion(h.version))...))
	}
	h.run(service+" global", tasks, "")
}

func (h *harness) run(what string, tasks []*model.Task, strategy model.PlacementStrategy) {
	h.t.Helper()
	ds, err := PlaceTasks(tasks, h.nodes, Options{Strategy: strategy, Now: h.now})
	if err != nil {
		h.t.Fatalf("%s: %v", what, err)
	}
	perNode := map[string]int{}
	pending := map[string]int{}
	for _, d := range ds {
		if !d.Placed() {
			pending[d.Err]++
			continue
		}
		t := d.Apply(h.now)
		if !h.byID[t.NodeID].AddTask(t) {
			h.t.Fatalf("%s: %s placed on %s but not recorded there", what, t.ID, t.NodeID)
		}
		h.tasks[t.ID] = t
		perNode[t.NodeID]++
	}
	h.checkNodes(what, tasks[0])

	line := what
	if strategy != "" {
		line += " " + string(strategy)
	}
	line += ":"
	for _, id := range sortedKeys(perNode) {
		line += fmt.Sprintf(" %s+%d", id, perNode[id])
	}
	for _, msg := range sortedKeys(pending) {
		line += fmt.Sprintf(" | %d pending: %s", pending[msg], msg)
	}
	h.log = append(h.log, line)
}

// checkNodes fails the test when a node holds more than it should.
func (h *harness) checkNodes(what string, task *model.Task) {
	h.t.Helper()
	for _, ni := range h.nodes {
		id := ni.Node().ID
		if ni.tasks == nil {
			continue
		}
		if a := ni.Available(); (a.MemoryBytes < 0 && ni.Reserved().MemoryBytes > 0) || (a.NanoCPUs < 0 && ni.Reserved().NanoCPUs > 0) {
			h.t.Errorf("%s: node %s over its resources: available %+v", what, id, a)
		}
		if m := task.Spec.Placement.MaxReplicas; m > 0 && uint64(ni.ServiceTasks(task.ServiceID)) > m {
			h.t.Errorf("%s: node %s runs %d tasks of %s, max %d", what, id, ni.ServiceTasks(task.ServiceID), task.ServiceID, m)
		}
		for p, k := range ni.hostPorts {
			if k > 1 {
				h.t.Errorf("%s: node %s publishes %v %d times", what, id, p, k)
			}
		}
	}
}

// setNode replaces a node, as a node update on the change feed does.
func (h *harness) setNode(n *model.Node) {
	h.byID[n.ID].SetNode(n)
	h.log = append(h.log, fmt.Sprintf("node %s %s %s", n.ID, n.Status.State, n.Spec.Availability))
}

// finish ends tasks: they shut down and free their node.
func (h *harness) finish(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		t, ok := h.tasks[id]
		if !ok {
			h.t.Fatalf("finish: no task %s", id)
		}
		done := *t
		done.Status.State = model.TaskStateShutdown
		h.byID[t.NodeID].AddTask(&done)
		delete(h.tasks, id)
	}
	h.log = append(h.log, "finish "+strings.Join(ids, " "))
}

// fail records failures of a service's tasks on a node, now.
func (h *harness) fail(nodeID, service string, times int) {
	for range times {
		h.byID[nodeID].TaskFailed(service, h.now)
	}
	h.log = append(h.log, fmt.Sprintf("%s failed %d times on %s", service, times, nodeID))
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.log = append(h.log, "after "+d.String())
}

// expect compares the transcript since the last expect with want, one
// entry per line, leading tabs ignored.
func (h *harness) expect(want string) {
	h.t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	got := strings.Join(h.log, "\n")
	if w := strings.Join(lines, "\n"); got != w {
		h.t.Errorf("transcript:\n%s\nwant:\n%s", got, w)
	}
	h.log = nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
