package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/state"
)

// Proposer commits commands to the replicated store and returns the
// results of their operations once the local store has applied them.
// raft.Node satisfies it. It must be safe for concurrent use; the scheduler
// calls it from Run's goroutine only and does not keep cmd.
type Proposer interface {
	Propose(ctx context.Context, cmd *state.Command) (state.Results, error)
}

// Scheduler assigns pending tasks to nodes: it watches the store, places
// the pending tasks with PlaceTasks and writes the decisions of each pass
// in one Raft command. It runs on the leader only; see the package
// documentation.
type Scheduler struct {
	store    *state.Store
	proposer Proposer
	cfg      Config
	log      *slog.Logger

	mu      sync.Mutex
	running bool
	stopped bool
	stopCh  chan struct{}
	done    chan struct{} // closed when the current Run returns
}

// New returns a scheduler of the tasks in store that writes through
// proposer. store must be the store proposer's writes are applied to
// before Propose returns (the local store of the Raft node), so that each
// pass sees the previous pass's writes. cfg is checked by Run.
func New(store *state.Store, proposer Proposer, cfg Config) *Scheduler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Scheduler{
		store:    store,
		proposer: proposer,
		cfg:      cfg,
		log:      logger.With("component", "scheduler"),
		stopCh:   make(chan struct{}),
	}
}

// Run schedules until ctx ends or Stop is called, then returns nil. Call it
// once per leadership term, with a context that ends with the term
// (raft.Node.OnLeader gives one): it starts from a fresh snapshot of the
// store, so a new leader places whatever the previous one left pending.
// Runs must not overlap (ErrRunning). It returns an error at once if the
// Config is invalid (ErrInvalidConfig), or ErrStopped after Stop.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	switch {
	case s.stopped:
		s.mu.Unlock()
		return ErrStopped
	case s.running:
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	done := make(chan struct{})
	s.done = done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		close(done)
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()

	s.log.Info("scheduler started")
	defer s.log.Info("scheduler stopped")
	failures := 0
	for {
		err := newTerm(s).run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, state.ErrResync) {
			s.log.Warn("change feed lost events; starting again from a new snapshot")
			continue
		}
		// Only a broken store gets here; do not spin on it.
		failures++
		wait := backoff(s.cfg.RetryBackoff, s.cfg.MaxRetryBackoff, failures)
		s.log.Error("scheduler loop failed; starting again", "err", err, "retry_in", wait)
		t := s.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// Stop ends the current Run, if any, waits for it to return, and makes
// later Runs return ErrStopped. It may be called more than once.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stopCh)
	}
	done := s.done
	running := s.running
	s.mu.Unlock()
	if running {
		<-done
	}
}

// backoff returns base doubled for each failure after the first, capped.
func backoff(base, limit time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
