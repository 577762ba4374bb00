// Package clock is the leader components' source of time: a Clock that
// tells time and makes timers, the system clock, and the retry backoff
// they share. The orchestrator, the scheduler and the dispatcher take a
// Clock in their Config, so tests drive them with a fake one
// (internal/testutil.FakeClock) and decide when every timer fires.
package clock

import "time"

// Clock tells time and makes timers. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends on its channel once, after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc returns a timer that calls f once, after d, in a goroutine
	// of the clock's choosing. Its C is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C receives the time once the timer fires; nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset makes the timer fire after d, as time.Timer.Reset does; it
	// reports whether the timer was armed.
	Reset(d time.Duration) bool
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// AtClock is a Clock that also arms timers for a point in time. A fake
// clock implements it: a timer armed with a duration counts from the
// clock's time when it is armed, not from when the caller read the time,
// so a test that moves the clock in between would see the timer fire late,
// or never if it only fires due timers.
type AtClock interface {
	Clock
	// NewTimerAt returns a channel timer that fires when the clock
	// reaches at, at once if it has.
	NewTimerAt(at time.Time) Timer
	// AfterFuncAt returns a timer that calls f when the clock reaches at,
	// as AfterFunc does when its duration has passed.
	AfterFuncAt(at time.Time, f func()) Timer
}

// TimerAt returns a channel timer of c that fires at the time at (at once
// if at has passed): c's own NewTimerAt if it is an AtClock, else a timer
// of at minus c's time.
func TimerAt(c Clock, at time.Time) Timer {
	if ac, ok := c.(AtClock); ok {
		return ac.NewTimerAt(at)
	}
	return c.NewTimer(max(at.Sub(c.Now()), 0))
}

// AfterFuncAt returns a timer of c that calls f at the time at (at once if
// at has passed): c's own AfterFuncAt if it is an AtClock, else AfterFunc
// of at minus c's time.
func AfterFuncAt(c Clock, at time.Time, f func()) Timer {
	if ac, ok := c.(AtClock); ok {
		return ac.AfterFuncAt(at, f)
	}
	return c.AfterFunc(max(at.Sub(c.Now()), 0), f)
}

// Backoff returns base doubled for each failure after the first, capped at
// limit: the wait before the next attempt after failures failures in a row.
func Backoff(base, limit time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
