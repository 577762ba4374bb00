package orchestrator

import (
	"context"
	"log/slog"

	"github.com/shoal-dev/shoal/internal/lifecycle"
	"github.com/shoal-dev/shoal/state"
)

// Errors returned by Run.
var (
	// ErrStopped is returned by Run after Stop.
	ErrStopped = lifecycle.ErrStopped
	// ErrRunning is returned by Run while another Run is in progress.
	ErrRunning = lifecycle.ErrRunning
)

// Orchestrator keeps the tasks of every service in line with its spec:
// replicas and global tasks, restarts, history, rolling updates,
// rollbacks, rebalancing and the removal of deleted services' tasks. It
// runs on the leader only; see the package documentation.
type Orchestrator struct {
	store    *state.Store
	proposer state.Proposer
	cfg      Config
	log      *slog.Logger

	life lifecycle.Guard
}

// New returns an orchestrator of the tasks in store that writes through
// proposer. store must be the store proposer's writes are applied to
// before Propose returns (the local store of the Raft node), so that the
// orchestrator reads its own writes. cfg is checked by Run.
func New(store *state.Store, proposer state.Proposer, cfg Config) *Orchestrator {
	return &Orchestrator{
		store:    store,
		proposer: proposer,
		cfg:      cfg,
		log:      lifecycle.Logger(cfg.Logger, "orchestrator"),
	}
}

// Run reconciles until ctx ends or Stop is called, then returns nil. Call it
// once per leadership, with a context that ends with the leadership
// (raft.Node.OnLeader gives one): it starts from a fresh snapshot of the
// store, so a new leader carries on whatever the previous one left, and
// nothing it remembers outlives the loop. Runs must not overlap (ErrRunning).
// It returns an error at once if the Config is invalid, or ErrStopped after
// Stop.
func (o *Orchestrator) Run(ctx context.Context) error {
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	return o.life.Run(ctx, lifecycle.Retry{
		Name:       "orchestrator",
		Log:        o.log,
		Clock:      o.cfg.Clock,
		Backoff:    o.cfg.RetryBackoff,
		MaxBackoff: o.cfg.MaxRetryBackoff,
		Resync:     state.ErrResync,
	}, func(ctx context.Context) error { return newLoop(o).run(ctx) })
}

// Stop ends the current Run, if any, waits for it to return, and makes
// later Runs return ErrStopped. It may be called more than once.
func (o *Orchestrator) Stop() { o.life.Stop() }
