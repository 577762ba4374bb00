package scheduler

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

var seedFlag = flag.Uint64("scheduler.seed", 0, "first seed of TestPlaceTasksAgreesWithReference; 0 picks one from the clock")

// referencePlace is the naive scheduler PlaceTasks is checked against. It
// follows the rules of doc.go literally and nothing more: one task at a
// time, pinned ones first; every node run through a fresh pipeline over the
// state the previous tasks left (on copies of the NodeInfos, which get each
// task as it is placed); preferences by counting each branch's tasks over
// all nodes; the best node by a linear scan. No capacities, heaps or trees.
func referencePlace(tasks []*model.Task, nodes []*NodeInfo, opts Options) []Decision {
	work := make([]*NodeInfo, len(nodes))
	byID := map[string]*NodeInfo{}
	for i, n := range nodes {
		work[i] = cloneNodeInfo(n)
		byID[n.node.ID] = work[i]
	}
	ds := make([]Decision, len(tasks))
	for i, t := range tasks {
		ds[i].Task = t
	}
	if len(tasks) == 0 {
		return nil
	}
	sid := tasks[0].ServiceID
	prefs, err := parsePreferences(tasks[0].Spec.Placement.Preferences)
	if err == nil {
		_, err = ParseConstraints(tasks[0].Spec.Placement.Constraints)
	}
	if err != nil {
		for i := range ds {
			ds[i].Err = noSuitableNode(err.Error())
		}
		return ds
	}
	assign := func(i int, n *NodeInfo) {
		t := *tasks[i]
		t.NodeID = n.node.ID
		t.Status.State = model.TaskStateAssigned
		n.AddTask(&t)
		ds[i].NodeID = n.node.ID
	}
	p := NewPipeline()
	for i, t := range tasks {
		if t.NodeID == "" {
			continue
		}
		n := byID[t.NodeID]
		if n == nil {
			ds[i].Err = noSuitableNode("node " + t.NodeID + " not found")
			continue
		}
		p.SetTask(t)
		if p.Process(n) {
			assign(i, n)
		} else {
			ds[i].Err = noSuitableNode(p.Explain())
		}
	}
	for i, t := range tasks {
		if t.NodeID != "" {
			continue
		}
		p.SetTask(t)
		var ok []*NodeInfo
		for _, n := range work {
			if p.Process(n) {
				ok = append(ok, n)
			}
		}
		if len(ok) == 0 {
			ds[i].Err = noSuitableNode(p.Explain())
			continue
		}
		var path []string
		for _, pref := range prefs {
			best, bestTasks := "", -1
			for _, n := range ok {
				v := pref.branchValue(n.node)
				k := branchTasksRef(work, prefs, append(path, v), sid)
				if bestTasks < 0 || k < bestTasks || (k == bestTasks && v < best) {
					best, bestTasks = v, k
				}
			}
			path = append(path, best)
			ok = slices.DeleteFunc(ok, func(n *NodeInfo) bool { return pref.branchValue(n.node) != best })
		}
		best := ok[0]
		for _, n := range ok[1:] {
			if refBetter(n, best, t, opts, sid) {
				best = n
			}
		}
		assign(i, best)
	}
	return ds
}

// branchTasksRef counts the service's tasks on the nodes whose preference
// values start with path.
func branchTasksRef(nodes []*NodeInfo, prefs []preference, path []string, sid string) int {
	sum := 0
next:
	for _, n := range nodes {
		for l, v := range path {
			if prefs[l].branchValue(n.node) != v {
				continue next
			}
		}
		sum += n.ServiceTasks(sid)
	}
	return sum
}

// refBetter is the ranking of doc.go, read off the NodeInfos.
func refBetter(a, b *NodeInfo, t *model.Task, opts Options, sid string) bool {
	fa := a.RecentFailures(sid, opts.Now) >= FailureThreshold
	fb := b.RecentFailures(sid, opts.Now) >= FailureThreshold
	if fa != fb {
		return fb
	}
	var ka, kb []int
	switch opts.Strategy {
	case model.StrategyBinpack:
		ka = []int{refRoom(a, t), -a.ServiceTasks(sid), -a.ActiveTasks()}
		kb = []int{refRoom(b, t), -b.ServiceTasks(sid), -b.ActiveTasks()}
	default:
		ka = []int{a.ServiceTasks(sid), a.ActiveTasks()}
		kb = []int{b.ServiceTasks(sid), b.ActiveTasks()}
	}
	if c := slices.Compare(ka, kb); c != 0 {
		return c < 0
	}
	return a.node.ID < b.node.ID
}

// refRoom is how many more tasks like t fit on n, by arithmetic.
func refRoom(n *NodeInfo, t *model.Task) int {
	room := math.MaxInt
	need, avail := t.Spec.Resources.Reservations, n.Available()
	if need.MemoryBytes > 0 {
		room = min(room, int(avail.MemoryBytes/need.MemoryBytes))
	}
	if need.NanoCPUs > 0 {
		room = min(room, int(avail.NanoCPUs/need.NanoCPUs))
	}
	if m := t.Spec.Placement.MaxReplicas; m > 0 {
		room = min(room, int(m)-n.ServiceTasks(t.ServiceID))
	}
	if len(publishedHostPorts(t)) > 0 {
		room = min(room, 1)
	}
	return room
}

func cloneNodeInfo(n *NodeInfo) *NodeInfo {
	c := *n
	c.tasks = maps.Clone(n.tasks)
	c.serviceTasks = maps.Clone(n.serviceTasks)
	c.hostPorts = maps.Clone(n.hostPorts)
	c.taskPorts = maps.Clone(n.taskPorts)
	c.failures = maps.Clone(n.failures)
	return &c
}

// randomCase is one random input: nodes with tasks and failures, and a
// group of tasks of the service "svc".
type randomCase struct {
	nodes []*NodeInfo
	tasks []*model.Task
	opts  Options
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func genCase(r *rand.Rand) randomCase {
	now := t0
	var c randomCase
	c.opts = Options{Now: now, Strategy: pick[model.PlacementStrategy](r, "", model.StrategySpread, model.StrategySpread, model.StrategyBinpack)}
	nNodes := r.IntN(25)
	for i := range nNodes {
		id := fmt.Sprintf("n%02d", i)
		opts := []nodeOpt{
			resources(pick(r, 0.5, 1, 2, 4, 8), pick(r, 0, gib, 2*gib, 4*gib, 8*gib, 16*gib)),
			platform(pick(r, "linux", "linux", "linux", "windows"), pick(r, "amd64", "amd64", "x86_64", "arm64")),
		}
		if r.IntN(100) < 15 {
			opts = append(opts, status(pick(r, model.NodeStateDown, model.NodeStateDisconnected, model.NodeStateUnknown)))
		}
		if r.IntN(100) < 15 {
			opts = append(opts, availability(pick(r, model.AvailabilityPause, model.AvailabilityDrain)))
		}
		if r.IntN(100) < 20 {
			opts = append(opts, role(model.RoleManager))
		}
		var ls []string
		if r.IntN(100) < 80 {
			ls = append(ls, "zone="+pick(r, "a", "b", "c"))
		}
		if r.IntN(100) < 60 {
			ls = append(ls, "rack="+pick(r, "r1", "r2"))
		}
		opts = append(opts, labels(ls...))
		if r.IntN(2) == 0 {
			opts = append(opts, engineLabels("storage=ssd"))
		}
		ni := NewNodeInfo(mkNode(id, opts...))
		for j := range r.IntN(6) {
			topts := []taskOpt{runningOn(id), reserve(pick(r, 0, 0.25, 1), pick(r, 0, 256*mib, gib, 2*gib))}
			if r.IntN(10) == 0 {
				topts = append(topts, desired(model.TaskStateShutdown))
			}
			if r.IntN(10) == 0 {
				topts = append(topts, hostPorts(pick[uint32](r, 8080, 9090)))
			}
			ni.AddTask(mkTask(fmt.Sprintf("%s-t%d", id, j), pick(r, "svc", "svc", "other"), topts...))
		}
		switch k := r.IntN(100); {
		case k < 15:
			for range FailureThreshold {
				ni.TaskFailed("svc", now.Add(-time.Duration(r.IntN(240))*time.Second))
			}
		case k < 25:
			for range FailureThreshold - 1 {
				ni.TaskFailed("svc", now)
			}
		case k < 30:
			for range FailureThreshold {
				ni.TaskFailed("svc", now.Add(-FailureWindow-time.Duration(r.IntN(300))*time.Second))
			}
		}
		c.nodes = append(c.nodes, ni)
	}
	r.Shuffle(len(c.nodes), func(i, j int) { c.nodes[i], c.nodes[j] = c.nodes[j], c.nodes[i] })

	var topts []taskOpt
	if r.IntN(100) < 60 {
		topts = append(topts, reserve(pick(r, 0, 0.25, 0.5, 1, 2), pick(r, 0, 256*mib, 512*mib, gib, 3*gib)))
	}
	if r.IntN(2) == 0 {
		all := []string{"node.labels.zone==a", "node.labels.zone!=b", "node.role==worker", "node.role!=worker",
			"engine.labels.storage==ssd", "node.platform.arch==arm64", "node.hostname!=n03", "node.labels.rack==r1"}
		cs := []string{pick(r, all...)}
		if r.IntN(2) == 0 {
			cs = append(cs, pick(r, all...))
		}
		if r.IntN(30) == 0 {
			cs = append(cs, "zone=a")
		}
		topts = append(topts, constraints(cs...))
	}
	if r.IntN(100) < 30 {
		topts = append(topts, maxReplicas(uint64(1+r.IntN(3))))
	}
	if r.IntN(100) < 20 {
		topts = append(topts, platforms(pick(r, model.Platform{OS: "linux", Architecture: "amd64"}, model.Platform{OS: "linux"}, model.Platform{OS: "windows"})))
	}
	if r.IntN(100) < 10 {
		topts = append(topts, hostPorts(pick[uint32](r, 8080, 9090)))
	}
	switch k := r.IntN(100); {
	case k < 25:
		topts = append(topts, prefs("node.labels.zone"))
	case k < 40:
		topts = append(topts, prefs("node.labels.zone", "node.labels.rack"))
	case k < 45:
		topts = append(topts, prefs("node.platform.os"))
	}
	n := 1 + r.IntN(60)
	c.tasks = group("svc", n, topts...)
	switch k := r.IntN(100); {
	case k < 12: // a global service: every task pinned
		for _, t := range c.tasks {
			t.NodeID = fmt.Sprintf("n%02d", r.IntN(nNodes+2))
		}
	case k < 17: // a few pinned tasks first, then free ones
		for _, t := range c.tasks[:r.IntN(n)] {
			t.NodeID = fmt.Sprintf("n%02d", r.IntN(nNodes+2))
		}
	}
	return c
}

func (c randomCase) String() string {
	var b strings.Builder
	t := c.tasks[0]
	fmt.Fprintf(&b, "%d tasks, strategy %q, reserve %+v, placement %+v, ports %v\n", len(c.tasks), c.opts.Strategy,
		t.Spec.Resources.Reservations, t.Spec.Placement, publishedHostPorts(t))
	for _, n := range c.nodes {
		nd := n.node
		fmt.Fprintf(&b, "  %s %s/%s %s %s/%s cpu %d mem %d labels %v engine %v: svc %d, active %d, reserved %+v, failing %v\n",
			nd.ID, nd.Status.State, nd.Spec.Availability, nd.Role, nd.Description.Platform.OS, nd.Description.Platform.Architecture,
			nd.Description.Resources.NanoCPUs, nd.Description.Resources.MemoryBytes, nd.Spec.Labels, nd.Description.Engine.Labels,
			n.ServiceTasks("svc"), n.ActiveTasks(), n.Reserved(), n.failing("svc", c.opts.Now))
	}
	return b.String()
}

// TestPlaceTasksAgreesWithReference runs PlaceTasks and referencePlace on
// random inputs. Both must agree on every pinned task, on how many tasks
// each node gets and on the explanation of those left over; without
// preferences, on the node of every task. The invariants of doc.go must
// hold after PlaceTasks's decisions.
func TestPlaceTasksAgreesWithReference(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	runs := 4000
	if testing.Short() {
		runs = 400
	}
	for i := range runs {
		s := seed + uint64(i)
		c := genCase(rand.New(rand.NewPCG(s, s)))
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (replay: go test ./scheduler -run 'TestPlaceTasksAgreesWithReference$' -scheduler.seed=%d):\n%s\n%s",
				s, s, fmt.Sprintf(format, args...), c)
		}
		got, err := PlaceTasks(c.tasks, c.nodes, c.opts)
		if err != nil {
			fail("PlaceTasks: %v", err)
		}
		want := referencePlace(c.tasks, c.nodes, c.opts)
		if msg := compareDecisions(got, want, len(c.tasks[0].Spec.Placement.Preferences) == 0); msg != "" {
			fail("%s", msg)
		}
		if msg := checkInvariants(c, got); msg != "" {
			fail("%s", msg)
		}
	}
}

func compareDecisions(got, want []Decision, sameOrder bool) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d decisions, reference %d", len(got), len(want))
	}
	gotCount, wantCount := map[string]int{}, map[string]int{}
	var gotErr, wantErr []string
	for i := range got {
		g, w := got[i], want[i]
		if g.Task != w.Task {
			return fmt.Sprintf("decision %d is for task %s, reference %s", i, g.Task.ID, w.Task.ID)
		}
		if g.Placed() == (g.Err != "") {
			return fmt.Sprintf("%s: node %q with err %q", g.Task.ID, g.NodeID, g.Err)
		}
		if g.Task.NodeID != "" || sameOrder {
			if g.NodeID != w.NodeID || g.Err != w.Err {
				return fmt.Sprintf("%s: node %q err %q; reference node %q err %q", g.Task.ID, g.NodeID, g.Err, w.NodeID, w.Err)
			}
			continue
		}
		gotCount[g.NodeID]++
		wantCount[w.NodeID]++
		if g.Err != "" {
			gotErr = append(gotErr, g.Err)
		}
		if w.Err != "" {
			wantErr = append(wantErr, w.Err)
		}
	}
	if !maps.Equal(gotCount, wantCount) {
		return fmt.Sprintf("tasks per node %v, reference %v", gotCount, wantCount)
	}
	if !slices.Equal(gotErr, wantErr) {
		return fmt.Sprintf("errors %q, reference %q", gotErr, wantErr)
	}
	return ""
}

// checkInvariants applies the decisions to copies of the nodes and checks
// what must hold whatever the ranking: no node over its resources, max
// replicas or ports; spread even within 1 where nothing prevents it; branches
// of preferences even within 1 where nothing prevents it; binpack leaving
// at most one partly filled node per leaf.
func checkInvariants(c randomCase, ds []Decision) string {
	work := make([]*NodeInfo, len(c.nodes))
	byID := map[string]*NodeInfo{}
	for i, n := range c.nodes {
		work[i] = cloneNodeInfo(n)
		byID[n.node.ID] = work[i]
	}
	received := map[*NodeInfo]int{} // free tasks only
	for _, d := range ds {
		if !d.Placed() {
			continue
		}
		t := d.Apply(c.opts.Now)
		n := byID[d.NodeID]
		n.AddTask(t)
		if d.Task.NodeID == "" {
			received[n]++
		}
	}
	task := c.tasks[0]
	need := task.Spec.Resources.Reservations
	p := NewPipeline()
	p.SetTask(task)
	open := map[*NodeInfo]bool{} // nodes that would take one more task
	for _, n := range work {
		open[n] = p.Process(n)
	}
	for _, n := range work {
		if received[n] == 0 {
			continue
		}
		id, a := n.node.ID, n.Available()
		if (need.MemoryBytes > 0 && a.MemoryBytes < 0) || (need.NanoCPUs > 0 && a.NanoCPUs < 0) {
			return fmt.Sprintf("node %s over its resources: available %+v", id, a)
		}
		if m := task.Spec.Placement.MaxReplicas; m > 0 && uint64(n.ServiceTasks("svc")) > m {
			return fmt.Sprintf("node %s runs %d tasks, max replicas %d", id, n.ServiceTasks("svc"), m)
		}
		for _, port := range publishedHostPorts(task) {
			if k := n.hostPorts[port]; k > 1 {
				return fmt.Sprintf("node %s publishes %v %d times", id, port, k)
			}
		}
	}

	prefs, _ := parsePreferences(task.Spec.Placement.Preferences)
	binpack := c.opts.Strategy == model.StrategyBinpack
	// Leaves: nodes sharing all preference values.
	leaves := map[string][]*NodeInfo{}
	for _, n := range work {
		leaves[branchPath(prefs, n, len(prefs))] = append(leaves[branchPath(prefs, n, len(prefs))], n)
	}
	for _, leaf := range leaves {
		if binpack {
			partial := 0
			for _, n := range leaf {
				if received[n] > 0 && open[n] {
					partial++
				}
			}
			if partial > 1 {
				return fmt.Sprintf("binpack left %d nodes of a leaf partly filled", partial)
			}
			continue
		}
		for _, i := range leaf {
			for _, j := range leaf {
				if received[i] == 0 || !open[j] {
					continue
				}
				fi, fj := i.failing("svc", c.opts.Now), j.failing("svc", c.opts.Now)
				if fi && !fj {
					return fmt.Sprintf("failing node %s got a task while %s had room", i.node.ID, j.node.ID)
				}
				if fi == fj && i.ServiceTasks("svc") > j.ServiceTasks("svc")+1 {
					return fmt.Sprintf("spread uneven: %s has %d, %s has %d and room", i.node.ID, i.ServiceTasks("svc"), j.node.ID, j.ServiceTasks("svc"))
				}
			}
		}
	}
	// Branches at each level: one that received tasks holds at most one
	// more than a sibling with room left.
	for level := 1; level <= len(prefs); level++ {
		tasksOf, receivedBy, roomIn := map[string]int{}, map[string]int{}, map[string]bool{}
		for _, n := range work {
			b := branchPath(prefs, n, level)
			tasksOf[b] += n.ServiceTasks("svc")
			receivedBy[b] += received[n]
			roomIn[b] = roomIn[b] || open[n]
		}
		for bi := range tasksOf {
			for bj := range tasksOf {
				if receivedBy[bi] == 0 || !roomIn[bj] || parentPath(bi) != parentPath(bj) {
					continue
				}
				if tasksOf[bi] > tasksOf[bj]+1 {
					return fmt.Sprintf("preference level %d uneven: branch %q has %d, %q has %d and room", level, bi, tasksOf[bi], bj, tasksOf[bj])
				}
			}
		}
	}
	return ""
}

// branchPath names a node's branch down to a level: its values joined.
func branchPath(prefs []preference, n *NodeInfo, level int) string {
	var parts []string
	for _, p := range prefs[:level] {
		parts = append(parts, p.branchValue(n.node))
	}
	return "/" + strings.Join(parts, "/")
}

func parentPath(path string) string { return path[:strings.LastIndex(path, "/")] }
