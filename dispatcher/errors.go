package dispatcher

import "errors"

// Errors returned by the Dispatcher.
var (
	// ErrNotLeader is returned by MarkDown and SubscribeLogs when this
	// manager's dispatcher is not running (it is not the leader).
	ErrNotLeader = errors.New("dispatcher: not running on the leader")
	// ErrStopped is returned by Run after Stop.
	ErrStopped = errors.New("dispatcher: stopped")
	// ErrRunning is returned by Run while another Run is in progress.
	ErrRunning = errors.New("dispatcher: already running")
	// ErrUnknownNode is returned by MarkDown for a node not in the store.
	ErrUnknownNode = errors.New("dispatcher: unknown node")
)

// Node status messages the dispatcher writes.
const (
	// MessageHeartbeatFailure is the message of a node that sent no
	// heartbeat within the grace period, or did not come back after a
	// leader change. Swarm's text.
	MessageHeartbeatFailure = "heartbeat failure"
	// MessageSessionClosed is the message of a node whose session closed
	// and that did not open a new one within the close grace.
	MessageSessionClosed = "session closed"
	// MessageNodeRemoved ends the session of a node deleted from the store.
	MessageNodeRemoved = "node removed from the cluster"
)
