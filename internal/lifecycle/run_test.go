package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestRun checks how Run starts a loop again: at once after a resync,
// after a growing backoff after a failure, and not at all once ctx ends.
func TestRun(t *testing.T) {
	errResync, errBroken := errors.New("resync"), errors.New("broken")
	fc := testutil.NewFakeClock()
	r := Retry{
		Name: "comp", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: fc,
		Backoff: 10 * time.Millisecond, MaxBackoff: time.Second, Resync: errResync,
	}
	// The loop's answers, one a call; after them it waits for its context.
	answers := []error{errResync, errBroken, errBroken}
	calls := make(chan int, 10)
	n := 0
	loop := func(ctx context.Context) error {
		n++
		calls <- n
		if n <= len(answers) {
			return answers[n-1]
		}
		<-ctx.Done()
		return ctx.Err()
	}
	var g Guard
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, r, loop) }()

	next := func(want int) {
		t.Helper()
		select {
		case c := <-calls:
			if c != want {
				t.Fatalf("call %d, want %d", c, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no call %d", want)
		}
	}
	// A resync starts again at once; the failure after it waits Backoff.
	next(1)
	next(2)
	waitArmed(t, fc, r.Backoff)
	select {
	case c := <-calls:
		t.Fatalf("call %d before the backoff ran out", c)
	default:
	}
	fc.Advance(r.Backoff)
	next(3)
	// A second failure in a row waits twice as long.
	waitArmed(t, fc, 2*r.Backoff)
	fc.Advance(2 * r.Backoff)
	next(4)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after ctx ended: %v, want nil", err)
	}

	g.Stop()
	if err := g.Run(context.Background(), r, loop); !errors.Is(err, ErrStopped) || err.Error() != "comp: stopped" {
		t.Fatalf("Run after Stop: %v, want comp: stopped", err)
	}
}

// waitArmed waits for the one timer Run arms and checks that it is due in
// want.
func waitArmed(t *testing.T, fc *testutil.FakeClock, want time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); fc.Armed() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers armed, want 1", fc.Armed())
		}
	}
	if got := fc.Next().Sub(fc.Now()); got != want {
		t.Fatalf("backoff %v, want %v", got, want)
	}
}
