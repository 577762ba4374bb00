package scheduler

import (
	"math"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Filter decides whether a node can take a task, and can say why it refused.
//
// A filter is stateful: SetTask gives it the task, then Check is called for
// any number of nodes. It is not safe for concurrent use; make one per
// goroutine (NewPipeline does).
type Filter interface {
	// SetTask gives the filter the task to check nodes for. It returns
	// false when the filter does not apply to the task (a constraint
	// filter for a task without constraints); Check is then not called.
	SetTask(t *model.Task) bool
	// Check tells whether node n can take the task.
	Check(n *NodeInfo) bool
	// Explain says why the given number of nodes (at least 1) were
	// refused, as Docker shows it: "2 nodes insufficient memory".
	Explain(nodes int) string
}

// CapacityFilter is a Filter whose verdict depends on the tasks already on
// the node (resources, max replicas, host ports): it also tells how many
// tasks like the one given to SetTask still fit, so that a group of tasks
// is placed without checking each one. Capacity(n) > 0 exactly when
// Check(n); it returns math.MaxInt for "no limit".
type CapacityFilter interface {
	Filter
	Capacity(n *NodeInfo) int
}

// Compile-time checks.
var (
	_ Filter         = (*ReadyFilter)(nil)
	_ CapacityFilter = (*MemoryFilter)(nil)
	_ CapacityFilter = (*CPUFilter)(nil)
	_ Filter         = (*ConstraintFilter)(nil)
	_ Filter         = (*PlatformFilter)(nil)
	_ CapacityFilter = (*HostPortFilter)(nil)
	_ CapacityFilter = (*MaxReplicasFilter)(nil)
)

// DefaultFilters returns new instances of the filters PlaceTasks uses, in
// the order they run. A node refused by several is counted under the first,
// so the order is that of the explanation: availability first, as it is
// the most common reason and the one an operator acts on.
func DefaultFilters() []Filter {
	return []Filter{
		&ReadyFilter{},
		&MemoryFilter{},
		&CPUFilter{},
		&ConstraintFilter{},
		&PlatformFilter{},
		&HostPortFilter{},
		&MaxReplicasFilter{},
	}
}

// countNodes writes "1 node" or "N nodes".
func countNodes(n int) string {
	if n == 1 {
		return "1 node"
	}
	return strconv.Itoa(n) + " nodes"
}

// ReadyFilter refuses nodes that are not ready or not active: down,
// disconnected, paused or drained nodes take no new tasks.
type ReadyFilter struct{}

// SetTask implements Filter; the filter applies to every task.
func (f *ReadyFilter) SetTask(*model.Task) bool { return true }

// Check implements Filter.
func (f *ReadyFilter) Check(n *NodeInfo) bool {
	return n.node.Status.State == model.NodeStateReady &&
		n.node.Spec.Availability == model.AvailabilityActive
}

// Explain implements Filter.
func (f *ReadyFilter) Explain(nodes int) string {
	return countNodes(nodes) + " not available for new tasks"
}

// MemoryFilter refuses nodes whose unreserved memory is below the task's
// memory reservation.
type MemoryFilter struct{ need int64 }

// SetTask implements Filter; the filter applies to tasks reserving memory.
func (f *MemoryFilter) SetTask(t *model.Task) bool {
	f.need = t.Spec.Resources.Reservations.MemoryBytes
	return f.need > 0
}

// Check implements Filter.
func (f *MemoryFilter) Check(n *NodeInfo) bool { return f.Capacity(n) > 0 }

// Capacity implements CapacityFilter.
func (f *MemoryFilter) Capacity(n *NodeInfo) int { return fits(n.Available().MemoryBytes, f.need) }

// Explain implements Filter.
func (f *MemoryFilter) Explain(nodes int) string { return countNodes(nodes) + " insufficient memory" }

// CPUFilter refuses nodes whose unreserved CPU is below the task's CPU
// reservation.
type CPUFilter struct{ need int64 }

// SetTask implements Filter; the filter applies to tasks reserving CPU.
func (f *CPUFilter) SetTask(t *model.Task) bool {
	f.need = t.Spec.Resources.Reservations.NanoCPUs
	return f.need > 0
}

// Check implements Filter.
func (f *CPUFilter) Check(n *NodeInfo) bool { return f.Capacity(n) > 0 }

// Capacity implements CapacityFilter.
func (f *CPUFilter) Capacity(n *NodeInfo) int { return fits(n.Available().NanoCPUs, f.need) }

// Explain implements Filter.
func (f *CPUFilter) Explain(nodes int) string { return countNodes(nodes) + " insufficient cpu" }

// fits returns how many reservations of need fit in available (need > 0).
func fits(available, need int64) int {
	if available < need {
		return 0
	}
	if q := available / need; q < math.MaxInt {
		return int(q)
	}
	return math.MaxInt
}

// ConstraintFilter refuses nodes that do not satisfy all the task's
// placement constraints. Constraints that do not parse (which the API
// should have refused) refuse every node, and the explanation says why.
type ConstraintFilter struct {
	constraints []Constraint
	err         error
}

// SetTask implements Filter; the filter applies to tasks with constraints.
func (f *ConstraintFilter) SetTask(t *model.Task) bool {
	f.constraints, f.err = ParseConstraints(t.Spec.Placement.Constraints)
	return len(t.Spec.Placement.Constraints) > 0
}

// Check implements Filter.
func (f *ConstraintFilter) Check(n *NodeInfo) bool {
	if f.err != nil {
		return false
	}
	for _, c := range f.constraints {
		if !c.Matches(n.node) {
			return false
		}
	}
	return true
}

// Explain implements Filter.
func (f *ConstraintFilter) Explain(nodes int) string {
	msg := "scheduling constraints not satisfied on " + countNodes(nodes)
	if f.err != nil {
		msg += " (" + f.err.Error() + ")"
	}
	return msg
}

// PlatformFilter refuses nodes whose OS and architecture match none of the
// task's platforms. An empty field of a platform matches any value, and
// x86_64 and aarch64 are the same as amd64 and arm64.
type PlatformFilter struct{ platforms []model.Platform }

// SetTask implements Filter; the filter applies to tasks listing platforms.
func (f *PlatformFilter) SetTask(t *model.Task) bool {
	f.platforms = t.Spec.Placement.Platforms
	return len(f.platforms) > 0
}

// Check implements Filter.
func (f *PlatformFilter) Check(n *NodeInfo) bool {
	have := n.node.Description.Platform
	for _, want := range f.platforms {
		if (want.OS == "" || strings.EqualFold(want.OS, have.OS)) &&
			(want.Architecture == "" || strings.EqualFold(normalizeArch(want.Architecture), normalizeArch(have.Architecture))) {
			return true
		}
	}
	return false
}

// Explain implements Filter.
func (f *PlatformFilter) Explain(nodes int) string {
	return "unsupported platform on " + countNodes(nodes)
}

func normalizeArch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// HostPortFilter refuses nodes where a port the task publishes on the host
// is already published by another task. A node takes at most one task of a
// group that publishes host ports.
type HostPortFilter struct{ ports []hostPort }

// SetTask implements Filter; the filter applies to tasks publishing ports.
func (f *HostPortFilter) SetTask(t *model.Task) bool {
	f.ports = publishedHostPorts(t)
	return len(f.ports) > 0
}

// Check implements Filter.
func (f *HostPortFilter) Check(n *NodeInfo) bool { return f.Capacity(n) > 0 }

// Capacity implements CapacityFilter.
func (f *HostPortFilter) Capacity(n *NodeInfo) int {
	for _, p := range f.ports {
		if n.hostPorts[p] > 0 {
			return 0
		}
	}
	return 1
}

// Explain implements Filter.
func (f *HostPortFilter) Explain(nodes int) string {
	return "host-mode port already in use on " + countNodes(nodes)
}

// MaxReplicasFilter refuses nodes that already run the task's service's
// Placement.MaxReplicas active tasks.
type MaxReplicasFilter struct {
	serviceID string
	max       uint64
}

// SetTask implements Filter; the filter applies when MaxReplicas is set.
func (f *MaxReplicasFilter) SetTask(t *model.Task) bool {
	f.serviceID, f.max = t.ServiceID, t.Spec.Placement.MaxReplicas
	return f.max > 0
}

// Check implements Filter.
func (f *MaxReplicasFilter) Check(n *NodeInfo) bool { return f.Capacity(n) > 0 }

// Capacity implements CapacityFilter.
func (f *MaxReplicasFilter) Capacity(n *NodeInfo) int {
	have := uint64(n.ServiceTasks(f.serviceID))
	if have >= f.max {
		return 0
	}
	if left := f.max - have; left < math.MaxInt {
		return int(left)
	}
	return math.MaxInt
}

// Explain implements Filter.
func (f *MaxReplicasFilter) Explain(nodes int) string {
	return "max replicas per node limit exceed on " + countNodes(nodes)
}
