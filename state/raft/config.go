package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Config configures a Raft node. Timeouts are tuned for a LAN; see
// DefaultConfig for why each default was chosen and WANConfig for slower
// networks.
type Config struct {
	// NodeID is the Raft server ID: the swarm node ID.
	NodeID string
	// Addr is the advertised cluster address (host:port) other managers
	// reach this one at, for Raft and for forwarded requests.
	Addr string
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string

	// HeartbeatTimeout is how long a follower waits without hearing from a
	// leader before it starts an election. Raft randomises it between 1x
	// and 2x. Together with ElectionTimeout it bounds failover time.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before it
	// starts another election (randomised 1x to 2x).
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing
	// from a quorum. It must not exceed HeartbeatTimeout. It bounds how
	// long a leader cut off from its quorum goes on accepting writes that
	// will fail.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest a follower waits to learn the commit
	// index when there are no new entries; it bounds how stale a follower
	// read waits for.
	CommitTimeout time.Duration
	// MaxAppendEntries is the most entries sent or applied in one batch.
	MaxAppendEntries int

	// SnapshotThreshold is the number of new entries after which a
	// snapshot is taken; SnapshotInterval is how often that is checked.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is the number of entries kept after a snapshot, so a
	// briefly lagging follower catches up from the log, not a snapshot.
	TrailingLogs uint64
	// RetainSnapshots is the number of snapshots kept on disk.
	RetainSnapshots int

	// DataKey, if set, encrypts log entries and snapshots at rest with
	// AES-256-GCM (32 bytes; see package encryption).
	DataKey []byte

	// LeaderWaitTimeout is how long a write or linearizable read waits for
	// a leader (during an election) before failing with a no-quorum error.
	LeaderWaitTimeout time.Duration
	// ShutdownTransferTimeout bounds the leadership transfer a leader
	// attempts before it shuts down.
	ShutdownTransferTimeout time.Duration

	// Logger receives the node's logs. Raft's own logs are passed on at
	// warning level and above.
	Logger *slog.Logger

	// wrapLogs, if set, wraps the log store (tests inject disk faults
	// with it).
	wrapLogs func(hraft.LogStore) hraft.LogStore
}

// DefaultConfig returns settings for managers on one LAN or one machine.
//
// A dead leader is noticed after HeartbeatTimeout (500 ms to 1 s with
// Raft's randomisation), an election on a LAN takes a few milliseconds plus
// at most one ElectionTimeout if votes split, and the new leader commits a
// no-op before it serves: failover is about 0.6 to 1.5 s, against about 10 s
// in SwarmKit (1 s tick, election after 10 ticks). Shorter timeouts would
// make elections fire on GC pauses and brief network blips.
//
// LeaderLeaseTimeout equals HeartbeatTimeout: a leader steps down only
// after 500 ms without hearing from a quorum. The lease does not affect
// safety (linearizable reads confirm leadership with a heartbeat round,
// writes need a quorum) nor failover (the followers' HeartbeatTimeout
// decides that); it only bounds how long a cut-off leader goes on
// answering before it admits it lost. At 250 ms, a leader on an
// overloaded 2-core machine lost its lease again and again (25 to 108
// elections in a 100,000-task run of bench/sim), each election making
// every agent reconnect.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:        500 * time.Millisecond,
		ElectionTimeout:         500 * time.Millisecond,
		LeaderLeaseTimeout:      500 * time.Millisecond,
		CommitTimeout:           20 * time.Millisecond,
		MaxAppendEntries:        256,
		SnapshotThreshold:       8192,
		SnapshotInterval:        30 * time.Second,
		TrailingLogs:            10240,
		RetainSnapshots:         2,
		LeaderWaitTimeout:       3 * time.Second,
		ShutdownTransferTimeout: 2 * time.Second,
		Logger:                  slog.Default(),
	}
}

// WANConfig returns settings for managers across slower links (cross-zone
// or cross-region, round trips up to ~100 ms): fewer false elections at the
// price of failover in about 3 to 6 s.
func WANConfig() Config {
	c := DefaultConfig()
	c.HeartbeatTimeout = 2 * time.Second
	c.ElectionTimeout = 2 * time.Second
	c.LeaderLeaseTimeout = time.Second
	c.CommitTimeout = 50 * time.Millisecond
	c.LeaderWaitTimeout = 8 * time.Second
	return c
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node ID is empty"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("address is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < 5*time.Millisecond {
		errs = append(errs, errors.New("heartbeat and election timeouts must be at least 5ms"))
	}
	if c.LeaderLeaseTimeout <= 0 || c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, errors.New("leader lease timeout must be positive and at most the heartbeat timeout"))
	}
	if c.CommitTimeout <= 0 {
		errs = append(errs, errors.New("commit timeout must be positive"))
	}
	if c.LeaderWaitTimeout <= 0 {
		errs = append(errs, errors.New("leader wait timeout must be positive"))
	}
	if c.DataKey != nil && len(c.DataKey) != 32 {
		errs = append(errs, fmt.Errorf("data key must be 32 bytes, got %d", len(c.DataKey)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("raft: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
