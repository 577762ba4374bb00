package scheduler

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Builders of nodes and tasks for the tests. A node is ready, active, a
// linux/amd64 worker with 4 CPUs and 8 GiB unless told otherwise.

const (
	gib  = int64(1) << 30
	mib  = int64(1) << 20
	core = int64(1e9)
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type nodeOpt func(*model.Node)

func mkNode(id string, opts ...nodeOpt) *model.Node {
	n := &model.Node{
		ID:   id,
		Spec: model.NodeSpec{Availability: model.AvailabilityActive, DesiredRole: model.RoleWorker},
		Role: model.RoleWorker,
		Description: model.NodeDescription{
			Hostname:  id,
			Platform:  model.Platform{OS: "linux", Architecture: "amd64"},
			Resources: model.Resources{NanoCPUs: 4 * core, MemoryBytes: 8 * gib},
		},
		Status: model.NodeStatus{State: model.NodeStateReady},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func status(s model.NodeState) nodeOpt { return func(n *model.Node) { n.Status.State = s } }

func availability(a model.Availability) nodeOpt {
	return func(n *model.Node) { n.Spec.Availability = a }
}

func role(r model.NodeRole) nodeOpt { return func(n *model.Node) { n.Role = r } }

func hostname(h string) nodeOpt { return func(n *model.Node) { n.Description.Hostname = h } }

func platform(os, arch string) nodeOpt {
	return func(n *model.Node) { n.Description.Platform = model.Platform{OS: os, Architecture: arch} }
}

func resources(cpus float64, mem int64) nodeOpt {
	return func(n *model.Node) {
		n.Description.Resources = model.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}
	}
}

// labels sets node labels from "key=value" pairs.
func labels(kv ...string) nodeOpt {
	return func(n *model.Node) { n.Spec.Labels = pairs(kv) }
}

func engineLabels(kv ...string) nodeOpt {
	return func(n *model.Node) { n.Description.Engine.Labels = pairs(kv) }
}

func pairs(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return m
}

type taskOpt func(*model.Task)

// mkTask returns a pending task of the service, desired running, at spec
// version 1.
func mkTask(id, serviceID string, opts ...taskOpt) *model.Task {
	t := &model.Task{
		ID:           id,
		ServiceID:    serviceID,
		ServiceName:  serviceID,
		SpecVersion:  model.Version{Index: 1},
		DesiredState: model.TaskStateRunning,
		Status:       model.TaskStatus{State: model.TaskStatePending},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func reserve(cpus float64, mem int64) taskOpt {
	return func(t *model.Task) {
		t.Spec.Resources.Reservations = model.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}
	}
}

func constraints(c ...string) taskOpt {
	return func(t *model.Task) { t.Spec.Placement.Constraints = c }
}

func prefs(spread ...string) taskOpt {
	return func(t *model.Task) {
		for _, s := range spread {
			t.Spec.Placement.Preferences = append(t.Spec.Placement.Preferences, model.PlacementPreference{Spread: s})
		}
	}
}

func maxReplicas(n uint64) taskOpt { return func(t *model.Task) { t.Spec.Placement.MaxReplicas = n } }

func platforms(p ...model.Platform) taskOpt {
	return func(t *model.Task) { t.Spec.Placement.Platforms = p }
}

func hostPorts(ports ...uint32) taskOpt {
	return func(t *model.Task) {
		t.Endpoint = &model.EndpointSpec{}
		for _, p := range ports {
			t.Endpoint.Ports = append(t.Endpoint.Ports, model.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: p, PublishMode: "host"})
		}
	}
}

func pinnedTo(nodeID string) taskOpt { return func(t *model.Task) { t.NodeID = nodeID } }

func specVersion(v uint64) taskOpt {
	return func(t *model.Task) { t.SpecVersion = model.Version{Index: v} }
}

// runningOn makes the task one that occupies the node.
func runningOn(nodeID string) taskOpt {
	return func(t *model.Task) {
		t.NodeID = nodeID
		t.Status.State = model.TaskStateRunning
	}
}

func desired(s model.TaskState) taskOpt { return func(t *model.Task) { t.DesiredState = s } }

func observed(s model.TaskState) taskOpt { return func(t *model.Task) { t.Status.State = s } }

// group returns n pending tasks of a service sharing one spec: IDs are
// service.1 to service.n.
func group(serviceID string, n int, opts ...taskOpt) []*model.Task {
	proto := mkTask("", serviceID, opts...)
	out := make([]*model.Task, n)
	for i := range out {
		t := *proto
		t.ID = serviceID + "." + strconv.Itoa(i+1)
		t.Slot = uint64(i + 1)
		out[i] = &t
	}
	return out
}

// infos wraps nodes in NodeInfos.
func infos(nodes ...*model.Node) []*NodeInfo {
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

func mustPlace(t testing.TB, tasks []*model.Task, nodes []*NodeInfo, opts Options) []Decision {
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
