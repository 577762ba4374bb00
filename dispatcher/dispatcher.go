package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/lifecycle"
	"github.com/shoal-dev/shoal/state"
)

// Log types, the protocol's, named here for the API server.
type (
	LogSelector = protocol.LogSelector
	LogOptions  = protocol.LogOptions
	LogMessage  = protocol.LogMessage
	LogContext  = protocol.LogContext
)

// Dispatcher is the manager side of agent sessions. See the package
// documentation.
type Dispatcher struct {
	store    *state.Store
	proposer state.Proposer
	cfg      Config
	log      *slog.Logger

	life       lifecycle.Guard
	mu         sync.Mutex
	leadership *leadership // the leadership being served, nil when not running
}

// New returns a dispatcher of the nodes in store that writes through
// proposer. store must be the store proposer's writes are applied to (the
// Raft node's own). cfg is checked by Run.
func New(store *state.Store, proposer state.Proposer, cfg Config) *Dispatcher {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Dispatcher{
		store:    store,
		proposer: proposer,
		cfg:      cfg,
		log:      logger.With("component", "dispatcher"),
	}
}

// Run serves agent sessions until ctx ends or Stop is called, then
// returns nil. Call it once per leadership with the leadership's context
// (raft.Node.OnLeader). Runs must not overlap (ErrRunning). Until Run is
// called, and after it returns, the handler answers 421 naming the leader.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.cfg.Validate(); err != nil {
		return err
	}
	ctx, end, err := d.life.Start(ctx)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	defer end()

	t, err := newLeadership(ctx, d)
	if err != nil {
		return fmt.Errorf("dispatcher: starting: %w", err)
	}
	d.mu.Lock()
	d.leadership = t
	d.mu.Unlock()
	d.log.Info("dispatcher started", "nodes", t.trackedNodes())

	t.run()

	d.mu.Lock()
	d.leadership = nil
	d.mu.Unlock()
	t.close()
	d.log.Info("dispatcher stopped")
	return nil
}

// Stop ends the current Run, if any, waits for it to return, and makes
// later Runs return ErrStopped. It may be called more than once.
func (d *Dispatcher) Stop() { d.life.Stop() }

// currentLeadership returns the leadership being served, or nil.
func (d *Dispatcher) currentLeadership() *leadership {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leadership
}

// MarkDown marks a node DOWN with reason as its status message and ends
// its session, if any: the gossip layer calls it once it has confirmed a
// failure. An agent that is in fact alive opens a new session and is READY
// again. It returns ErrNotLeader when the dispatcher is not running and
// ErrUnknownNode for a node not in the store.
func (d *Dispatcher) MarkDown(nodeID, reason string) error {
	t := d.currentLeadership()
	if t == nil {
		return ErrNotLeader
	}
	return t.markDown(nodeID, reason)
}

// ConfirmDown is the gossip layer's report that a node failed: the node is
// marked DOWN at once (reason as its status message) if the heartbeat path
// agrees, that is if the node sent no heartbeat for a period. It tells
// whether the node is down.
func (d *Dispatcher) ConfirmDown(nodeID, reason string) (bool, error) {
	t := d.currentLeadership()
	if t == nil {
		return false, ErrNotLeader
	}
	return t.confirmDown(nodeID, reason)
}

// Sessions returns the number of open sessions, 0 when not running.
func (d *Dispatcher) Sessions() int {
	t := d.currentLeadership()
	if t == nil {
		return 0
	}
	return t.sessionCount()
}
