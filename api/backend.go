package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// Backend is what the API server needs from the manager it runs in. The
// manager implements it over its Raft node (state/raft), its membership
// view and its log broker. Every method must be safe for concurrent use:
// the server calls them from one goroutine per request.
type Backend interface {
	ReplicatedStore
	Membership
	LogSource
	Metrics
}

// ReplicatedStore is the swarm state: the local store, made linearizable
// by ReadBarrier, and the Raft log that writes it.
type ReplicatedStore interface {
	// Store returns the manager's local store, the one committed commands
	// are applied to before Propose returns. The server only reads it and
	// never modifies the objects it returns. Reads that answer a client
	// come after ReadBarrier; a write whose command carries the version it
	// read as a precondition may read it first without one.
	Store() *state.Store
	// ReadBarrier returns once the local store reflects every write
	// acknowledged before the call (raft.Node.ReadBarrier). It fails with
	// an error matching raft.ErrNoQuorum when no leader can be reached.
	ReadBarrier(ctx context.Context) error
	// Proposer commits cmd through the leader (raft.Node.Propose).
	state.Proposer
}

// Membership tells who this node is and how the managers are doing.
type Membership interface {
	// NodeID returns this node's ID, or "" if the node is not part of a
	// swarm (yet): the server then refuses every cluster call with
	// Docker's "docker swarm init/join" message.
	NodeID() string
	// IsManager tells whether this node is currently a manager that can
	// serve the control API: a member of the Raft group. When it is false
	// (the node was demoted), cluster calls are refused with Docker's
	// message for workers.
	IsManager() bool
	// LeaderID returns the node ID of the current Raft leader, or "" during
	// an election.
	LeaderID() string
	// Reachability tells whether the manager with this node ID answers
	// this manager (raft.Node.Reachable), for ManagerStatus.Reachability
	// and the quorum check of a demotion. This node is always reachable;
	// a node that is not a Raft member is ReachabilityUnknown.
	Reachability(nodeID string) model.Reachability
	// RemoveManager removes a node from the Raft group through the leader
	// (raft.Node.RemoveServer). The server calls it for `docker node rm`
	// of a node that was demoted but is still a Raft member, before it
	// deletes the node; removing a node that is not a member must succeed.
	RemoveManager(ctx context.Context, nodeID string) error
}

// LogSource streams the logs of tasks, as the dispatcher offers them from
// the agents that run the tasks.
type LogSource interface {
	// SubscribeLogs streams the log lines of the tasks sel names. The
	// returned channel is owned by the LogSource, which closes it when
	// every requested line was sent (opts.Follow false) or when ctx ends;
	// it must never block on a send once ctx is done. An error that ends
	// the stream early is sent as a last message with Err set. An error
	// returned at once (no such task, no quorum) is answered to the client
	// with its status.
	SubscribeLogs(ctx context.Context, sel LogSelector, opts LogOptions) (<-chan LogMessage, error)
}

// Metrics is where the server registers its collectors and what /metrics
// serves. The manager registers its own (Raft, dispatcher, scheduler) on
// the same registry, so one scrape shows them all.
type Metrics interface {
	// Metrics returns the registry to register on and the gatherer that
	// /metrics serves; usually both are the same *prometheus.Registry.
	Metrics() (prometheus.Registerer, prometheus.Gatherer)
}

// LogSelector names the tasks whose logs to stream: every task of the
// listed services, and the listed tasks. The server fills it with full IDs.
type LogSelector struct {
	ServiceIDs []string
	TaskIDs    []string
}

// TailAll in LogOptions.Tail asks for every line the source has.
const TailAll = -1

// LogOptions are the options of `docker service logs`.
type LogOptions struct {
	// Follow keeps the stream open and sends new lines as they come.
	Follow bool
	// Tail is the number of last lines per task to send before
	// following; TailAll sends all of them, 0 none.
	Tail int
	// Since drops lines older than this time; zero keeps all.
	Since time.Time
	// Stdout and Stderr choose the streams; at least one is set.
	Stdout, Stderr bool
}

// LogStream is the stream a log line was written to.
type LogStream int

// Log streams.
const (
	LogStdout LogStream = iota + 1
	LogStderr
)

// LogContext says where a line comes from.
type LogContext struct {
	NodeID    string
	ServiceID string
	TaskID    string
}

// LogAttr is a detail attached to a log line (shown by --details), such as
// a label of the container.
type LogAttr struct {
	Key, Value string
}

// LogMessage is one line of a task's output.
type LogMessage struct {
	Context   LogContext
	Timestamp time.Time
	Stream    LogStream
	// Data is the line; the server adds the newline if it is missing.
	Data  []byte
	Attrs []LogAttr
	// Err, when set, ends the stream: the source could not go on.
	Err error
}
