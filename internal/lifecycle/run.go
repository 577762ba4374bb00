package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
)

// Logger returns the component's logger: l, or slog.Default() if nil,
// with the component's name.
func Logger(l *slog.Logger, name string) *slog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return l.With("component", name)
}

// Retry says how Guard.Run runs a component's loop and starts it again.
type Retry struct {
	// Name is the component's name in messages: "orchestrator".
	Name  string
	Log   *slog.Logger
	Clock clock.Clock
	// Backoff and MaxBackoff bound the wait after a failure (see
	// clock.Backoff).
	Backoff, MaxBackoff time.Duration
	// Resync is the loop's error that means "start again at once, from a
	// new snapshot" (state.ErrResync).
	Resync error
}

// Run begins a Run as Start does, and runs loop until ctx ends or Stop is
// called; then it returns nil. A loop that returns r.Resync starts again
// at once; one that fails otherwise (only a broken store gets there)
// starts again after a wait that grows with the failures, so as not to
// spin. Like Start it fails with ErrStopped or ErrRunning, wrapped with
// the name.
func (g *Guard) Run(ctx context.Context, r Retry, loop func(ctx context.Context) error) error {
	ctx, end, err := g.Start(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	defer end()

	r.Log.Info(r.Name + " started")
	defer r.Log.Info(r.Name + " stopped")
	failures := 0
	for {
		err := loop(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, r.Resync) {
			r.Log.Warn("change feed lost events; starting again from a new snapshot")
			continue
		}
		failures++
		wait := clock.Backoff(r.Backoff, r.MaxBackoff, failures)
		r.Log.Error(r.Name+" loop failed; starting again", "err", err, "retry_in", wait)
		t := r.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}
