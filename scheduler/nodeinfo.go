package scheduler

import (
	"maps"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/model"
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
	node *model.Node

	// tasks holds the tasks occupying the node by ID, so that AddTask and
	// RemoveTask are idempotent: a change feed may show a task many times.
	tasks        map[string]taskUse
	activeTasks  int
	serviceTasks map[string]int // active tasks by service ID
	reserved     model.Resources
	hostPorts    map[hostPort]int // published host ports, by number of tasks
	// taskPorts holds the host ports of the tasks that publish some, few
	// enough to be kept out of tasks, whose entries a large cluster has
	// a hundred thousand of.
	taskPorts map[string][]hostPort
	failures  map[string][]time.Time
}

// taskUse is what a task takes from a node.
type taskUse struct {
	serviceID string
	reserved  model.Resources
	active    bool
	ports     bool // the task publishes host ports (taskPorts)
}

// hostPort is a port published on the node itself (host-mode publishing).
type hostPort struct {
	protocol string
	port     uint32
}

// NewNodeInfo returns a NodeInfo for n with no tasks. n is not copied and
// must not be modified afterwards: objects read from the store never are.
func NewNodeInfo(n *model.Node) *NodeInfo {
	return &NodeInfo{node: n}
}

// Node returns the node. Do not modify it.
func (ni *NodeInfo) Node() *model.Node { return ni.node }

// SetNode replaces the node with a newer version of it (same ID), keeping
// what is tracked about its tasks.
func (ni *NodeInfo) SetNode(n *model.Node) { ni.node = n }

// occupies tells whether t takes resources on the node: it has been
// assigned there and has not terminated. A pending task, even one pinned to
// the node, does not count until the scheduler has assigned it.
func (ni *NodeInfo) occupies(t *model.Task) bool {
	return t.NodeID == ni.node.ID &&
		t.Status.State >= model.TaskStateAssigned &&
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
func (ni *NodeInfo) AddTask(t *model.Task) bool {
	_, changed := ni.addTask(t)
	return changed
}

// addTask is AddTask, which also reports whether the task was recorded
// before.
func (ni *NodeInfo) addTask(t *model.Task) (had, changed bool) {
	if !ni.occupies(t) {
		had = ni.RemoveTask(t.ID)
		return had, had
	}
	return ni.record(t)
}

// record is AddTask of a task that occupies the node.
func (ni *NodeInfo) record(t *model.Task) (had, changed bool) {
	active := t.DesiredState.Wanted()
	if old, ok := ni.tasks[t.ID]; ok {
		return true, ni.setActive(t.ID, old, active)
	}
	use, ports := useOf(t)
	ni.insert(t.ID, use, ports)
	return false, true
}

// useOf returns what t takes from a node it occupies, and its host ports.
// It reads only what a task's placement does not change (its service,
// desired state, reservations and ports), so the scheduler passes the
// pending task it just placed on a node, without making a copy of it
// assigned there.
func useOf(t *model.Task) (taskUse, []hostPort) {
	ports := publishedHostPorts(t)
	return taskUse{
		serviceID: t.ServiceID,
		reserved:  t.Spec.Resources.Reservations,
		active:    t.DesiredState.Wanted(),
		ports:     len(ports) > 0,
	}, ports
}

// recordUse is record of the task with this ID, which takes use and
// publishes ports.
func (ni *NodeInfo) recordUse(id string, use taskUse, ports []hostPort) (had, changed bool) {
	if old, ok := ni.tasks[id]; ok {
		return true, ni.setActive(id, old, use.active)
	}
	ni.insert(id, use, ports)
	return false, true
}

// grow makes room for n more tasks at once: a pass that places a hundred
// tasks on the node would otherwise grow its task map several times.
func (ni *NodeInfo) grow(n int) {
	if n <= len(ni.tasks) {
		return
	}
	m := make(map[string]taskUse, len(ni.tasks)+n)
	maps.Copy(m, ni.tasks)
	ni.tasks = m
}

// setActive sets the activity of the recorded task old, and reports
// whether it changed: a task's spec never changes, so only its activity
// can.
func (ni *NodeInfo) setActive(id string, old taskUse, active bool) bool {
	if old.active == active {
		return false
	}
	old.active = active
	ni.tasks[id] = old
	ni.countActive(old.serviceID, active)
	return true
}

// insert records a task that was not.
func (ni *NodeInfo) insert(id string, use taskUse, ports []hostPort) {
	if ni.tasks == nil {
		ni.tasks = make(map[string]taskUse)
	}
	use.ports = len(ports) > 0
	ni.tasks[id] = use
	ni.reserved.NanoCPUs += use.reserved.NanoCPUs
	ni.reserved.MemoryBytes += use.reserved.MemoryBytes
	if use.ports {
		if ni.taskPorts == nil {
			ni.taskPorts = make(map[string][]hostPort)
		}
		if ni.hostPorts == nil {
			ni.hostPorts = make(map[hostPort]int)
		}
		ni.taskPorts[id] = ports
		for _, p := range ports {
			ni.hostPorts[p]++
		}
	}
	if use.active {
		ni.countActive(use.serviceID, true)
	}
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
	if use.ports {
		for _, p := range ni.taskPorts[taskID] {
			if ni.hostPorts[p]--; ni.hostPorts[p] <= 0 {
				delete(ni.hostPorts, p)
			}
		}
		delete(ni.taskPorts, taskID)
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
func (ni *NodeInfo) Reserved() model.Resources { return ni.reserved }

// Available returns the node's resources minus the reserved ones. It is
// negative when the node shrank below what its tasks reserve.
func (ni *NodeInfo) Available() model.Resources {
	total := ni.node.Description.Resources
	return model.Resources{
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

// publishedHostPorts returns the ports a task publishes on its node: its
// host-mode ports. Ingress-mode ports (an empty mode too, as in Docker)
// are published by the routing mesh on every node, and the store keeps
// them unique across services.
func publishedHostPorts(t *model.Task) []hostPort {
	if t.Endpoint == nil {
		return nil
	}
	var ports []hostPort
	for _, p := range t.Endpoint.Ports {
		if p.PublishedPort != 0 && strings.EqualFold(p.PublishMode, model.PublishModeHost) {
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
