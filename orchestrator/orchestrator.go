package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/shoal-dev/shoal/state"
)

// Errors returned by Run.
var (
	// ErrStopped is returned by Run after Stop.
	ErrStopped = errors.New("orchestrator: stopped")
	// ErrRunning is returned by Run while another Run is in progress.
	ErrRunning = errors.New("orchestrator: already running")
)

// Proposer commits commands to the replicated store and returns the
// results of their operations once the local store has applied them.
// raft.Node satisfies it. It must be safe for concurrent use; the
// orchestrator calls it from Run's goroutine only and does not keep cmd.
type Proposer interface {
	Propose(ctx context.Context, cmd *state.Command) (state.Results, error)
}

// Orchestrator keeps the tasks of every service in line with its spec:
// replicas and global tasks, restarts, history, rolling updates,
// rollbacks, rebalancing and the removal of deleted services' tasks. It
// runs on the leader only; see the package documentation.
type Orchestrator struct {
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

// New returns an orchestrator of the tasks in store that writes through
// proposer. store must be the store proposer's writes are applied to
// before Propose returns (the local store of the Raft node), so that the
// orchestrator reads its own writes. cfg is checked by Run.
func New(store *state.Store, proposer Proposer, cfg Config) *Orchestrator {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Orchestrator{
		store:    store,
		proposer: proposer,
		cfg:      cfg,
		log:      logger.With("component", "orchestrator"),
		stopCh:   make(chan struct{}),
	}
}

// Run reconciles until ctx ends or Stop is called, then returns nil. Call it
// once per leadership term, with a context that ends with the term
// (raft.Node.OnLeader gives one): it starts from a fresh snapshot of the
// store, so a new leader carries on whatever the previous one left, and
// nothing it remembers outlives the term. Runs must not overlap (ErrRunning).
// It returns an error at once if the Config is invalid, or ErrStopped after
// Stop.
func (o *Orchestrator) Run(ctx context.Context) error {
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	o.mu.Lock()
	switch {
	case o.stopped:
		o.mu.Unlock()
		return ErrStopped
	case o.running:
		o.mu.Unlock()
		return ErrRunning
	}
	o.running = true
	done := make(chan struct{})
	o.done = done
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.running = false
		close(done)
		o.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-o.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()

	o.log.Info("orchestrator started")
	defer o.log.Info("orchestrator stopped")
	failures := 0
	for {
		err := newTerm(o).run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, state.ErrResync) {
			o.log.Warn("change feed lost events; starting again from a new snapshot")
			continue
		}
		// Only a broken store gets here; do not spin on it.
		failures++
		wait := backoff(o.cfg.RetryBackoff, o.cfg.MaxRetryBackoff, failures)
		o.log.Error("orchestrator loop failed; starting again", "err", err, "retry_in", wait)
		t := o.cfg.Clock.NewTimer(wait)
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
func (o *Orchestrator) Stop() {
	o.mu.Lock()
	if !o.stopped {
		o.stopped = true
		close(o.stopCh)
	}
	done := o.done
	running := o.running
	o.mu.Unlock()
	if running {
		<-done
	}
}
