package orchestrator

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
)

// Config configures an Orchestrator. Start from DefaultConfig.
type Config struct {
	// Clock tells time and makes the timers of restart delays, update
	// delays, monitor periods and retries. Every decision is computed from
	// timestamps in the store compared with Clock.Now, so the same store
	// gives the same decisions on any leader. Tests inject a fake clock.
	Clock clock.Clock

	// Logger receives the orchestrator's logs, with component=orchestrator
	// and service, task, slot and node IDs as fields.
	Logger *slog.Logger

	// ProposeTimeout bounds one Raft write. It is longer than a leader
	// election (about 1 s with state/raft's defaults) plus the proposer's
	// own wait for a leader, so a write is not abandoned during a failover
	// that would have let it through.
	ProposeTimeout time.Duration

	// RetryBackoff is the first wait after a write that failed as a whole
	// (no quorum, lost leadership, timeout); it doubles on each failure in
	// a row up to MaxRetryBackoff. 100 ms lets a brief election pass
	// without hammering the proposer; 5 s caps the reaction time once the
	// cluster is back.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration

	// ConflictRetry is how long after an operation that failed on a
	// precondition (the spec moved on, update out of sequence) the service
	// is looked at again if no change to it arrives first. The change that
	// caused the conflict normally arrives at once and triggers the retry;
	// this is a safety net, so it can be long.
	ConflictRetry time.Duration

	// WatchLimit is the most changes the change feed buffers for the
	// orchestrator before it gives up on them and starts over from a new
	// snapshot (state.ErrResync); 0 means state.DefaultWatchLimit. Starting
	// over is always correct, only slower: the limit bounds memory while a
	// round is slow.
	WatchLimit int

	// MaxBatch is the most task changes (creations, shutdowns, deletions)
	// put into one Raft command. It bounds the size of a log entry, not
	// the work of a round: a round's plans are packed into commands of at
	// most MaxBatch changes, a larger plan split over several, written one
	// after the other. So no log entry grows to megabytes and followers
	// apply each one quickly. 1,000 tasks encode to about 200 KB.
	MaxBatch int

	// MaxRoundChanges is the most task changes one round plans for one
	// service; the rest is planned by the next round, which runs at once.
	// Each round plans the whole service again (a pass over all its
	// tasks), so a cap of MaxBatch would make a scale to 100,000 replicas
	// cost 100 passes over up to 100,000 tasks; without a cap, the round
	// would write for as long as the whole scale takes without looking at
	// any other change (a node down, a task failed). 10,000 (10 commands
	// of 1,000) makes that scale 10 rounds of a few seconds at most.
	MaxRoundChanges int

	// MaxStartingTasks paces the creation of tasks: the most tasks of one
	// service that may be on their way to running at a time (created, not
	// yet running nor ended, still wanted). A service with that many
	// starting gets its next tasks as earlier ones run, so a large service
	// converges at the pace its nodes start containers, instead of
	// filling the store with tasks that wait (each a few hundred bytes on
	// every manager, and a scheduler pass) and its nodes' engines with
	// concurrent creates. Tasks no node can take (pending) count too: a
	// service that cannot be placed does not pile up more. 10,000 is one
	// round's worth (MaxRoundChanges), which keeps the 100,000-task scale
	// of BENCHMARKS.md going at full speed.
	MaxStartingTasks int

	// PacingInterval is how often a service held back by
	// MaxStartingTasks is looked at again to create its next tasks. Its
	// tasks' progress does not wake it: every step of every starting task
	// would cost a pass over all the service's tasks. 200 ms bounds those
	// passes to 5 a second and delays a refill by at most that.
	PacingInterval time.Duration
}

// DefaultConfig returns the settings for production.
func DefaultConfig() Config {
	return Config{
		Clock:            clock.Real(),
		Logger:           slog.Default(),
		ProposeTimeout:   10 * time.Second,
		RetryBackoff:     100 * time.Millisecond,
		MaxRetryBackoff:  5 * time.Second,
		ConflictRetry:    5 * time.Second,
		MaxBatch:         1000,
		MaxRoundChanges:  10000,
		MaxStartingTasks: 10000,
		PacingInterval:   200 * time.Millisecond,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Clock == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if c.ProposeTimeout <= 0 {
		errs = append(errs, errors.New("propose timeout must be positive"))
	}
	if c.RetryBackoff <= 0 || c.MaxRetryBackoff < c.RetryBackoff {
		errs = append(errs, errors.New("retry backoff must be positive and at most the max retry backoff"))
	}
	if c.ConflictRetry <= 0 {
		errs = append(errs, errors.New("conflict retry must be positive"))
	}
	if c.WatchLimit < 0 {
		errs = append(errs, errors.New("watch limit must not be negative"))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, errors.New("max batch must be at least 1"))
	}
	if c.MaxRoundChanges < 1 {
		errs = append(errs, errors.New("max round changes must be at least 1"))
	}
	if c.MaxStartingTasks < 1 || c.PacingInterval <= 0 {
		errs = append(errs, errors.New("max starting tasks must be at least 1 and the pacing interval positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("orchestrator: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
