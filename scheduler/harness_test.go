package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/state"
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
	tasks   map[string]*state.Task // every task placed, as last applied
	slots   map[string]int         // last slot used per service
	version uint64                 // spec version of the next group
	log     []string
}

func newHarness(t *testing.T, nodes ...*state.Node) *harness {
	h := &harness{
		t:     t,
		now:   t0,
		byID:  map[string]*NodeInfo{},
		tasks: map[string]*state.Task{},
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
func (h *harness) place(service string, n int, strategy state.PlacementStrategy, opts ...taskOpt) {
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
	var tasks []*state.Task
	for _, id := range nodeIDs {
		tasks = append(tasks, mkTask(service+"."+id, service, append(opts, pinnedTo(id), specVersion(h.version))...))
	}
	h.run(service+" global", tasks, "")
}

func (h *harness) run(what string, tasks []*state.Task, strategy state.PlacementStrategy) {
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
func (h *harness) checkNodes(what string, task *state.Task) {
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
func (h *harness) setNode(n *state.Node) {
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
		done.Status.State = state.TaskStateShutdown
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

func TestScenarioDrainAndReplace(t *testing.T) {
	h := newHarness(t,
		mkNode("a", labels("zone=a")),
		mkNode("b", labels("zone=b")),
		mkNode("c", labels("zone=c")),
	)
	h.place("web", 6, "")
	h.place("api", 4, "")
	h.setNode(mkNode("c", labels("zone=c"), availability(state.AvailabilityDrain)))
	// The orchestrator shuts web's tasks on c down and asks for two more.
	h.finish("web.3", "web.6")
	h.place("web", 2, "")
	h.expect(`
		web x6: a+2 b+2 c+2
		api x4: a+2 b+1 c+1
		node c ready drain
		finish web.3 web.6
		web x2: a+1 b+1
	`)
}

func TestScenarioExplanations(t *testing.T) {
	h := newHarness(t,
		mkNode("big", resources(8, 16*gib)),
		mkNode("small1", resources(2, 2*gib)),
		mkNode("small2", resources(2, 2*gib)),
		mkNode("paused", availability(state.AvailabilityPause)),
		mkNode("down", status(state.NodeStateDown)),
		mkNode("arm", platform("linux", "arm64")),
	)
	h.place("db", 3, "", reserve(2, 6*gib), platforms(state.Platform{OS: "linux", Architecture: "amd64"}))
	h.place("cache", 1, "", reserve(4, gib), constraints("node.hostname!=big"))
	h.finish("db.1")
	h.place("db", 1, "", reserve(2, 6*gib))
	h.place("lb", 3, "", hostPorts(443), constraints("node.platform.arch==amd64"))
	h.expect(`
		db x3: big+2 | 1 pending: no suitable node (2 nodes not available for new tasks; 3 nodes insufficient memory; unsupported platform on 1 node)
		cache x1: arm+1
		finish db.1
		db x1: big+1
		lb x3: big+1 small1+1 small2+1
	`)
}

func TestScenarioPortsAndMaxReplicas(t *testing.T) {
	h := newHarness(t, mkNode("a"), mkNode("b"), mkNode("c"))
	h.place("lb", 5, "", hostPorts(80))
	h.place("web", 7, "", maxReplicas(2))
	h.place("other", 2, "", hostPorts(80, 443))
	h.expect(`
		lb x5: a+1 b+1 c+1 | 2 pending: no suitable node (host-mode port already in use on 3 nodes)
		web x7: a+2 b+2 c+2 | 1 pending: no suitable node (max replicas per node limit exceed on 3 nodes)
		other x2: | 2 pending: no suitable node (host-mode port already in use on 3 nodes)
	`)
}

func TestScenarioFailingNode(t *testing.T) {
	h := newHarness(t, mkNode("a"), mkNode("b"), mkNode("c"))
	h.place("web", 3, "")
	h.finish("web.1")
	h.fail("a", "web", FailureThreshold)
	h.place("web", 1, "")
	h.place("web", 2, "")
	h.place("api", 1, "")
	h.advance(FailureWindow)
	h.place("web", 2, "")
	h.expect(`
		web x3: a+1 b+1 c+1
		finish web.1
		web failed 5 times on a
		web x1: b+1
		web x2: b+1 c+1
		api x1: a+1
		after 5m0s
		web x2: a+2
	`)
}

func TestScenarioGlobalService(t *testing.T) {
	h := newHarness(t,
		mkNode("a"),
		mkNode("b", availability(state.AvailabilityDrain)),
		mkNode("c", resources(1, 8*gib)),
		mkNode("d", role(state.RoleManager)),
	)
	h.global("agent", []string{"a", "b", "c", "d", "gone"}, reserve(2, gib), constraints("node.role==worker"))
	h.expect(`
		agent global: a+1 | 1 pending: no suitable node (1 node insufficient cpu) | 1 pending: no suitable node (1 node not available for new tasks) | 1 pending: no suitable node (node gone not found) | 1 pending: no suitable node (scheduling constraints not satisfied on 1 node)
	`)
}

func TestScenarioBinpackKeepsNodesEmpty(t *testing.T) {
	h := newHarness(t,
		mkNode("a", resources(4, 8*gib)),
		mkNode("b", resources(4, 8*gib)),
		mkNode("c", resources(16, 64*gib)),
	)
	h.place("batch", 6, state.StrategyBinpack, reserve(1, 2*gib))
	h.place("ml", 1, state.StrategyBinpack, reserve(12, 48*gib))
	h.place("batch", 3, state.StrategyBinpack, reserve(1, 2*gib))
	h.expect(`
		batch x6 binpack: a+4 b+2
		ml x1 binpack: c+1
		batch x3 binpack: b+2 c+1
	`)
}

func TestScenarioZones(t *testing.T) {
	h := newHarness(t,
		mkNode("a1", labels("zone=a", "rack=1")),
		mkNode("a2", labels("zone=a", "rack=2")),
		mkNode("b1", labels("zone=b", "rack=1")),
		mkNode("x", labels("rack=1")), // no zone
	)
	h.place("web", 1, "")
	h.place("web", 6, "", prefs("node.labels.zone"))
	h.setNode(mkNode("b1", labels("zone=b", "rack=1"), status(state.NodeStateDown)))
	h.place("web", 3, "", prefs("node.labels.zone", "node.labels.rack"))
	h.expect(`
		web x1: a1+1
		web x6: a2+1 b1+2 x+3
		node b1 down active
		web x3: a1+1 a2+1 x+1
	`)
}
