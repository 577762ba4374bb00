package allocator

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
// raft.Node satisfies it. It must be safe for concurrent use; the
// allocator calls it from Run's goroutine only and does not keep cmd.
type Proposer interface {
	Propose(ctx context.Context, cmd *state.Command) (state.Results, error)
}

// Allocator gives out the cluster's network resources from the store. It
// runs on the Raft leader only; see the package documentation.
type Allocator struct {
	store    *state.Store
	proposer Proposer
	cfg      Config
	log      *slog.Logger

	mu      sync.Mutex
	running bool
	stopped bool
	stopCh  chan struct{}
	done    chan struct{}
}

// New returns an allocator of the objects in store that writes through
// proposer. store must be the store proposer's writes are applied to
// before Propose returns (the local store of the Raft node): the
// allocator reads back what its writes did. cfg is checked by Run.
func New(store *state.Store, proposer Proposer, cfg Config) *Allocator {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Allocator{
		store:    store,
		proposer: proposer,
		cfg:      cfg,
		log:      logger.With("component", "allocator"),
		stopCh:   make(chan struct{}),
	}
}

// Run allocates until ctx ends or Stop is called, then returns nil. Call
// it once per leadership term, after the leader's barrier (raft.Node's
// OnLeader hooks run after it), with a context that ends with the term: it
// rebuilds what is held from the store, so it must see every entry an
// earlier leader committed, and no write of an earlier leader can commit
// after that. Runs must not overlap (ErrRunning). It returns an error at
// once if the Config is invalid, or ErrStopped after Stop.
func (a *Allocator) Run(ctx context.Context) error {
	if err := a.cfg.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	switch {
	case a.stopped:
		a.mu.Unlock()
		return ErrStopped
	case a.running:
		a.mu.Unlock()
		return ErrRunning
	}
	a.running = true
	done := make(chan struct{})
	a.done = done
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		close(done)
		a.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()

	a.log.Info("allocator started")
	defer a.log.Info("allocator stopped")
	failures := 0
	for {
		err := newTerm(a).run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, state.ErrResync) {
			a.log.Warn("change feed lost events; starting again from a new snapshot")
			continue
		}
		failures++
		wait := backoff(a.cfg.RetryBackoff, a.cfg.MaxRetryBackoff, failures)
		a.log.Error("allocator loop failed; starting again", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Stop ends the current Run, if any, waits for it to return, and makes
// later Runs return ErrStopped. It may be called more than once.
func (a *Allocator) Stop() {
	a.mu.Lock()
	if !a.stopped {
		a.stopped = true
		close(a.stopCh)
	}
	done := a.done
	running := a.running
	a.mu.Unlock()
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
