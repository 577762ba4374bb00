package allocator

import (
	"fmt"
	"log/slog"
	"time"
)

// Config configures an Allocator. Start from DefaultConfig.
type Config struct {
	// Logger receives the allocator's logs, with component=allocator and
	// network, service, task and node IDs as fields.
	Logger *slog.Logger

	// Debounce is how long after a change that needs allocating (a new
	// network, a service or task waiting for addresses) a pass starts;
	// each further change within it pushes the pass back, up to MaxDelay
	// after the first change. The orchestrator writes a large scale-up as
	// several commands a few milliseconds apart: 10 ms gathers them into
	// one pass and one Raft write, and is nothing next to a task's start.
	Debounce time.Duration
	// MaxDelay bounds how long a stream of changes holds a pass back.
	MaxDelay time.Duration

	// MaxBatch is the most task allocations one Raft command carries (as
	// the orchestrator's MaxBatch, so that one entry stays small); a pass
	// with more writes several commands.
	MaxBatch int

	// ProposeTimeout bounds one Raft write: longer than an election plus
	// the proposer's own wait for a leader, as the scheduler's.
	ProposeTimeout time.Duration

	// RetryBackoff is the wait after a failed write, doubled for each
	// failure in a row up to MaxRetryBackoff (as the scheduler's).
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
}

// DefaultConfig returns the settings for production.
func DefaultConfig() Config {
	return Config{
		Debounce:        10 * time.Millisecond,
		MaxDelay:        100 * time.Millisecond,
		MaxBatch:        1000,
		ProposeTimeout:  10 * time.Second,
		RetryBackoff:    100 * time.Millisecond,
		MaxRetryBackoff: 5 * time.Second,
	}
}

// Validate checks that the Config can work.
func (c *Config) Validate() error {
	switch {
	case c.Debounce < 0 || c.MaxDelay < c.Debounce:
		return fmt.Errorf("%w: Debounce %v must be >= 0 and at most MaxDelay %v", ErrInvalidConfig, c.Debounce, c.MaxDelay)
	case c.MaxBatch < 1:
		return fmt.Errorf("%w: MaxBatch %d must be at least 1", ErrInvalidConfig, c.MaxBatch)
	case c.ProposeTimeout <= 0:
		return fmt.Errorf("%w: ProposeTimeout %v must be positive", ErrInvalidConfig, c.ProposeTimeout)
	case c.RetryBackoff <= 0 || c.MaxRetryBackoff < c.RetryBackoff:
		return fmt.Errorf("%w: RetryBackoff %v must be positive and at most MaxRetryBackoff %v", ErrInvalidConfig, c.RetryBackoff, c.MaxRetryBackoff)
	}
	return nil
}
