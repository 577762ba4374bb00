package scheduler

import (
	"context"
	"log/slog"

	"github.com/shoal-dev/shoal/internal/lifecycle"
	"github.com/shoal-dev/shoal/state"
)

// Scheduler assigns pending tasks to nodes: it watches the store, places
// the pending tasks with PlaceTasks and writes the decisions of each pass
// in one Raft command. It runs on the leader only; see the package
// documentation.
type Scheduler struct {
	store    *state.Store
	proposer state.Proposer
	cfg      Config
	log      *slog.Logger

	life lifecycle.Guard
}

// New returns a scheduler of the tasks in store that writes through
// proposer. store must be the store proposer's writes are applied to
// before Propose returns (the local store of the Raft node), so that each
// pass sees the previous pass's writes. cfg is checked by Run.
func New(store *state.Store, proposer state.Proposer, cfg Config) *Scheduler {
	return &Scheduler{
		store:    store,
		proposer: proposer,
		cfg:      cfg,
		log:      lifecycle.Logger(cfg.Logger, "scheduler"),
	}
}

// Run schedules until ctx ends or Stop is called, then returns nil. Call it
// once per leadership, with a context that ends with the leadership
// (raft.Node.OnLeader gives one): it starts from a fresh snapshot of the
// store, so a new leader places whatever the previous one left pending.
// Runs must not overlap (ErrRunning). It returns an error at once if the
// Config is invalid (ErrInvalidConfig), or ErrStopped after Stop.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	return s.life.Run(ctx, lifecycle.Retry{
		Name:       "scheduler",
		Log:        s.log,
		Clock:      s.cfg.Clock,
		Backoff:    s.cfg.RetryBackoff,
		MaxBackoff: s.cfg.MaxRetryBackoff,
		Resync:     state.ErrResync,
	}, func(ctx context.Context) error { return newLoop(s).run(ctx) })
}

// Stop ends the current Run, if any, waits for it to return, and makes
// later Runs return ErrStopped. It may be called more than once.
func (s *Scheduler) Stop() { s.life.Stop() }
