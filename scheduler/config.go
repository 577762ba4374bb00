package scheduler

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
)

// Config configures a Scheduler. Start from DefaultConfig.
type Config struct {
	// Clock tells time and makes the timers of the debounce and of the
	// retry backoff. Its Now is also the time recent failures are counted
	// back from and the time stamped on the scheduler's writes. Tests
	// inject a fake clock.
	Clock clock.Clock

	// Logger receives the scheduler's logs, with component=scheduler and
	// task, service and node IDs as fields. Each pass is logged at debug.
	Logger *slog.Logger

	// Metrics, if set, is told the outcome of every pass. Nil disables it.
	Metrics Metrics

	// Debounce is how long after a change worth a pass (a new pending
	// task, a node that became usable, resources freed) the pass starts;
	// each further change within it pushes the pass back by Debounce
	// again, up to MaxDelay after the first change. The orchestrator
	// writes a large scale-up as several commands applied a few
	// milliseconds apart, and a node update often comes with task
	// updates: 20 ms gathers them into one pass and one Raft write at a
	// cost no user notices.
	Debounce time.Duration

	// MaxDelay bounds how long a steady stream of changes can hold a pass
	// back, measured from the first change not yet handled. 200 ms keeps
	// the time to placement short while a busy cluster changes all the
	// time.
	MaxDelay time.Duration

	// ProposeTimeout bounds the Raft write of one pass. It is longer than
	// a leader election (about 1 s with state/raft's defaults) plus the
	// proposer's own wait for a leader, so a write is not abandoned during
	// a failover that would have let it through; a pass of 100,000
	// assignments also takes a while to replicate.
	ProposeTimeout time.Duration

	// RetryBackoff is the wait before the next pass after a write that
	// failed (no quorum, lost leadership, timeout); it doubles with each
	// failure in a row up to MaxRetryBackoff. Changes arriving meanwhile
	// do not shorten it: a scheduler that cannot write must not spin.
	// 100 ms lets a brief election pass; 5 s caps the reaction time once
	// the cluster is back.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
}

// DefaultConfig returns the settings for production.
func DefaultConfig() Config {
	return Config{
		Clock:           clock.Real(),
		Logger:          slog.Default(),
		Debounce:        20 * time.Millisecond,
		MaxDelay:        200 * time.Millisecond,
		ProposeTimeout:  30 * time.Second,
		RetryBackoff:    100 * time.Millisecond,
		MaxRetryBackoff: 5 * time.Second,
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
	if c.Debounce < 0 || c.MaxDelay < c.Debounce {
		errs = append(errs, errors.New("debounce must not be negative nor exceed the max delay"))
	}
	if c.ProposeTimeout <= 0 {
		errs = append(errs, errors.New("propose timeout must be positive"))
	}
	if c.RetryBackoff <= 0 || c.MaxRetryBackoff < c.RetryBackoff {
		errs = append(errs, errors.New("retry backoff must be positive and at most the max retry backoff"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Metrics receives the outcome of each pass. It is called from the
// scheduler's goroutine and must not block; it must not keep s past the
// call's return.
type Metrics interface {
	ObservePass(s *PassStats)
}

// PassStats describes one pass: what it decided and how its write went.
type PassStats struct {
	// Groups is the number of (service, spec version) groups placed.
	Groups int
	// Placed is the number of tasks assigned to a node.
	Placed int
	// Unplaceable is the number of tasks that fit nowhere.
	Unplaceable int
	// Explained is the number of unplaceable tasks whose "no suitable
	// node" message changed and was written.
	Explained int
	// Duration is the time from the start of the pass to the end of its
	// write; Write is the part spent in the write.
	Duration, Write time.Duration
	// Err is the error of the write, nil if it committed or if the pass
	// had nothing to write.
	Err error
}
