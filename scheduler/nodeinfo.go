package scheduler

import (
	"strings"
	"time"

	"github.com/shoal-dev/shoal/state"
)

// Failure tracking: a node where tasks of a service failed FailureThreshold
// times within FailureWindow is ranked after every other node for that
// service, so replacements go elsewhere while the node keeps taking tasks
// if nothing else fits. The values are SwarmKit's.
const (
	FailureWindow    = 5 * time.Minute
	FailureThreshold = 5
)

// NodeInfo is a node plus what the scheduler tracks about it: the tasks that
// occupy it, the resources they reserve, the host ports they publish and the
// recent failures of each service on it.
//
// The caller owns NodeInfos and keeps them up to date from the store's
// change feed (see the package documentation). A NodeInfo is not safe for
// concurrent use: PlaceTasks only reads NodeInfos, so placements may run in
// parallel with each other but not with AddTask, RemoveTask, TaskFailed or
// SetNode.
type NodeInfo struct {
	node *state.Node

	// tasks holds the tasks occupying the node by ID, so that AddTask and
	// RemoveTask are idempotent: a change feed may show a task many times.
	tasks        map[string]taskUse
	activeTasks  int
	serviceTasks map[string]int // active tasks by service ID
	reserved     state.Resources
	hostPorts    map[hostPort]int // published host ports, by number of tasks
	failures     map[string][]time.Time
}

// taskUse is what a task takes from a node.
type taskUse struct {
	serviceID string
	reserved  state.Resources
	active    bool
	ports     []hostPort
}

// hostPort is a port published on the node itself (host-mode publishing).
type hostPort struct {
	protocol string
	port     uint32
}

// NewNodeInfo returns a NodeInfo for n with no tasks. n is not copied and
// must not be modified afterwards: objects read from the store never are.
func NewNodeInfo(n *state.Node) *NodeInfo {
	return &NodeInfo{node: n}
}

// Node returns the node. Do not modify it.
func (ni *NodeInfo) Node() *state.Node { return ni.node }

// SetNode replaces the node with a newer version of it (same ID), keeping
// what is tracked about its tasks.
func (ni *NodeInfo) SetNode(n *state.Node) { ni.node = n }

// occupies tells whether t takes resources on the node: it has been
// assigned there and has not terminated. A pending task, even one pinned to
// the node, does not count until the scheduler has assigned it.
func (ni *NodeInfo) occupies(t *state.Task) bool {
	return t.NodeID == ni.node.ID &&
		t.Status.State >= state.TaskStateAssigned &&
		!t.Status.State.Terminal()
}

// AddTask records t, or the new state of a task already recorded, and
// reports whether that changed what the node offers. A task that does not
// occupy the node (still pending, terminated, or assigned elsewhere) is
// removed instead, so the caller may pass every task created or updated on
// the change feed, or every task of a store snapshot.
//
// A task occupies the node while its observed state is assigned to running;
// it is active, and counts in ActiveTasks and ServiceTasks, while its
// desired state is also running or below. Its reservations and ports stay
// held until it terminates, since its container may still run.
func (ni *NodeInfo) AddTask(t *state.Task) bool {
	if !ni.occupies(t) {
		return ni.RemoveTask(t.ID)
	}
	active := t.DesiredState <= state.TaskStateRunning
	if old, ok := ni.tasks[t.ID]; ok {
		// A task's spec never changes, so only its activity can.
		if old.active == active {
			return false
		}
		old.active = active
		ni.tasks[t.ID] = old
		ni.countActive(old.serviceID, active)
		return true
	}
	use := taskUse{
		serviceID: t.ServiceID,
		reserved:  t.Spec.Resources.Reservations,
		active:    active,
		ports:     publishedHostPorts(t),
	}
	if ni.tasks == nil {
		ni.tasks = make(map[string]taskUse)
	}
	ni.tasks[t.ID] = use
	ni.reserved.NanoCPUs += use.reserved.NanoCPUs
	ni.reserved.MemoryBytes += use.reserved.MemoryBytes
	for _, p := range use.ports {
		if ni.hostPorts == nil {
			ni.hostPorts = make(map[hostPort]int)
		}
		ni.hostPorts[p]++
	}
	if active {
		ni.countActive(use.serviceID, true)
	}
	return true
}

// RemoveTask forgets the task with the given ID and reports whether it was
// recorded.
func (ni *NodeInfo) RemoveTask(taskID string) bool {
	use, ok := ni.tasks[taskID]
	if !ok {
		return false
	}
	delete(ni.tasks, taskID)
	ni.reserved.NanoCPUs -= use.reserved.NanoCPUs
	ni.reserved.MemoryBytes -= use.reserved.MemoryBytes
	for _, p := range use.ports {
		if ni.hostPorts[p]--; ni.hostPorts[p] <= 0 {
			delete(ni.hostPorts, p)
		}
	}
	if use.active {
		ni.countActive(use.serviceID, false)
	}
	return true
}

func (ni *NodeInfo) countActive(serviceID string, add bool) {
	if add {
		if ni.serviceTasks == nil {
			ni.serviceTasks = make(map[string]int)
		}
		ni.activeTasks++
		ni.serviceTasks[serviceID]++
		return
	}
	ni.activeTasks--
	if ni.serviceTasks[serviceID]--; ni.serviceTasks[serviceID] <= 0 {
		delete(ni.serviceTasks, serviceID)
	}
}

// ActiveTasks returns the number of active tasks on the node, of all
// services.
func (ni *NodeInfo) ActiveTasks() int { return ni.activeTasks }

// ServiceTasks returns the number of active tasks of a service on the node.
func (ni *NodeInfo) ServiceTasks(serviceID string) int { return ni.serviceTasks[serviceID] }

// Reserved returns the sum of the reservations of the tasks occupying the
// node.
func (ni *NodeInfo) Reserved() state.Resources { return ni.reserved }

// Available returns the node's resources minus the reserved ones. It is
// negative when the node shrank below what its tasks reserve.
func (ni *NodeInfo) Available() state.Resources {
	total := ni.node.Description.Resources
	return state.Resources{
		NanoCPUs:    total.NanoCPUs - ni.reserved.NanoCPUs,
		MemoryBytes: total.MemoryBytes - ni.reserved.MemoryBytes,
	}
}

// HostPortInUse tells whether a task occupying the node publishes the port
// on the node itself. An empty protocol means tcp.
func (ni *NodeInfo) HostPortInUse(protocol string, port uint32) bool {
	return ni.hostPorts[hostPort{protocol: normalizeProtocol(protocol), port: port}] > 0
}

// TaskFailed records that a task of the service failed or was rejected on
// the node at the given time. Call it once per task, when the change feed
// shows its state becoming failed or rejected; a task rebuilt from a
// snapshot is not a new failure.
func (ni *NodeInfo) TaskFailed(serviceID string, at time.Time) {
	if ni.failures == nil {
		ni.failures = make(map[string][]time.Time)
	}
	// Services whose failures all aged out are forgotten here, so the map
	// does not grow with every service that ever failed on the node.
	for s, times := range ni.failures {
		if s != serviceID && at.Sub(times[len(times)-1]) >= FailureWindow {
			delete(ni.failures, s)
		}
	}
	// Only the last FailureThreshold failures can matter.
	times := append(ni.failures[serviceID], at)
	if len(times) > FailureThreshold {
		times = append(times[:0], times[len(times)-FailureThreshold:]...)
	}
	ni.failures[serviceID] = times
}

// RecentFailures returns how many tasks of the service failed on the node
// within FailureWindow before now, counting at most FailureThreshold.
func (ni *NodeInfo) RecentFailures(serviceID string, now time.Time) int {
	n := 0
	for _, at := range ni.failures[serviceID] {
		if now.Sub(at) < FailureWindow {
			n++
		}
	}
	return n
}

// failing tells whether the node is ranked last for the service.
func (ni *NodeInfo) failing(serviceID string, now time.Time) bool {
	return len(ni.failures) > 0 && ni.RecentFailures(serviceID, now) >= FailureThreshold
}

// publishedHostPorts returns the ports a task publishes on its node.
// Publishing is always in host mode; an empty mode is taken as host too.
func publishedHostPorts(t *state.Task) []hostPort {
	if t.Endpoint == nil {
		return nil
	}
	var ports []hostPort
	for _, p := range t.Endpoint.Ports {
		if p.PublishedPort != 0 && (p.PublishMode == "" || strings.EqualFold(p.PublishMode, "host")) {
			ports = append(ports, hostPort{protocol: normalizeProtocol(p.Protocol), port: p.PublishedPort})
		}
	}
	return ports
}

func normalizeProtocol(p string) string {
	switch p {
	case "", "tcp", "TCP":
		return "tcp"
	case "udp", "sctp":
		return p
	}
	return strings.ToLower(p)
}
