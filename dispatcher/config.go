package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/clock"
)

// Config configures a Dispatcher. Start from DefaultConfig.
type Config struct {
	// Identify returns the verified identity of a request's caller. In
	// production it is
	//
	//	func(r *http.Request) (ca.Identity, error) { return ca.PeerIdentity(*r.TLS) }
	//
	// on the cluster port's mutual TLS. It must be safe for concurrent use.
	Identify func(*http.Request) (ca.Identity, error)

	// Leader returns the Raft leader's ID and address, or empty strings
	// when none is known (raft.Node.Leader). A manager that does not lead
	// answers agents 421 with the leader's cluster address: the address of
	// the leader's manager node in the store, else the one Leader returns.
	// Nil makes such a manager answer 503 without a leader.
	Leader func() (id, addr string)

	// HeartbeatPeriod is the heartbeat period used when the cluster spec
	// does not set one (Dispatcher.HeartbeatPeriod). 1 s, against
	// Swarm's 5 s: a heartbeat is one small request on an open HTTP/2
	// connection, so even 10,000 nodes make only 10,000 cheap requests a
	// second, and failures are noticed five times sooner.
	HeartbeatPeriod time.Duration

	// GraceMultiplier is the number of heartbeat periods without a
	// heartbeat after which a node is marked DOWN ("heartbeat failure").
	// 3, as in Swarm: one lost or late heartbeat is not a failure.
	GraceMultiplier int

	// CloseGrace is how long a node whose session stream closed (its agent
	// died, its connection dropped) has to open a new session before it is
	// marked DOWN ("session closed"). 1 s: an agent that lost only its
	// connection reconnects in about 100 ms (its first backoff), while a
	// killed agent is noticed in about a second instead of a full grace.
	CloseGrace time.Duration

	// LeaderChangeGrace is how long each node has to open a session with
	// a new leader before it is marked DOWN. 6 s: the election (about
	// 1 s with state/raft's defaults), agents asking every ~200 ms while
	// it runs and then following a redirect (under 1 s in the tests),
	// with room for agents that were backing off from an earlier failure
	// and for a thousand TLS handshakes at once. Swarm waits 30 s.
	// It grows with the number of nodes: see ReconnectRate.
	LeaderChangeGrace time.Duration

	// ReconnectRate is how many sessions per second a new leader is
	// counted on to accept (a TLS handshake and a registration each) when
	// every node reconnects at once. The leader change grace is
	// LeaderChangeGrace plus nodes/ReconnectRate seconds, so a large
	// cluster's nodes are not marked DOWN, and their tasks replaced, only
	// because the new leader could not shake hands with all of them in
	// time. 200: what one manager took on a 2-core machine (joins in
	// bench/sim). 0 keeps the grace fixed.
	ReconnectRate int

	// MaxHeartbeatRate caps the heartbeats per second the leader asks
	// for: with more than MaxHeartbeatRate nodes, the period grows to
	// nodes/MaxHeartbeatRate seconds (a heartbeat costs the leader 140 to
	// 270 µs, so 500/s is at most 15 % of a core). Fast failure detection
	// in large clusters then comes from closed sessions and gossip, not
	// heartbeats. 0: no cap.
	MaxHeartbeatRate int

	// StatusBatchInterval is how long task and node status updates are
	// collected before they are written in one Raft command. 50 ms: one
	// write carries the reports of every node, at a latency users do not
	// notice.
	StatusBatchInterval time.Duration

	// MaxBatch is the most task status updates written in one Raft
	// command; a larger batch is split. 2,000 updates encode to about
	// 600 KB.
	MaxBatch int

	// AssignmentDelay is how long changes to a node's tasks are coalesced
	// before they are sent on its session. 5 ms: a scheduler round or an
	// update step changes many tasks in consecutive commits; they reach
	// the node as one message.
	AssignmentDelay time.Duration

	// WriteTimeout bounds one write on a session stream. A node that does
	// not read its stream for that long loses its session, and its
	// pending changes stop growing.
	WriteTimeout time.Duration

	// ProposeTimeout bounds one Raft write of status updates. Longer than
	// an election, so a failover does not fail the writes it delays.
	ProposeTimeout time.Duration

	// LogBuffer is the number of log messages buffered per subscription
	// before agents are slowed down.
	LogBuffer int

	// Alive, if set, tells whether gossip sees a node alive (or only
	// suspected). A node whose heartbeats stop while Alive says true is held
	// up for at most HeartbeatHold: a stalled or briefly unreachable node is
	// not declared down and its tasks are not restarted, while a node that
	// really died is declared failed by gossip and confirmed at once through
	// ConfirmDown. It must be fast and safe for concurrent use.
	Alive func(nodeID string) bool
	// HeartbeatHold bounds the hold above. 10 s: longer than gossip's
	// suspicion timeout, so gossip decides first, and short enough that a
	// node gossip wrongly keeps alive is still noticed.
	HeartbeatHold time.Duration

	// Suspected, if set, tells whether this manager's gossip suspects a
	// node: its own probe of the node failed, direct, through other
	// members and over TCP, and this manager's own gossip health is good
	// (so the fault is not on this side). A node that has sent no
	// heartbeat for SuspectMultiplier periods while Suspected says true is
	// marked DOWN at once ("node unreachable"), without waiting for the
	// full heartbeat grace or for gossip's suspicion timeout: two
	// independent paths (the session's TCP connection and gossip's UDP
	// and TCP probes) agree that the node cannot be reached. This is what
	// makes a host cut off the network (no TCP reset reaches anyone) go
	// DOWN about as fast as a killed one. It is called every tenth of a
	// heartbeat period while a node is late by more than one period, so an
	// implementation may start slower checks of its own on the first call
	// and answer from them later. It must not block, and must be safe for
	// concurrent use.
	Suspected func(nodeID string) bool
	// SuspectMultiplier is the number of heartbeat periods without a
	// heartbeat after which a suspected node is marked DOWN. 2: one late
	// heartbeat never counts, a node must miss a whole period on top of a
	// failed gossip probe; below GraceMultiplier, so it is sooner than
	// heartbeats alone. 0 turns the rule off.
	SuspectMultiplier int

	// ManagerClient, if set, is an HTTP/2 client presenting this
	// manager's certificate (protocol.NewTransport with its
	// ca.ClientTLSConfig). SubscribeLogs on a manager that does not lead
	// then forwards the subscription to the leader with it, so the API can
	// serve `docker service logs` on any manager. Nil: SubscribeLogs
	// answers ErrNotLeader away from the leader.
	ManagerClient *http.Client

	// Clock drives node liveness: the heartbeat, session-close and
	// leader-change deadlines, the gossip hold, and the timers that mark
	// nodes DOWN when they pass. The status batch interval, the
	// assignment delay and network write deadlines are short coalescing
	// waits and I/O timeouts on the system clock. Tests set a fake clock
	// to decide exactly when a deadline passes.
	Clock clock.Clock

	// Logger receives the dispatcher's logs, with component=dispatcher and
	// node and session IDs as fields.
	Logger *slog.Logger
}

// DefaultConfig returns the settings for production. Identify and Leader
// must still be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatPeriod:     time.Second,
		HeartbeatHold:       10 * time.Second,
		GraceMultiplier:     3,
		SuspectMultiplier:   2,
		CloseGrace:          time.Second,
		LeaderChangeGrace:   6 * time.Second,
		ReconnectRate:       200,
		MaxHeartbeatRate:    500,
		StatusBatchInterval: 50 * time.Millisecond,
		MaxBatch:            2000,
		AssignmentDelay:     5 * time.Millisecond,
		WriteTimeout:        10 * time.Second,
		ProposeTimeout:      10 * time.Second,
		LogBuffer:           1024,
		Clock:               clock.Real(),
		Logger:              slog.Default(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Identify == nil {
		errs = append(errs, errors.New("identify function is nil"))
	}
	if c.HeartbeatHold < 0 {
		errs = append(errs, errors.New("heartbeat hold must not be negative"))
	}
	if c.HeartbeatPeriod <= 0 {
		errs = append(errs, errors.New("heartbeat period must be positive"))
	}
	if c.GraceMultiplier < 1 {
		errs = append(errs, errors.New("grace multiplier must be at least 1"))
	}
	if c.SuspectMultiplier < 0 || c.SuspectMultiplier > c.GraceMultiplier {
		errs = append(errs, fmt.Errorf("suspect multiplier %d: want 0 (off) to the grace multiplier %d", c.SuspectMultiplier, c.GraceMultiplier))
	}
	if c.CloseGrace <= 0 || c.LeaderChangeGrace <= 0 {
		errs = append(errs, errors.New("close and leader change graces must be positive"))
	}
	if c.ReconnectRate < 0 || c.MaxHeartbeatRate < 0 {
		errs = append(errs, errors.New("reconnect and heartbeat rates must not be negative"))
	}
	if c.StatusBatchInterval <= 0 {
		errs = append(errs, errors.New("status batch interval must be positive"))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, errors.New("max batch must be at least 1"))
	}
	if c.AssignmentDelay < 0 {
		errs = append(errs, errors.New("assignment delay must not be negative"))
	}
	if c.WriteTimeout <= 0 || c.ProposeTimeout <= 0 {
		errs = append(errs, errors.New("write and propose timeouts must be positive"))
	}
	if c.LogBuffer < 0 {
		errs = append(errs, errors.New("log buffer must not be negative"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("dispatcher: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
