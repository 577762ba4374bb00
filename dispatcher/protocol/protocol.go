// Package protocol is the wire format of agent sessions: the paths, the
// JSON messages and a thin HTTP client of them. Managers serve it (package
// dispatcher); agents speak it (package agent). It holds no logic of
// either side. The protocol itself is described in the dispatcher
// package's documentation.
package protocol

import (
	"net/url"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// PathPrefix is where the dispatcher is mounted on the cluster port.
const PathPrefix = "/dispatcher/v1/"

// Paths of a node's endpoints. nodeID must be the caller's own node ID,
// the CN of its certificate.
func SessionPath(nodeID string) string   { return nodePath(nodeID) + "/session" }
func HeartbeatPath(nodeID string) string { return nodePath(nodeID) + "/heartbeat" }
func StatusPath(nodeID string) string    { return nodePath(nodeID) + "/status" }
func TasksPath(nodeID string) string     { return nodePath(nodeID) + "/tasks" }

// LogsPath is where a node publishes the lines of log subscription subID.
func LogsPath(nodeID, subID string) string {
	return nodePath(nodeID) + "/logs/" + url.PathEscape(subID)
}

// LogsSubscribePath is where a manager that does not lead forwards a log
// subscription to the leader (managers only).
const LogsSubscribePath = PathPrefix + "logs"

// LogsRequest is the body of a forwarded log subscription.
type LogsRequest struct {
	Selector LogSelector `json:"selector"`
	Options  LogOptions  `json:"options"`
}

func nodePath(nodeID string) string { return PathPrefix + "nodes/" + url.PathEscape(nodeID) }

// ContentTypeStream is the content type of the session stream and of log
// publications: JSON values, one per line.
const ContentTypeStream = "application/x-ndjson"

// SessionRequest is the body of a session request.
type SessionRequest struct {
	// Description is what the node reports about itself; nil keeps the
	// stored one (the engine could not be asked).
	Description *model.NodeDescription `json:"description,omitempty"`
	// EngineError, when not empty, says why the node's container engine
	// cannot be used: the node is marked DOWN with it as the message.
	EngineError string `json:"engine_error,omitempty"`
}

// MessageType names a message of the session stream.
type MessageType string

// Message types, in the order a session starts with.
const (
	// MessageSession opens the stream: Session is set.
	MessageSession MessageType = "session"
	// MessageManagers carries the managers of the cluster; sent at the
	// start and whenever the set changes.
	MessageManagers MessageType = "managers"
	// MessageNode carries the node's own spec and role; sent at the start
	// and whenever they change.
	MessageNode MessageType = "node"
	// MessageAssignments carries the node's tasks: first the full set,
	// then changes.
	MessageAssignments MessageType = "assignments"
	// MessageLogs asks the node to publish (or to stop publishing) the
	// logs of its matching tasks.
	MessageLogs MessageType = "logs"
	// MessageGossip carries the gossip encryption keys (the first is the
	// primary), at the start of a session and whenever the leader rotates
	// them. This authenticated session is the only way keys reach nodes.
	MessageGossip MessageType = "gossip"
	// MessageSecrets carries the secrets and configs the node's tasks
	// reference (assigned, not stopped, desired state at most running):
	// the whole set, sent before the assignments that need it and again
	// whenever it changes. A node gets no other secret. Agents keep them
	// in memory only.
	MessageSecrets MessageType = "secrets"
	// MessageNetworks carries the node's view of the networks it has
	// tasks or a load-balancer address on: the whole view, sent before
	// the assignments that need it and again whenever it changes.
	MessageNetworks MessageType = "networks"
)

// Message is one line of the session stream. Only the field its Type
// names is set.
type Message struct {
	Type        MessageType      `json:"type"`
	Session     *SessionInfo     `json:"session,omitempty"`
	Managers    []Manager        `json:"managers,omitempty"`
	GossipKeys  [][]byte         `json:"gossip_keys,omitempty"`
	Node        *NodeInfo        `json:"node,omitempty"`
	Assignments *Assignments     `json:"assignments,omitempty"`
	Logs        *LogSubscription `json:"logs,omitempty"`
	Secrets     *Secrets         `json:"secrets,omitempty"`
	Networks    *NetworkView     `json:"networks,omitempty"`
}

// Secrets are the secrets and configs a node's tasks reference, by ID.
type Secrets struct {
	Secrets []*model.Secret `json:"secrets,omitempty"`
	Configs []*model.Config `json:"configs,omitempty"`
}

// NetworkView is what a node needs to know of the networks it has tasks
// or a load-balancer address on, one entry per network, by ID.
type NetworkView struct {
	Networks []NetworkState `json:"networks,omitempty"`
}

// NetworkState is one network as a node sees it.
type NetworkState struct {
	// Network is the network object: its VXLAN ID and IPAM configs.
	Network *model.Network `json:"network"`
	// LBAddress is this node's load-balancer address on it (CIDR), if
	// any.
	LBAddress string `json:"lb_address,omitempty"`
	// Peers are the nodes with tasks or a load-balancer address on the
	// network, this node included.
	Peers []NetworkPeer `json:"peers,omitempty"`
	// Endpoints are the network's task endpoints on every node.
	Endpoints []TaskEndpoint `json:"endpoints,omitempty"`
	// Services are the services with a virtual IP on the network.
	Services []ServiceVIP `json:"services,omitempty"`
}

// NetworkPeer is a node on a network: where to send its traffic.
type NetworkPeer struct {
	NodeID string `json:"node_id"`
	// Addr is the node's underlay address, as its session comes from.
	Addr string `json:"addr,omitempty"`
	// LBAddress is its load-balancer address on the network (CIDR).
	LBAddress string `json:"lb_address,omitempty"`
}

// TaskEndpoint is a task's address on a network.
type TaskEndpoint struct {
	TaskID      string   `json:"task_id"`
	ServiceID   string   `json:"service_id"`
	ServiceName string   `json:"service_name"`
	NodeID      string   `json:"node_id"`
	Addresses   []string `json:"addresses"`
	Aliases     []string `json:"aliases,omitempty"`
	// Running: the task runs (and, with a healthcheck, has been healthy:
	// a task becomes RUNNING only then). Only running tasks get
	// connections and resolve; the others are in the view for the data
	// plane (their addresses' overlay entries).
	Running bool `json:"running,omitempty"`
}

// ServiceVIP is a service's virtual IP on a network, and the ports it
// publishes.
type ServiceVIP struct {
	ServiceID   string             `json:"service_id"`
	ServiceName string             `json:"service_name"`
	Addr        string             `json:"addr"`
	Ports       []model.PortConfig `json:"ports,omitempty"`
}

// SessionInfo identifies a session.
type SessionInfo struct {
	ID string `json:"id"`
	// HeartbeatPeriod is how often the node must send heartbeats, in
	// nanoseconds. Heartbeat answers may change it.
	HeartbeatPeriod time.Duration `json:"heartbeat_period"`
}

// Manager is a manager the node may open sessions with.
type Manager struct {
	ID string `json:"id"`
	// Addr is its cluster address (host:port).
	Addr string `json:"addr"`
	// GossipAddr is its gossip address, for nodes to join gossip through.
	GossipAddr string `json:"gossip_addr,omitempty"`
}

// NodeInfo is what the cluster says about the node.
type NodeInfo struct {
	ID   string         `json:"id"`
	Role model.NodeRole `json:"role"`
	Spec model.NodeSpec `json:"spec"`
}

// Assignments are the node's tasks: every task assigned to it (status
// ASSIGNED or later), with the desired state managers set.
type Assignments struct {
	// Full says that Tasks is the whole set: tasks the node runs that are
	// not in it are no longer assigned to it. Otherwise Tasks are tasks
	// added or changed and Removed the IDs of tasks no longer assigned.
	Full    bool          `json:"full,omitempty"`
	Tasks   []*model.Task `json:"tasks,omitempty"`
	Removed []string      `json:"removed,omitempty"`
}

// HeartbeatRequest is the body of a heartbeat.
type HeartbeatRequest struct {
	SessionID string `json:"session_id"`
	// EngineError is as in SessionRequest: empty once the engine works.
	EngineError string `json:"engine_error,omitempty"`
}

// HeartbeatResponse tells when to send the next heartbeat.
type HeartbeatResponse struct {
	// Period is the heartbeat period in nanoseconds.
	Period time.Duration `json:"period"`
}

// StatusRequest is a batch of task status reports.
type StatusRequest struct {
	SessionID string                   `json:"session_id"`
	Updates   []model.TaskStatusUpdate `json:"updates"`
}

// TasksResponse is the answer of a tasks read.
type TasksResponse struct {
	Tasks []*model.Task `json:"tasks"`
}

// ErrorResponse is the body of every answer that is not 2xx.
type ErrorResponse struct {
	Message string `json:"message"`
	// LeaderID and LeaderAddr are set in 421 answers when the leader is
	// known: open the session there.
	LeaderID   string `json:"leader_id,omitempty"`
	LeaderAddr string `json:"leader_addr,omitempty"`
}

// ---------------------------------------------------------------------------
// Logs

// LogSelector selects tasks whose logs are wanted: a task matches if it is
// one of TaskIDs, or belongs to one of ServiceIDs, or runs on one of
// NodeIDs.
type LogSelector struct {
	ServiceIDs []string `json:"service_ids,omitempty"`
	TaskIDs    []string `json:"task_ids,omitempty"`
	NodeIDs    []string `json:"node_ids,omitempty"`
}

// Matches tells whether a task matches the selector.
func (s *LogSelector) Matches(t *model.Task) bool {
	for _, id := range s.TaskIDs {
		if t.ID == id {
			return true
		}
	}
	for _, id := range s.ServiceIDs {
		if t.ServiceID == id {
			return true
		}
	}
	for _, id := range s.NodeIDs {
		if t.NodeID == id {
			return true
		}
	}
	return false
}

// TailNone as LogOptions.Tail shows no past lines.
const TailNone = -1

// LogOptions says which lines are wanted, as `docker service logs` does.
type LogOptions struct {
	// Follow keeps streaming new lines until the subscriber cancels.
	Follow bool `json:"follow,omitempty"`
	// Tail is the number of past lines per task; 0 is all of them and
	// TailNone none.
	Tail int `json:"tail,omitempty"`
	// Since skips lines written before it, if set.
	Since time.Time `json:"since,omitempty"`
	// Timestamps is passed on for the subscriber's formatting: messages
	// always carry their timestamp.
	Timestamps bool `json:"timestamps,omitempty"`
}

// LogSubscription asks a node for logs, or (Close) to stop sending them.
type LogSubscription struct {
	ID       string      `json:"id"`
	Selector LogSelector `json:"selector"`
	Options  LogOptions  `json:"options"`
	Close    bool        `json:"close,omitempty"`
}

// LogContext says where a log line comes from.
type LogContext struct {
	ServiceID string `json:"service_id,omitempty"`
	NodeID    string `json:"node_id"`
	TaskID    string `json:"task_id,omitempty"`
}

// LogMessage is one line of a task's output, or, with Err set, the reason
// why a node's part of a subscription ended early.
type LogMessage struct {
	Context   LogContext `json:"context"`
	Timestamp time.Time  `json:"timestamp,omitempty"`
	// Stream is "stdout" or "stderr".
	Stream string `json:"stream,omitempty"`
	// Text is the line without its newline.
	Text string `json:"text,omitempty"`
	Err  string `json:"err,omitempty"`
}

// LogPublication is one line of a node's log publication. The last line of
// a complete publication has Done set; a publication that ends without it
// failed.
type LogPublication struct {
	Messages []LogMessage `json:"messages,omitempty"`
	Done     bool         `json:"done,omitempty"`
}
