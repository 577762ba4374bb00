package scheduler

import (
	"math"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

// filterCase is one node checked by one filter for one task.
type filterCase struct {
	name     string
	task     *model.Task
	node     *NodeInfo
	enabled  bool
	ok       bool
	capacity int // checked for capacity filters when enabled
}

func runFilterCases(t *testing.T, newFilter func() Filter, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFilter()
			if got := f.SetTask(tc.task); got != tc.enabled {
				t.Fatalf("SetTask = %v, want %v", got, tc.enabled)
			}
			if !tc.enabled {
				return
			}
			if got := f.Check(tc.node); got != tc.ok {
				t.Errorf("Check = %v, want %v", got, tc.ok)
			}
			if cf, ok := f.(CapacityFilter); ok {
				c := cf.Capacity(tc.node)
				if c != tc.capacity {
					t.Errorf("Capacity = %d, want %d", c, tc.capacity)
				}
				if (c > 0) != f.Check(tc.node) {
					t.Errorf("Capacity %d disagrees with Check", c)
				}
			}
		})
	}
}

// withTasks returns a NodeInfo for n given the tasks, which are assigned
// to n and, when still pending, made to run.
func withTasks(n *model.Node, tasks ...*model.Task) *NodeInfo {
	ni := NewNodeInfo(n)
	for _, t := range tasks {
		t.NodeID = n.ID
		if t.Status.State < model.TaskStateAssigned {
			t.Status.State = model.TaskStateRunning
		}
		ni.AddTask(t)
	}
	return ni
}

func TestReadyFilter(t *testing.T) {
	task := mkTask("t", "s")
	runFilterCases(t, func() Filter { return &ReadyFilter{} }, []filterCase{
		{"ready active", task, NewNodeInfo(mkNode("n")), true, true, 0},
		{"down", task, NewNodeInfo(mkNode("n", status(model.NodeStateDown))), true, false, 0},
		{"disconnected", task, NewNodeInfo(mkNode("n", status(model.NodeStateDisconnected))), true, false, 0},
		{"unknown", task, NewNodeInfo(mkNode("n", status(model.NodeStateUnknown))), true, false, 0},
		{"paused", task, NewNodeInfo(mkNode("n", availability(model.AvailabilityPause))), true, false, 0},
		{"drained", task, NewNodeInfo(mkNode("n", availability(model.AvailabilityDrain))), true, false, 0},
	})
}

func TestMemoryFilter(t *testing.T) {
	needs1G := mkTask("t", "s", reserve(0, gib))
	node := func(tasks ...*model.Task) *NodeInfo { return withTasks(mkNode("n", resources(4, 4*gib)), tasks...) }
	runFilterCases(t, func() Filter { return &MemoryFilter{} }, []filterCase{
		{"no reservation", mkTask("t", "s"), node(), false, false, 0},
		{"cpu only", mkTask("t", "s", reserve(1, 0)), node(), false, false, 0},
		{"empty node", needs1G, node(), true, true, 4},
		{"partly used", needs1G, node(mkTask("a", "x", reserve(0, 2*gib+1))), true, true, 1},
		{"exactly full", needs1G, node(mkTask("a", "x", reserve(0, 3*gib))), true, true, 1},
		{"too full", needs1G, node(mkTask("a", "x", reserve(0, 3*gib+1))), true, false, 0},
		{"overcommitted", needs1G, node(mkTask("a", "x", reserve(0, 5*gib))), true, false, 0},
		{"terminated tasks free memory", needs1G, node(mkTask("a", "x", reserve(0, 4*gib), observed(model.TaskStateFailed))), true, true, 4},
		{"shutting down tasks hold memory", needs1G, node(mkTask("a", "x", reserve(0, 4*gib), desired(model.TaskStateShutdown))), true, false, 0},
		{"no memory reported", needs1G, NewNodeInfo(mkNode("n", resources(4, 0))), true, false, 0},
	})
}

func TestCPUFilter(t *testing.T) {
	half := mkTask("t", "s", reserve(0.5, 0))
	node := func(tasks ...*model.Task) *NodeInfo { return withTasks(mkNode("n", resources(2, gib)), tasks...) }
	runFilterCases(t, func() Filter { return &CPUFilter{} }, []filterCase{
		{"no reservation", mkTask("t", "s"), node(), false, false, 0},
		{"memory only", mkTask("t", "s", reserve(0, gib)), node(), false, false, 0},
		{"empty node", half, node(), true, true, 4},
		{"one core used", half, node(mkTask("a", "x", reserve(1, 0))), true, true, 2},
		{"full", half, node(mkTask("a", "x", reserve(1.75, 0))), true, false, 0},
		{"huge node", mkTask("t", "s", reserve(1e-9, 0)), NewNodeInfo(mkNode("n", func(n *model.Node) {
			n.Description.Resources.NanoCPUs = math.MaxInt64
		})), true, true, math.MaxInt},
	})
}

func TestConstraintFilter(t *testing.T) {
	node := NewNodeInfo(mkNode("n", labels("zone=a"), role(model.RoleManager)))
	runFilterCases(t, func() Filter { return &ConstraintFilter{} }, []filterCase{
		{"none", mkTask("t", "s"), node, false, false, 0},
		{"match", mkTask("t", "s", constraints("node.labels.zone==a", "node.role==manager")), node, true, true, 0},
		{"one fails", mkTask("t", "s", constraints("node.labels.zone==a", "node.role!=manager")), node, true, false, 0},
		{"missing label !=", mkTask("t", "s", constraints("node.labels.rack!=r1")), node, true, true, 0},
		{"invalid refuses all", mkTask("t", "s", constraints("zone=a")), node, true, false, 0},
	})
	f := &ConstraintFilter{}
	f.SetTask(mkTask("t", "s", constraints("zone=a")))
	want := `scheduling constraints not satisfied on 2 nodes (scheduler: invalid constraint "zone=a": expected an operator, == or !=)`
	if got := f.Explain(2); got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}

func TestPlatformFilter(t *testing.T) {
	linuxAMD := NewNodeInfo(mkNode("n", platform("linux", "x86_64")))
	windows := NewNodeInfo(mkNode("n", platform("windows", "amd64")))
	armNode := NewNodeInfo(mkNode("n", platform("linux", "aarch64")))
	p := func(os, arch string) model.Platform { return model.Platform{OS: os, Architecture: arch} }
	runFilterCases(t, func() Filter { return &PlatformFilter{} }, []filterCase{
		{"none", mkTask("t", "s"), linuxAMD, false, false, 0},
		{"x86_64 is amd64", mkTask("t", "s", platforms(p("linux", "amd64"))), linuxAMD, true, true, 0},
		{"amd64 is x86_64", mkTask("t", "s", platforms(p("linux", "x86_64"))), windows, true, false, 0},
		{"aarch64 is arm64", mkTask("t", "s", platforms(p("linux", "arm64"))), armNode, true, true, 0},
		{"empty arch is any", mkTask("t", "s", platforms(p("windows", ""))), windows, true, true, 0},
		{"empty os is any", mkTask("t", "s", platforms(p("", "amd64"))), windows, true, true, 0},
		{"os case", mkTask("t", "s", platforms(p("Linux", "AMD64"))), linuxAMD, true, true, 0},
		{"any of several", mkTask("t", "s", platforms(p("windows", "amd64"), p("linux", "arm64"))), armNode, true, true, 0},
		{"none of several", mkTask("t", "s", platforms(p("windows", "amd64"), p("linux", "arm64"))), linuxAMD, true, false, 0},
	})
}

func TestHostPortFilter(t *testing.T) {
	web := mkTask("t", "s", hostPorts(8080, 9090))
	runFilterCases(t, func() Filter { return &HostPortFilter{} }, []filterCase{
		{"no ports", mkTask("t", "s"), NewNodeInfo(mkNode("n")), false, false, 0},
		{"target port only", mkTask("t", "s", hostPorts(0)), NewNodeInfo(mkNode("n")), false, false, 0},
		{"free", web, NewNodeInfo(mkNode("n")), true, true, 1},
		{"other port used", web, withTasks(mkNode("n"), mkTask("a", "x", hostPorts(8081))), true, true, 1},
		{"second port used", web, withTasks(mkNode("n"), mkTask("a", "x", hostPorts(9090))), true, false, 0},
		{"freed by termination", web, withTasks(mkNode("n"), mkTask("a", "x", hostPorts(8080), observed(model.TaskStateComplete))), true, true, 1},
	})
	udp := mkTask("t", "s", func(t *model.Task) {
		t.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{Protocol: "udp", PublishedPort: 8080, PublishMode: "host"}}}
	})
	f := &HostPortFilter{}
	f.SetTask(udp)
	if !f.Check(withTasks(mkNode("n"), mkTask("a", "x", hostPorts(8080)))) {
		t.Error("udp 8080 refused on a node publishing tcp 8080")
	}
}

func TestMaxReplicasFilter(t *testing.T) {
	task := mkTask("t", "s", maxReplicas(2))
	runFilterCases(t, func() Filter { return &MaxReplicasFilter{} }, []filterCase{
		{"unset", mkTask("t", "s"), NewNodeInfo(mkNode("n")), false, false, 0},
		{"empty", task, NewNodeInfo(mkNode("n")), true, true, 2},
		{"other service", task, withTasks(mkNode("n"), mkTask("a", "x"), mkTask("b", "x")), true, true, 2},
		{"one", task, withTasks(mkNode("n"), mkTask("a", "s")), true, true, 1},
		{"at limit", task, withTasks(mkNode("n"), mkTask("a", "s"), mkTask("b", "s")), true, false, 0},
		{"shutting down does not count", task, withTasks(mkNode("n"), mkTask("a", "s"), mkTask("b", "s", desired(model.TaskStateShutdown))), true, true, 1},
		{"huge", mkTask("t", "s", maxReplicas(math.MaxUint64)), NewNodeInfo(mkNode("n")), true, true, math.MaxInt},
	})
}

func TestFilterExplain(t *testing.T) {
	for _, tc := range []struct {
		f           Filter
		one, plural string
	}{
		{&ReadyFilter{}, "1 node not available for new tasks", "3 nodes not available for new tasks"},
		{&MemoryFilter{}, "1 node insufficient memory", "3 nodes insufficient memory"},
		{&CPUFilter{}, "1 node insufficient cpu", "3 nodes insufficient cpu"},
		{&ConstraintFilter{}, "scheduling constraints not satisfied on 1 node", "scheduling constraints not satisfied on 3 nodes"},
		{&PlatformFilter{}, "unsupported platform on 1 node", "unsupported platform on 3 nodes"},
		{&HostPortFilter{}, "host-mode port already in use on 1 node", "host-mode port already in use on 3 nodes"},
		{&MaxReplicasFilter{}, "max replicas per node limit exceed on 1 node", "max replicas per node limit exceed on 3 nodes"},
	} {
		if got := tc.f.Explain(1); got != tc.one {
			t.Errorf("%T.Explain(1) = %q, want %q", tc.f, got, tc.one)
		}
		if got := tc.f.Explain(3); got != tc.plural {
			t.Errorf("%T.Explain(3) = %q, want %q", tc.f, got, tc.plural)
		}
	}
}
