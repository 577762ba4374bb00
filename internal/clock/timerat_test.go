package clock_test

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// durationOnly hides a fake clock's NewTimerAt: TimerAt falls back to a
// timer of at minus the clock's time.
type durationOnly struct{ *testutil.FakeClock }

func (c durationOnly) NewTimerAt() {} // not clock.AtClock's method

// clockKinds are the two kinds of clock the helpers serve: one that arms
// timers for a point in time itself, and one that only takes durations.
var clockKinds = []struct {
	name  string
	clock func(*testutil.FakeClock) clock.Clock
}{
	{"at clock", func(c *testutil.FakeClock) clock.Clock { return c }},
	{"duration clock", func(c *testutil.FakeClock) clock.Clock { return durationOnly{c} }},
}

func fired(tm clock.Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

func TestTimerAt(t *testing.T) {
	for _, tc := range clockKinds {
		t.Run(tc.name, func(t *testing.T) {
			fc := testutil.NewFakeClock()
			c := tc.clock(fc)
			if _, ok := c.(clock.AtClock); ok != (tc.name == "at clock") {
				t.Fatalf("AtClock = %v", ok)
			}
			past := clock.TimerAt(c, fc.Now().Add(-time.Second))
			now := clock.TimerAt(c, fc.Now())
			later := clock.TimerAt(c, fc.Now().Add(time.Second))
			if !fired(past) || !fired(now) {
				t.Fatal("a timer for a time that has come did not fire at once")
			}
			fc.Advance(time.Second - time.Millisecond)
			if fired(later) {
				t.Fatal("fired before its time")
			}
			fc.Advance(time.Millisecond)
			if !fired(later) {
				t.Fatal("not fired at its time")
			}
		})
	}
}

// A test moves the fake clock while the component under test arms a timer
// for a time it computed before: the timer still fires at that time, not
// that much later (the orchestrator's restart delay once waited for a
// timer armed 4 s past its time, under the race detector in CI).
func TestTimerAtIgnoresMovesWhileArming(t *testing.T) {
	fc := testutil.NewFakeClock()
	at := fc.Now().Add(5 * time.Second) // computed at 0
	fc.Advance(4 * time.Second)         // the test moves on before the timer is armed
	tm := clock.TimerAt(fc, at)
	fc.Advance(time.Second)
	if !fired(tm) {
		t.Fatalf("not fired at %v with the clock at %v", at.Sub(testutil.Epoch), fc.Now().Sub(testutil.Epoch))
	}
}

// AfterFuncAt calls its function at the time it was given, with either
// kind of clock, and like TimerAt is not delayed by a move of the clock
// between the caller's reading and the arming (the dispatcher's node
// timers, armed by heartbeats while a test advances the clock).
func TestAfterFuncAt(t *testing.T) {
	for _, tc := range clockKinds {
		t.Run(tc.name, func(t *testing.T) {
			fc := testutil.NewFakeClock()
			c := tc.clock(fc)
			var calls []time.Duration
			call := func() { calls = append(calls, fc.Now().Sub(testutil.Epoch)) }
			clock.AfterFuncAt(c, fc.Now().Add(-time.Second), call)
			later := clock.AfterFuncAt(c, fc.Now().Add(2*time.Second), call)
			stopped := clock.AfterFuncAt(c, fc.Now().Add(time.Second), call)
			if !stopped.Stop() {
				t.Fatal("Stop of an armed timer returned false")
			}
			if len(calls) != 0 {
				t.Fatalf("called before any Advance: %v", calls)
			}
			fc.Advance(0)
			if len(calls) != 1 {
				t.Fatalf("a function for a past time was not called at the next Advance: %v", calls)
			}
			fc.Advance(2*time.Second - time.Millisecond)
			if len(calls) != 1 {
				t.Fatalf("called before its time: %v", calls)
			}
			fc.Advance(time.Millisecond)
			if len(calls) != 2 || calls[1] != 2*time.Second {
				t.Fatalf("calls %v, want one more at 2s", calls)
			}
			if later.Stop() {
				t.Fatal("Stop of a fired timer returned true")
			}
		})
	}
	fc := testutil.NewFakeClock()
	at := fc.Now().Add(5 * time.Second)
	fc.Advance(4 * time.Second)
	called := false
	clock.AfterFuncAt(fc, at, func() { called = true })
	fc.Advance(time.Second)
	if !called {
		t.Fatal("not called at its time after a move of the clock while arming")
	}
}
