package model

import (
	"fmt"
	"time"
)

// Version is the version of a stored object. Its Index is the Raft log index
// of the entry that last wrote the object: one global counter, so comparing
// two versions of the same object tells which is newer, and an update that
// names an older index than the stored one is out of sequence.
type Version struct {
	Index uint64 `json:"index"`
}

// Meta is carried by every stored object.
type Meta struct {
	Version   Version   `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Annotations name an object and attach user labels to it.
type Annotations struct {
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// ---------------------------------------------------------------------------
// Cluster

// DefaultClusterName is the name of the one cluster object, as in Docker.
const DefaultClusterName = "default"

// Cluster is the one cluster-wide object: settings, the root CA and the join
// tokens. It is created by `manager init`.
type Cluster struct {
	ID string `json:"id"`
	Meta
	Spec ClusterSpec `json:"spec"`

	// RootCA holds the cluster's root certificate and (encrypted at rest
	// through the Raft log encryption) its key, and the join tokens.
	RootCA RootCA `json:"root_ca"`

	// RemovedNodes lists nodes removed from the cluster. Their certificates
	// are refused by every manager until they expire.
	RemovedNodes []RemovedNode `json:"removed_nodes,omitempty"`

	// GossipKeys are the keys of the gossip layer's keyring; the first one
	// is the primary key used to encrypt, all are accepted to decrypt.
	GossipKeys []GossipKey `json:"gossip_keys,omitempty"`

	// UnlockKey, when autolock is on, is the key that protects the managers'
	// data keys on disk. It is only ever shown to users who ask for it.
	UnlockKey string `json:"unlock_key,omitempty"`
}

// ClusterSpec holds the user-settable cluster settings.
type ClusterSpec struct {
	Annotations
	Orchestration OrchestrationConfig `json:"orchestration"`
	Raft          RaftConfig          `json:"raft"`
	Dispatcher    DispatcherConfig    `json:"dispatcher"`
	CAConfig      CAConfig            `json:"ca_config"`
	Encryption    EncryptionConfig    `json:"encryption"`
	Gossip        GossipConfig        `json:"gossip"`
	// DefaultAddrPool lists the address pools (CIDR) that networks'
	// subnets are taken from when their spec names none; SubnetSize is
	// the prefix length of those subnets. Both are set at init (Docker's
	// --default-addr-pool and --default-addr-pool-mask-length) and never
	// change: allocated subnets depend on them. Empty and 0 mean the
	// defaults (AddrPool, Subnet).
	DefaultAddrPool []string `json:"default_addr_pool,omitempty"`
	SubnetSize      uint32   `json:"subnet_size,omitempty"`
}

// OrchestrationConfig holds orchestration settings.
type OrchestrationConfig struct {
	// TaskHistoryRetentionLimit is the number of old (terminated) tasks kept
	// per slot, or per node for global services. Docker's default is 5.
	TaskHistoryRetentionLimit int64 `json:"task_history_retention_limit"`
	// Rebalance, when set, makes every replicated service move tasks to a
	// node that joins or is activated until the spread is even. A service
	// can opt in on its own with ServiceSpec.Rebalance.
	Rebalance bool `json:"rebalance,omitempty"`
	// MaxReplicas is the largest replica count a service may have; 0
	// means DefaultMaxReplicas (a cluster created before the setting
	// existed stores 0). See ReplicaLimit.
	MaxReplicas uint64 `json:"max_replicas,omitempty"`
}

// DefaultMaxReplicas is the replica limit of a cluster that sets none.
// Docker has no limit; shoal has one because a replica count is a size:
// the orchestrator plans, the store holds and the agents start that many
// tasks, so one typed number (a count of 9223372036854775808, or ten
// million) would exhaust the managers' memory. 100,000 is the largest
// service measured (BENCHMARKS.md: 100,000 tasks on 1,000 nodes converge
// in under 30 s with the leader at about 750 MiB), so every size the
// project has shown to work is allowed and nothing beyond it is.
const DefaultMaxReplicas = 100000

// MaxReplicasCeiling is the largest replica limit a cluster may be given:
// ten times the largest service measured, so that a typo in the setting
// cannot lift the guard it sets. The API refuses larger settings, and
// ReplicaLimit caps a larger one written around it.
const MaxReplicasCeiling = 1000000

// ReplicaLimit returns the cluster's largest replica count per service.
func (c *OrchestrationConfig) ReplicaLimit() uint64 {
	if c.MaxReplicas == 0 {
		return DefaultMaxReplicas
	}
	return min(c.MaxReplicas, MaxReplicasCeiling)
}

// RaftConfig holds Raft settings that are part of the replicated state.
type RaftConfig struct {
	// SnapshotInterval is the number of log entries between snapshots.
	SnapshotInterval uint64 `json:"snapshot_interval"`
	// KeepOldSnapshots is the number of snapshots kept besides the newest.
	KeepOldSnapshots uint64 `json:"keep_old_snapshots"`
	// ElectionTick and HeartbeatTick exist in Docker's API; they are shown
	// for compatibility. The effective timeouts are manager settings.
	ElectionTick  int `json:"election_tick"`
	HeartbeatTick int `json:"heartbeat_tick"`
}

// DispatcherConfig holds the agent session settings.
type DispatcherConfig struct {
	// HeartbeatPeriod is how often agents send heartbeats.
	HeartbeatPeriod time.Duration `json:"heartbeat_period"`
}

// CAConfig holds certificate settings.
type CAConfig struct {
	// NodeCertExpiry is the validity of issued node certificates.
	NodeCertExpiry time.Duration `json:"node_cert_expiry"`
}

// EncryptionConfig holds encryption-at-rest settings.
type EncryptionConfig struct {
	// AutoLockManagers protects the managers' data keys with the unlock key,
	// which must be supplied on restart.
	AutoLockManagers bool `json:"auto_lock_managers"`
}

// GossipConfig holds gossip settings.
type GossipConfig struct {
	// KeyRotationInterval is how often the leader rotates the gossip key.
	KeyRotationInterval time.Duration `json:"key_rotation_interval"`
}

// RootCA holds the cluster's certificate authority and join tokens.
type RootCA struct {
	// CACert is the PEM of the root certificate.
	CACert []byte `json:"ca_cert"`
	// CAKey is the PEM of the root key.
	CAKey []byte `json:"ca_key,omitempty"`
	// CACertDigest is the hex sha256 digest of the root certificate's DER.
	CACertDigest string     `json:"ca_cert_digest"`
	JoinTokens   JoinTokens `json:"join_tokens"`
}

// JoinTokens are the tokens that let a node join as worker or manager.
type JoinTokens struct {
	Worker  string `json:"worker"`
	Manager string `json:"manager"`
}

// RemovedNode is a node whose certificate is no longer accepted.
type RemovedNode struct {
	ID string `json:"id"`
	// Expiry is when the node's last certificate expires; after that the
	// entry is no longer needed.
	Expiry time.Time `json:"expiry"`
}

// GossipKey is one key of the gossip keyring.
type GossipKey struct {
	Key       []byte    `json:"key"`
	CreatedAt time.Time `json:"created_at"`
}

// DefaultClusterSpec returns the settings a new cluster starts with.
func DefaultClusterSpec() ClusterSpec {
	return ClusterSpec{
		Annotations:   Annotations{Name: DefaultClusterName},
		Orchestration: OrchestrationConfig{TaskHistoryRetentionLimit: 5},
		Raft: RaftConfig{
			SnapshotInterval: 10000,
			KeepOldSnapshots: 0,
			ElectionTick:     10,
			HeartbeatTick:    1,
		},
		Dispatcher: DispatcherConfig{HeartbeatPeriod: time.Second},
		CAConfig:   CAConfig{NodeCertExpiry: 90 * 24 * time.Hour},
		Gossip:     GossipConfig{KeyRotationInterval: 12 * time.Hour},

		DefaultAddrPool: []string{DefaultAddrPool},
		SubnetSize:      DefaultSubnetSize,
	}
}

// ---------------------------------------------------------------------------
// Node

// NodeRole is the role of a node.
type NodeRole string

// Node roles.
const (
	RoleWorker  NodeRole = "worker"
	RoleManager NodeRole = "manager"
)

// Availability says whether the scheduler may place tasks on a node.
type Availability string

// Node availabilities.
const (
	// AvailabilityActive nodes take new tasks.
	AvailabilityActive Availability = "active"
	// AvailabilityPause nodes take no new tasks and keep their running ones.
	AvailabilityPause Availability = "pause"
	// AvailabilityDrain nodes take no new tasks and their tasks are moved.
	AvailabilityDrain Availability = "drain"
)

// NodeState is the observed status of a node.
type NodeState string

// Node states.
const (
	NodeStateUnknown      NodeState = "unknown"
	NodeStateDown         NodeState = "down"
	NodeStateReady        NodeState = "ready"
	NodeStateDisconnected NodeState = "disconnected"
)

// Node is a machine in the cluster.
type Node struct {
	ID string `json:"id"`
	Meta
	Spec NodeSpec `json:"spec"`
	// Role is the role the node has now, which follows Spec.DesiredRole
	// once the node's certificate and Raft membership have been changed.
	Role        NodeRole        `json:"role"`
	Description NodeDescription `json:"description"`
	Status      NodeStatus      `json:"status"`
	// ManagerStatus is set for managers. Leadership and reachability are
	// not stored: they change without writes and are filled in on read.
	ManagerStatus *ManagerStatus `json:"manager_status,omitempty"`
	// Certificate is the node's current certificate.
	Certificate NodeCertificate `json:"certificate"`
	// Attachments are the node's load-balancer addresses, one per network
	// it has tasks on. The allocator owns them: OpUpdateNode keeps the
	// stored ones.
	Attachments []NodeNetworkAttachment `json:"attachments,omitempty"`
}

// NodeSpec holds the user-settable node fields.
type NodeSpec struct {
	Annotations
	DesiredRole  NodeRole     `json:"desired_role"`
	Availability Availability `json:"availability"`
}

// NodeDescription is what an agent reports about its machine.
type NodeDescription struct {
	Hostname  string    `json:"hostname"`
	Platform  Platform  `json:"platform"`
	Resources Resources `json:"resources"`
	Engine    Engine    `json:"engine"`
}

// Platform is an OS and architecture pair.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Engine describes the container engine of a node.
type Engine struct {
	EngineVersion string            `json:"engine_version"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// NodeStatus is the observed status of a node.
type NodeStatus struct {
	State   NodeState `json:"state"`
	Message string    `json:"message,omitempty"`
	// Addr is the address the node's session comes from.
	Addr string `json:"addr,omitempty"`
}

// ManagerStatus describes a manager node.
type ManagerStatus struct {
	// Addr is the manager's advertised cluster address (host:port).
	Addr string `json:"addr"`
	// APIAddr is the manager's TCP control API address, if any.
	APIAddr string `json:"api_addr,omitempty"`
	// GossipAddr is the manager's gossip address.
	GossipAddr string `json:"gossip_addr,omitempty"`
	// Leader and Reachability are filled in on read.
	Leader       bool         `json:"leader,omitempty"`
	Reachability Reachability `json:"reachability,omitempty"`
}

// Reachability of a manager.
type Reachability string

// Reachabilities.
const (
	ReachabilityUnknown     Reachability = "unknown"
	ReachabilityUnreachable Reachability = "unreachable"
	ReachabilityReachable   Reachability = "reachable"
)

// NodeCertificate describes a node's issued certificate.
type NodeCertificate struct {
	Role     NodeRole  `json:"role"`
	Serial   string    `json:"serial,omitempty"`
	NotAfter time.Time `json:"not_after"`
	IssuedAt time.Time `json:"issued_at"`
	CertPEM  []byte    `json:"cert_pem,omitempty"`
}

// ---------------------------------------------------------------------------
// Service

// Service is a desired state: a task spec and how many copies to run.
type Service struct {
	ID string `json:"id"`
	Meta
	Spec ServiceSpec `json:"spec"`
	// PreviousSpec is the spec before the last update, used by rollback.
	PreviousSpec *ServiceSpec `json:"previous_spec,omitempty"`
	// SpecVersion is the version at which Spec last changed. Tasks record
	// the SpecVersion they were made from; a task is up to date when its
	// SpecVersion equals the service's.
	SpecVersion Version `json:"spec_version"`
	// PreviousSpecVersion is the version of PreviousSpec.
	PreviousSpecVersion Version `json:"previous_spec_version,omitempty"`
	// UpdateStatus is the state of the rolling update in progress or last
	// completed, nil after creation or a pure scale.
	UpdateStatus *UpdateStatus `json:"update_status,omitempty"`
	// Endpoint is the allocated endpoint (published ports, virtual IPs),
	// nil until the allocator has seen the service. The allocator owns
	// it: OpUpdateService keeps the stored one.
	Endpoint *Endpoint `json:"endpoint,omitempty"`
	// JobStatus is set for jobs only: the iteration in progress.
	JobStatus *JobStatus `json:"job_status,omitempty"`
}

// JobStatus is the state of a job. Every write of a job's spec starts a new
// iteration: its tasks run again, from the new spec, and the tasks of
// earlier iterations are retired. The store sets JobIteration (and the
// service's SpecVersion) to the index of that write, so a task belongs to
// the current iteration exactly when it is up to date.
type JobStatus struct {
	// JobIteration is the version at which the current iteration started.
	JobIteration Version `json:"job_iteration"`
	// LastExecution is when the current iteration started.
	LastExecution time.Time `json:"last_execution"`
}

// ServiceSpec holds the user-settable service fields.
type ServiceSpec struct {
	Annotations
	Task     TaskSpec      `json:"task"`
	Mode     ServiceMode   `json:"mode"`
	Update   *UpdateConfig `json:"update,omitempty"`
	Rollback *UpdateConfig `json:"rollback,omitempty"`
	// Endpoint publishes ports and chooses how the service's name
	// resolves.
	Endpoint *EndpointSpec `json:"endpoint,omitempty"`
	// Rebalance moves tasks to nodes that join or are activated until the
	// spread is even, one update step at a time.
	Rebalance bool `json:"rebalance,omitempty"`
	// Strategy chooses how tasks are ranked onto nodes.
	Strategy PlacementStrategy `json:"strategy,omitempty"`
}

// ServiceMode is one of replicated, global, replicated job or global job:
// exactly one field is set.
type ServiceMode struct {
	// Replicated is set for replicated services.
	Replicated *ReplicatedService `json:"replicated,omitempty"`
	// Global is set for global services.
	Global *GlobalService `json:"global,omitempty"`
	// ReplicatedJob is set for jobs that run a number of completions.
	ReplicatedJob *ReplicatedJob `json:"replicated_job,omitempty"`
	// GlobalJob is set for jobs that run once on each eligible node,
	// including nodes that join later.
	GlobalJob *GlobalJob `json:"global_job,omitempty"`
}

// ReplicatedJob runs tasks to completion: TotalCompletions of them must
// complete (exit 0), at most MaxConcurrent at a time. Its tasks own slots
// 0..TotalCompletions-1, as in Docker (the CLI's job progress counts from
// slot 0).
type ReplicatedJob struct {
	// MaxConcurrent is the most tasks running at once; at least 1.
	MaxConcurrent uint64 `json:"max_concurrent"`
	// TotalCompletions is the number of tasks that must complete.
	TotalCompletions uint64 `json:"total_completions"`
}

// GlobalJob runs one task to completion on each eligible node.
type GlobalJob struct{}

// ReplicatedService runs a fixed number of replicas.
type ReplicatedService struct {
	Replicas uint64 `json:"replicas"`
}

// GlobalService runs one task on each eligible node.
type GlobalService struct{}

// IsGlobal tells whether the service runs one task per node: a global
// service or a global job.
func (s *ServiceSpec) IsGlobal() bool { return s.Mode.Global != nil || s.Mode.GlobalJob != nil }

// IsJob tells whether the service's tasks run to completion: a replicated
// or a global job.
func (s *ServiceSpec) IsJob() bool { return s.Mode.ReplicatedJob != nil || s.Mode.GlobalJob != nil }

// ModeName is Docker's name of the service's mode, as the mode filter of
// GET /services and `docker service create --mode` spell it.
func (s *ServiceSpec) ModeName() string {
	switch {
	case s.Mode.Global != nil:
		return "global"
	case s.Mode.ReplicatedJob != nil:
		return "replicated-job"
	case s.Mode.GlobalJob != nil:
		return "global-job"
	}
	return "replicated"
}

// Replicas returns the desired replica count of a replicated service, or 0.
func (s *ServiceSpec) Replicas() uint64 {
	if s.Mode.Replicated == nil {
		return 0
	}
	return s.Mode.Replicated.Replicas
}

// PlacementStrategy is how the scheduler ranks nodes.
type PlacementStrategy string

// Placement strategies.
const (
	// StrategySpread puts each task on the node with the fewest tasks of its
	// service, then the fewest tasks overall. It is Docker's behaviour and
	// the default.
	StrategySpread PlacementStrategy = "spread"
	// StrategyBinpack fills the node with the least free resources that
	// still fits, to keep other nodes empty.
	StrategyBinpack PlacementStrategy = "binpack"
)

// UpdateConfig controls rolling updates and rollbacks.
type UpdateConfig struct {
	// Parallelism is how many tasks are updated at once; 0 means all.
	Parallelism uint64 `json:"parallelism"`
	// Delay is the wait between batches.
	Delay time.Duration `json:"delay,omitempty"`
	// FailureAction is pause, continue or rollback.
	FailureAction FailureAction `json:"failure_action,omitempty"`
	// Monitor is how long an updated task is watched for failure.
	Monitor time.Duration `json:"monitor,omitempty"`
	// MaxFailureRatio is the fraction of tasks that may fail during an
	// update before the failure action is taken.
	MaxFailureRatio float32 `json:"max_failure_ratio"`
	// Order is stop-first or start-first.
	Order UpdateOrder `json:"order"`
}

// FailureAction is what a rolling update does when too many tasks fail.
type FailureAction string

// Failure actions.
const (
	FailureActionPause    FailureAction = "pause"
	FailureActionContinue FailureAction = "continue"
	FailureActionRollback FailureAction = "rollback"
)

// UpdateOrder says whether a task's replacement starts before or after the
// old task stops.
type UpdateOrder string

// Update orders.
const (
	UpdateOrderStopFirst  UpdateOrder = "stop-first"
	UpdateOrderStartFirst UpdateOrder = "start-first"
)

// DefaultUpdateConfig is Docker's default update config.
func DefaultUpdateConfig() UpdateConfig {
	return UpdateConfig{
		Parallelism:   1,
		FailureAction: FailureActionPause,
		Monitor:       5 * time.Second,
		Order:         UpdateOrderStopFirst,
	}
}

// UpdateState is the state of a rolling update.
type UpdateState string

// Update states, with Docker's names.
const (
	UpdateStateUpdating          UpdateState = "updating"
	UpdateStatePaused            UpdateState = "paused"
	UpdateStateCompleted         UpdateState = "completed"
	UpdateStateRollbackStarted   UpdateState = "rollback_started"
	UpdateStateRollbackPaused    UpdateState = "rollback_paused"
	UpdateStateRollbackCompleted UpdateState = "rollback_completed"
)

// UpdateStatus reports the progress of a rolling update.
type UpdateStatus struct {
	State       UpdateState `json:"state"`
	StartedAt   *time.Time  `json:"started_at,omitempty"`
	CompletedAt *time.Time  `json:"completed_at,omitempty"`
	Message     string      `json:"message,omitempty"`
}

// EndpointSpec publishes ports of a service's tasks.
type EndpointSpec struct {
	// Mode is vip or dnsrr; empty means vip.
	Mode  ResolutionMode `json:"mode,omitempty"`
	Ports []PortConfig   `json:"ports,omitempty"`
}

// PortConfig publishes one port of a service's tasks: on every node
// through the routing mesh (PublishModeIngress), or on the node running
// the task (PublishModeHost).
type PortConfig struct {
	Name          string `json:"name,omitempty"`
	Protocol      string `json:"protocol"`
	TargetPort    uint32 `json:"target_port"`
	PublishedPort uint32 `json:"published_port,omitempty"`
	// PublishMode is PublishModeIngress or PublishModeHost.
	PublishMode string `json:"publish_mode"`
}

// ---------------------------------------------------------------------------
// Task spec

// TaskSpec is what a task runs and under which constraints.
type TaskSpec struct {
	Container ContainerSpec        `json:"container"`
	Resources ResourceRequirements `json:"resources"`
	Restart   RestartPolicy        `json:"restart"`
	Placement Placement            `json:"placement"`
	// ForceUpdate is bumped to redeploy all tasks without other changes.
	ForceUpdate uint64 `json:"force_update,omitempty"`
	// Networks are the networks the tasks attach to, by ID.
	Networks []NetworkAttachmentConfig `json:"networks,omitempty"`
}

// ContainerSpec describes the container a task runs.
type ContainerSpec struct {
	Image    string            `json:"image"`
	Labels   map[string]string `json:"labels,omitempty"`
	Command  []string          `json:"command,omitempty"`
	Args     []string          `json:"args,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	Env      []string          `json:"env,omitempty"`
	Dir      string            `json:"dir,omitempty"`
	User     string            `json:"user,omitempty"`
	TTY      bool              `json:"tty,omitempty"`
	ReadOnly bool              `json:"read_only,omitempty"`
	Init     *bool             `json:"init,omitempty"`
	Mounts   []Mount           `json:"mounts,omitempty"`
	// StopSignal is sent to stop the container; the image's or SIGTERM if
	// empty.
	StopSignal string `json:"stop_signal,omitempty"`
	// StopGracePeriod is how long to wait after the stop signal before the
	// container is killed; nil means Docker's default of 10 s.
	StopGracePeriod *time.Duration `json:"stop_grace_period,omitempty"`
	Healthcheck     *HealthConfig  `json:"healthcheck,omitempty"`
	// Secrets and Configs are given to the container as files.
	Secrets []SecretReference `json:"secrets,omitempty"`
	Configs []ConfigReference `json:"configs,omitempty"`
}

// Mount is a bind, volume or tmpfs mount.
type Mount struct {
	Type     MountType `json:"type"`
	Source   string    `json:"source,omitempty"`
	Target   string    `json:"target"`
	ReadOnly bool      `json:"read_only,omitempty"`
}

// MountType is the type of a mount.
type MountType string

// Supported mount types.
const (
	MountTypeBind   MountType = "bind"
	MountTypeVolume MountType = "volume"
	MountTypeTmpfs  MountType = "tmpfs"
)

// HealthConfig overrides the image's HEALTHCHECK.
type HealthConfig struct {
	Test          []string      `json:"test,omitempty"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"start_period,omitempty"`
	StartInterval time.Duration `json:"start_interval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
}

// Resources are amounts of CPU and memory.
type Resources struct {
	// NanoCPUs is CPU in units of 1e-9 CPUs.
	NanoCPUs int64 `json:"nano_cpus,omitempty"`
	// MemoryBytes is memory in bytes.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// ResourceRequirements are a task's limits and reservations.
type ResourceRequirements struct {
	Limits       Resources `json:"limits"`
	PidsLimit    int64     `json:"pids_limit,omitempty"`
	Reservations Resources `json:"reservations"`
}

// RestartCondition says when a task is restarted.
type RestartCondition string

// Restart conditions.
const (
	RestartOnAny     RestartCondition = "any"
	RestartOnFailure RestartCondition = "on-failure"
	RestartOnNone    RestartCondition = "none"
)

// RestartPolicy controls restarts of a service's tasks.
type RestartPolicy struct {
	Condition RestartCondition `json:"condition"`
	// Delay between a task ending and its replacement starting; nil means
	// the default of 5 s.
	Delay *time.Duration `json:"delay,omitempty"`
	// MaxAttempts is the number of restarts within Window; 0 is unlimited.
	MaxAttempts uint64 `json:"max_attempts,omitempty"`
	// Window is the period over which restarts are counted; 0 means
	// forever.
	Window time.Duration `json:"window,omitempty"`
}

// DefaultRestartDelay is Docker's restart delay.
const DefaultRestartDelay = 5 * time.Second

// Placement constrains where tasks run.
type Placement struct {
	Constraints []string              `json:"constraints,omitempty"`
	Preferences []PlacementPreference `json:"preferences,omitempty"`
	// MaxReplicas is the maximum number of this service's tasks per node;
	// 0 is unlimited.
	MaxReplicas uint64     `json:"max_replicas,omitempty"`
	Platforms   []Platform `json:"platforms,omitempty"`
}

// PlacementPreference spreads tasks over the values of a node attribute.
type PlacementPreference struct {
	// Spread is the attribute, e.g. "node.labels.zone".
	Spread string `json:"spread"`
}

// ---------------------------------------------------------------------------
// Task

// TaskState is the observed or desired state of a task. States are numbered
// so that they only move forward: a state acts as a clock.
type TaskState int

// Task states, in order.
const (
	TaskStateNew       TaskState = 0
	TaskStatePending   TaskState = 64
	TaskStateAssigned  TaskState = 192
	TaskStateAccepted  TaskState = 256
	TaskStatePreparing TaskState = 320
	TaskStateReady     TaskState = 384
	TaskStateStarting  TaskState = 448
	TaskStateRunning   TaskState = 512
	TaskStateComplete  TaskState = 576
	TaskStateShutdown  TaskState = 640
	TaskStateFailed    TaskState = 704
	TaskStateRejected  TaskState = 768
	TaskStateRemove    TaskState = 800
	TaskStateOrphaned  TaskState = 832
)

var taskStateNames = map[TaskState]string{
	TaskStateNew:       "new",
	TaskStatePending:   "pending",
	TaskStateAssigned:  "assigned",
	TaskStateAccepted:  "accepted",
	TaskStatePreparing: "preparing",
	TaskStateReady:     "ready",
	TaskStateStarting:  "starting",
	TaskStateRunning:   "running",
	TaskStateComplete:  "complete",
	TaskStateShutdown:  "shutdown",
	TaskStateFailed:    "failed",
	TaskStateRejected:  "rejected",
	TaskStateRemove:    "remove",
	TaskStateOrphaned:  "orphaned",
}

// String returns Docker's lower-case name of the state.
func (s TaskState) String() string {
	if n, ok := taskStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ParseTaskState parses Docker's name of a task state.
func ParseTaskState(name string) (TaskState, error) {
	for s, n := range taskStateNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown task state %q", name)
}

// Terminal tells whether a task in this state will never run again.
func (s TaskState) Terminal() bool { return s > TaskStateRunning }

// Wanted tells whether a task whose desired state is s is meant to run:
// desired running, or complete for a job's task (run to completion).
func (s TaskState) Wanted() bool { return s <= TaskStateComplete }

// Task is one scheduled copy of a service's task spec.
type Task struct {
	ID string `json:"id"`
	Meta
	ServiceID string `json:"service_id"`
	// ServiceName is the service's name when the task was created; the
	// task's name is ServiceName.Slot (or ServiceName.NodeID for global
	// services).
	ServiceName string `json:"service_name"`
	// Slot is the replica number of a replicated service, from 1; 0 for
	// global services.
	Slot uint64 `json:"slot,omitempty"`
	// NodeID is the node the task is assigned to; empty while pending.
	NodeID string `json:"node_id,omitempty"`
	// Spec is the service's task spec at SpecVersion.
	Spec        TaskSpec `json:"spec"`
	SpecVersion Version  `json:"spec_version"`
	// Endpoint is the service's published ports at SpecVersion.
	Endpoint *EndpointSpec `json:"endpoint,omitempty"`
	// DesiredState is set by managers: running (complete for a job's
	// task), shutdown or remove. A job's task belongs to the iteration
	// its SpecVersion names (see JobStatus).
	DesiredState TaskState `json:"desired_state"`
	// Status is observed: set by the scheduler until the task is assigned,
	// then by the node's agent.
	Status TaskStatus `json:"status"`
	// Networks are the task's network attachments with their addresses,
	// set by the allocator.
	Networks []NetworkAttachment `json:"networks,omitempty"`
}

// Name returns the task's name as Docker shows it.
func (t *Task) Name() string {
	if t.Slot != 0 {
		return fmt.Sprintf("%s.%d", t.ServiceName, t.Slot)
	}
	return fmt.Sprintf("%s.%s", t.ServiceName, t.NodeID)
}

// TaskStatus is the observed status of a task.
type TaskStatus struct {
	Timestamp time.Time `json:"timestamp"`
	State     TaskState `json:"state"`
	// Message is a human readable description of the state.
	Message string `json:"message,omitempty"`
	// Err is the error that made the task fail, if any.
	Err string `json:"err,omitempty"`
	// Container is set once a container exists.
	Container *ContainerStatus `json:"container,omitempty"`
	// Ports are the ports published on the node.
	Ports []PortConfig `json:"ports,omitempty"`
}

// ContainerStatus is what the executor knows of a task's container.
type ContainerStatus struct {
	ContainerID string `json:"container_id"`
	PID         int    `json:"pid,omitempty"`
	ExitCode    int    `json:"exit_code"`
}
