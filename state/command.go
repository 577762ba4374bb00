package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Command is the payload of one Raft log entry: operations that the store
// applies in order. Each operation checks its own preconditions against the
// state it finds (versions, names, task states) and either applies in full
// or fails with a coded error, so a command never half-applies an
// operation and never needs a rollback. Applying is deterministic: the same
// log gives the same store on every manager.
type Command struct {
	// Time is the proposer's clock when the command was made. The store
	// uses it for CreatedAt/UpdatedAt and task timestamps, never its own.
	Time time.Time `json:"time"`
	Ops  []Op      `json:"ops"`
}

// OpType names an operation.
type OpType string

// Operations.
const (
	// OpNoop changes nothing but the store index. A new leader commits one
	// before it serves reads.
	OpNoop OpType = "noop"

	OpCreateCluster OpType = "create_cluster"
	OpUpdateCluster OpType = "update_cluster" // Cluster, Version

	OpCreateNode OpType = "create_node"
	OpUpdateNode OpType = "update_node" // Node, Version
	// OpDeleteNode deletes node ID (at Version if non-zero) and records it
	// in the cluster's RemovedNodes so its certificate is refused.
	OpDeleteNode OpType = "delete_node"
	// OpNodeStatus sets the status (and, if given, the description and
	// manager status) of nodes, writing only what changed.
	OpNodeStatus OpType = "node_status" // NodeStatuses

	OpCreateService OpType = "create_service"
	OpUpdateService OpType = "update_service" // Service, Version
	// OpDeleteService deletes service ID; its tasks that were never assigned
	// are deleted, the others get desired state REMOVE.
	OpDeleteService OpType = "delete_service"
	// OpServiceUpdateStatus sets UpdateStatus of service ID if its spec is
	// still at SpecVersion.
	OpServiceUpdateStatus OpType = "service_update_status"
	// OpRollbackService swaps Spec and PreviousSpec of service ID if its
	// spec is still at SpecVersion, and sets UpdateStatus.
	OpRollbackService OpType = "rollback_service"

	// OpCreateTasks creates tasks of service ID from its spec, if the spec
	// is still at SpecVersion.
	OpCreateTasks OpType = "create_tasks" // ID, SpecVersion, NewTasks
	OpUpdateTask  OpType = "update_task"  // Task, Version
	// OpSetTasksDesired raises the desired state of tasks; it never lowers
	// it.
	OpSetTasksDesired OpType = "set_tasks_desired" // IDs, DesiredState
	// OpAssignTasks assigns pending tasks to nodes.
	OpAssignTasks OpType = "assign_tasks" // Assignments
	// OpTaskPending sets the message of tasks that are still pending (or
	// NEW: waiting for their network attachments).
	OpTaskPending OpType = "task_pending" // Pending
	// OpTaskStatus records status reports of node ID's agent; a report for
	// a task on another node, or that would move a task backwards, is
	// ignored.
	OpTaskStatus  OpType = "task_status"  // ID (node), TaskStatuses
	OpDeleteTasks OpType = "delete_tasks" // IDs

	// OpCreateNetwork creates a network; its name must be free among
	// networks and at most one network is the ingress network.
	OpCreateNetwork OpType = "create_network"
	// OpUpdateNetwork replaces network Network.ID at Version; the name
	// cannot change.
	OpUpdateNetwork OpType = "update_network"
	// OpDeleteNetwork deletes network ID (at Version if non-zero), refused
	// while a service's spec names it, or a task that is not done with it
	// (desired and observed state at most running) is attached; the
	// ingress network also while a service publishes ingress ports.
	OpDeleteNetwork OpType = "delete_network"

	// OpCreateSecret creates a secret; its name must be free among
	// secrets.
	OpCreateSecret OpType = "create_secret"
	// OpUpdateSecret changes the labels of secret Secret.ID at Version:
	// the name cannot change, and the data either is left out (nil) or is
	// the stored data. The stored data is kept, so an update's log entry
	// need not carry it.
	OpUpdateSecret OpType = "update_secret"
	// OpDeleteSecret deletes secret ID (at Version if non-zero), refused
	// while a service's spec references it.
	OpDeleteSecret OpType = "delete_secret"

	// OpCreateConfig, OpUpdateConfig and OpDeleteConfig are the secret
	// operations for configs, with the same rules.
	OpCreateConfig OpType = "create_config"
	OpUpdateConfig OpType = "update_config"
	OpDeleteConfig OpType = "delete_config"

	// The allocator's operations (package allocator). Each writes only
	// the fields the allocator owns and keeps the object's version, as a
	// status write does, so that users' read-modify-writes are not
	// refused because of it; each refuses an object that is no longer at
	// the version the allocator read (ErrSequence), so an allocation made
	// from a stale read never lands.
	//
	// OpAllocateNetwork sets the VXLAN ID and the effective IPAM configs
	// of network Network.ID at Version.
	OpAllocateNetwork OpType = "allocate_network" // Network, Version
	// OpAllocateService sets the allocated Endpoint of service Service.ID
	// at Version.
	OpAllocateService OpType = "allocate_service" // Service, Version
	// OpAllocateNode sets the load-balancer Attachments of node Node.ID at
	// Version.
	OpAllocateNode OpType = "allocate_node" // Node, Version
	// OpAllocateTasks gives tasks that wait for their network attachments
	// (state NEW, desired state at most RUNNING, no attachments yet)
	// their attachments and makes them PENDING for the scheduler; other
	// tasks are skipped.
	OpAllocateTasks OpType = "allocate_tasks" // TaskNetworks

	// OpImport inserts objects as they are (a backup being restored into
	// a new cluster), with new versions; an object whose ID exists is
	// skipped. With Cluster set it requires an empty store, so a backup is
	// never merged into a live cluster.
	OpImport OpType = "import" // Cluster, Import
)

// Op is one operation. Only the fields its type names are used.
type Op struct {
	Type OpType `json:"type"`
	// ID names the object for deletes and field updates.
	ID string `json:"id,omitempty"`
	// Version is the version the proposer read; updates and deletes fail
	// with ErrSequence if the stored version differs. Zero skips the check
	// for deletes.
	Version uint64 `json:"version,omitempty"`
	// SpecVersion is the service spec version an operation was made from.
	SpecVersion uint64 `json:"spec_version,omitempty"`

	Cluster *model.Cluster `json:"cluster,omitempty"`
	Node    *model.Node    `json:"node,omitempty"`
	Service *model.Service `json:"service,omitempty"`
	Task    *model.Task    `json:"task,omitempty"`
	Network *model.Network `json:"network,omitempty"`
	Secret  *model.Secret  `json:"secret,omitempty"`
	Config  *model.Config  `json:"config,omitempty"`

	NodeStatuses []NodeStatusUpdate       `json:"node_statuses,omitempty"`
	NewTasks     []NewTask                `json:"new_tasks,omitempty"`
	IDs          []string                 `json:"ids,omitempty"`
	DesiredState model.TaskState          `json:"desired_state,omitempty"`
	Assignments  []Assignment             `json:"assignments,omitempty"`
	Pending      []PendingReason          `json:"pending,omitempty"`
	TaskStatuses []model.TaskStatusUpdate `json:"task_statuses,omitempty"`
	UpdateStatus *model.UpdateStatus      `json:"update_status,omitempty"`
	Import       *ImportSet               `json:"import,omitempty"`
	TaskNetworks []TaskNetworks           `json:"task_networks,omitempty"`
}

// SafeToRetry tells whether c may be proposed again after a first attempt
// whose outcome is unknown (the leader that took it was lost): every
// operation has a precondition that its own application makes false, so
// of two applications of c at most one succeeds, in whatever order Raft
// commits them. A second attempt that applies without an error therefore
// proves that the first did not and never will; one that fails a
// precondition proves nothing (the first attempt or another writer may
// have changed the object), and the outcome stays unknown.
//
// The operations that qualify: the cluster's creation (any cluster then
// exists, and none is ever deleted), updates (the stored version must
// equal the one read, and every update bumps it to the entry's index,
// which no reader can have seen before), deletes at a version, and
// no-ops. Status and batch operations apply partly or overwrite and do
// not qualify; nor does a delete without a version, since an object of
// the same ID could exist again by the time of the retry (an import).
// Nor do the creates of services and nodes: their fresh ID is refused
// only while the object exists, so a first attempt that applied, then a
// delete by another client, would let the retry apply too and bring the
// deleted object back (robustness seed 595565540269: a service removed,
// acknowledged, and present again).
func (c *Command) SafeToRetry() bool {
	if len(c.Ops) == 0 {
		return false
	}
	for i := range c.Ops {
		if !c.Ops[i].safeToRetry() {
			return false
		}
	}
	return true
}

func (o *Op) safeToRetry() bool {
	switch o.Type {
	case OpNoop, OpCreateCluster,
		OpUpdateCluster, OpUpdateNode, OpUpdateService, OpUpdateTask:
		return true
	case OpDeleteNode, OpDeleteService:
		return o.Version != 0
	}
	return false
}

// ImportSet holds the objects of an OpImport.
type ImportSet struct {
	Nodes    []*model.Node    `json:"nodes,omitempty"`
	Services []*model.Service `json:"services,omitempty"`
	Tasks    []*model.Task    `json:"tasks,omitempty"`
	Networks []*model.Network `json:"networks,omitempty"`
	Secrets  []*model.Secret  `json:"secrets,omitempty"`
	Configs  []*model.Config  `json:"configs,omitempty"`
}

// TaskNetworks are the network attachments the allocator gives a task.
type TaskNetworks struct {
	TaskID   string                    `json:"task_id"`
	Networks []model.NetworkAttachment `json:"networks"`
}

// NodeStatusUpdate sets a node's observed fields.
type NodeStatusUpdate struct {
	ID     string           `json:"id"`
	Status model.NodeStatus `json:"status"`
	// Description replaces the node's description if set.
	Description *model.NodeDescription `json:"description,omitempty"`
}

// NewTask is a task for OpCreateTasks to make from the service's spec.
type NewTask struct {
	ID   string `json:"id"`
	Slot uint64 `json:"slot,omitempty"`
	// NodeID pins a global service's task to its node.
	NodeID string `json:"node_id,omitempty"`
}

// Assignment assigns a task to a node.
type Assignment struct {
	TaskID string `json:"task_id"`
	NodeID string `json:"node_id"`
}

// PendingReason says why a task is not placed yet.
type PendingReason struct {
	TaskID  string `json:"task_id"`
	Message string `json:"message"`
}

// OpResult is the outcome of one operation.
type OpResult struct {
	// Err is nil when the operation applied.
	Err *Error `json:"err,omitempty"`
	// Applied counts the items a batch operation applied; items whose
	// preconditions did not hold are skipped without failing the op.
	Applied int `json:"applied,omitempty"`
}

// Proposer commits commands to the replicated store; raft.Node implements
// it. This is the one contract for every component that writes (API,
// orchestrator, scheduler, dispatcher, CA server):
//   - Propose returns the results of cmd's operations once the local store
//     has applied the command, so a View after it returns sees the write;
//   - it is safe for concurrent use;
//   - it does not keep cmd after it returns.
//
// An error means the outcome is not known to be applied (raft.QuorumError,
// raft.ErrUnknownOutcome, raft.ErrShutdown, the context's error); the
// results' Err tells whether an applied command's operations succeeded.
type Proposer interface {
	Propose(ctx context.Context, cmd *Command) (Results, error)
}

// Results are the outcomes of a command's operations, in order.
type Results []OpResult

// Err returns the first operation's error, or nil.
func (r Results) Err() error {
	for _, o := range r {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}

// Encode encodes a command for the Raft log, in the binary format (see
// codec_command.go): a 100k-task assignment takes 2.8 MB and 6 ms to
// decode, where JSON took 7.8 MB and 140 ms (and 24 MB allocated); a
// service update decodes in 5 µs where format 1's JSON service took 45 µs
// (BenchmarkCommandServiceUpdate). Managers of versions that only read
// JSON or format 1 cannot apply these entries: every manager must run a
// version that reads them before any manager writes them. EncodeJSON
// writes the older format.
func (c *Command) Encode() ([]byte, error) {
	return c.encodeBinaryFormat(commandFormatBinary2), nil
}

// EncodeJSON encodes a command in the JSON format that log entries had
// before the binary format, which DecodeCommand still reads.
func (c *Command) EncodeJSON() ([]byte, error) {
	return json.Marshal(c)
}

// DecodeCommand decodes a command from the Raft log: the binary format
// Encode writes, or JSON (EncodeJSON, and every entry written before the
// binary format). A byte string in neither format fails with ErrInvalid.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > 0 && (b[0] == commandFormatBinary || b[0] == commandFormatBinary2) {
		c, err := decodeBinaryCommand(b[1:], b[0])
		if err != nil {
			return nil, fmt.Errorf("%w: command: %v", ErrInvalid, err)
		}
		return c, nil
	}
	if len(b) > 0 && b[0] < ' ' && b[0] != '\t' && b[0] != '\n' && b[0] != '\r' {
		return nil, fmt.Errorf("%w: unknown command format %d", ErrInvalid, b[0])
	}
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &c, nil
}

// NewCommand returns a command of ops stamped with the current time.
func NewCommand(ops ...Op) *Command {
	return &Command{Time: time.Now().UTC(), Ops: ops}
}

// AsError converts an error from a decoded result back into a coded error
// that matches the package's sentinels with errors.Is. It is a no-op for
// other errors.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
