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

func fired(tm clock.Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

func TestTimerAt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock func(*testutil.FakeClock) clock.Clock
	}{
		{"at clock", func(c *testutil.FakeClock) clock.Clock { return c }},
		{"duration clock", func(c *testutil.FakeClock) clock.Clock { return durationOnly{c} }},
	} {
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
