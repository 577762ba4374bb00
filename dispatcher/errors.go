package dispatcher

import (
	"errors"

	"github.com/shoal-dev/shoal/internal/lifecycle"
)

// Errors returned by the Dispatcher.
var (
	// ErrNotLeader is returned by MarkDown and SubscribeLogs when this
	// manager's dispatcher is not running (it is not the leader).
	ErrNotLeader = errors.New("dispatcher: not running on the leader")
	// ErrStopped is returned by Run after Stop.
	ErrStopped = lifecycle.ErrStopped
	// ErrRunning is returned by Run while another Run is in progress.
	ErrRunning = lifecycle.ErrRunning
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
	// MessageUnreachable is the message of a node that sent no heartbeat
	// for Config.SuspectMultiplier periods while this manager's gossip
	// probes of it failed (Config.Suspected).
	MessageUnreachable = "node unreachable: heartbeats late and gossip probes fail"
	// MessageNodeRemoved ends the session of a node deleted from the store.
	MessageNodeRemoved = "node removed from the cluster"
)
