package scheduler

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/state"
)

// Builders of nodes and tasks for the tests. A node is ready, active, a
// linux/amd64 worker with 4 CPUs and 8 GiB unless told otherwise.

const (
	gib  = int64(1) << 30
	mib  = int64(1) << 20
	core = int64(1e9)
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type nodeOpt func(*state.Node)

func mkNode(id string, opts ...nodeOpt) *state.Node {
	n := &state.Node{
		ID:   id,
		Spec: state.NodeSpec{Availability: state.AvailabilityActive, DesiredRole: state.RoleWorker},
		Role: state.RoleWorker,
		Description: state.NodeDescription{
			Hostname:  id,
			Platform:  state.Platform{OS: "linux", Architecture: "amd64"},
			Resources: state.Resources{NanoCPUs: 4 * core, MemoryBytes: 8 * gib},
		},
		Status: state.NodeStatus{State: state.NodeStateReady},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func status(s state.NodeState) nodeOpt { return func(n *state.Node) { n.Status.State = s } }

func availability(a state.Availability) nodeOpt {
	return func(n *state.Node) { n.Spec.Availability = a }
}

func role(r state.NodeRole) nodeOpt { return func(n *state.Node) { n.Role = r } }

func hostname(h string) nodeOpt { return func(n *state.Node) { n.Description.Hostname = h } }

func platform(os, arch string) nodeOpt {
	return func(n *state.Node) { n.Description.Platform = state.Platform{OS: os, Architecture: arch} }
}

func resources(cpus float64, mem int64) nodeOpt {
	return func(n *state.Node) {
		n.Description.Resources = state.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}
	}
}

// labels sets node labels from "key=value" pairs.
func labels(kv ...string) nodeOpt {
	return func(n *state.Node) { n.Spec.Labels = pairs(kv) }
}

func engineLabels(kv ...string) nodeOpt {
	return func(n *state.Node) { n.Description.Engine.Labels = pairs(kv) }
}

func pairs(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return m
}

type taskOpt func(*state.Task)

// mkTask returns a pending task of the service, desired running, at spec
// version 1.
func mkTask(id, serviceID string, opts ...taskOpt) *state.Task {
	t := &state.Task{
		ID:           id,
		ServiceID:    serviceID,
		ServiceName:  serviceID,
		SpecVersion:  state.Version{Index: 1},
		DesiredState: state.TaskStateRunning,
		Status:       state.TaskStatus{State: state.TaskStatePending},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func reserve(cpus float64, mem int64) taskOpt {
	return func(t *state.Task) {
		t.Spec.Resources.Reservations = state.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}
	}
}

func constraints(c ...string) taskOpt {
	return func(t *state.Task) { t.Spec.Placement.Constraints = c }
}

func prefs(spread ...string) taskOpt {
	return func(t *state.Task) {
		for _, s := range spread {
			t.Spec.Placement.Preferences = append(t.Spec.Placement.Preferences, state.PlacementPreference{Spread: s})
		}
	}
}

func maxReplicas(n uint64) taskOpt { return func(t *state.Task) { t.Spec.Placement.MaxReplicas = n } }

func platforms(p ...state.Platform) taskOpt {
	return func(t *state.Task) { t.Spec.Placement.Platforms = p }
}

func hostPorts(ports ...uint32) taskOpt {
	return func(t *state.Task) {
		t.Endpoint = &state.EndpointSpec{}
		for _, p := range ports {
			t.Endpoint.Ports = append(t.Endpoint.Ports, state.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: p, PublishMode: "host"})
		}
	}
}

func pinnedTo(nodeID string) taskOpt { return func(t *state.Task) { t.NodeID = nodeID } }

func specVersion(v uint64) taskOpt {
	return func(t *state.Task) { t.SpecVersion = state.Version{Index: v} }
}

// runningOn makes the task one that occupies the node.
func runningOn(nodeID string) taskOpt {
	return func(t *state.Task) {
		t.NodeID = nodeID
		t.Status.State = state.TaskStateRunning
	}
}

func desired(s state.TaskState) taskOpt { return func(t *state.Task) { t.DesiredState = s } }

func observed(s state.TaskState) taskOpt { return func(t *state.Task) { t.Status.State = s } }

// group returns n pending tasks of a service sharing one spec: IDs are
// service.1 to service.n.
func group(serviceID string, n int, opts ...taskOpt) []*state.Task {
	proto := mkTask("", serviceID, opts...)
	out := make([]*state.Task, n)
	for i := range out {
		t := *proto
		t.ID = serviceID + "." + strconv.Itoa(i+1)
		t.Slot = uint64(i + 1)
		out[i] = &t
	}
	return out
}

// infos wraps nodes in NodeInfos.
func infos(nodes ...*state.Node) []*NodeInfo {
	out := make([]*NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = NewNodeInfo(n)
	}
	return out
}

// countByNode counts the placed decisions per node.
func countByNode(ds []Decision) map[string]int {
	m := map[string]int{}
	for _, d := range ds {
		if d.NodeID != "" {
			m[d.NodeID]++
		}
	}
	return m
}

func mustPlace(t testing.TB, tasks []*state.Task, nodes []*NodeInfo, opts Options) []Decision {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = t0
	}
	ds, err := PlaceTasks(tasks, nodes, opts)
	if err != nil {
		t.Fatalf("PlaceTasks: %v", err)
	}
	return ds
}
