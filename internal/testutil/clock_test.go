package testutil

import (
	"testing"
	"time"
)

func TestFakeClockFiresDueTimersInOrder(t *testing.T) {
	c := NewFakeClock()
	var fired []string
	c.AfterFunc(3*time.Second, func() { fired = append(fired, "3s") })
	late := c.AfterFunc(time.Second, func() { fired = append(fired, "moved") })
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "2s") })
	stopped := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	ch := c.NewTimer(2500 * time.Millisecond)

	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true for an armed timer, then false")
	}
	if !late.Reset(10 * time.Second) {
		t.Error("Reset of an armed timer reported it stopped")
	}
	if got := c.Next(); !got.Equal(Epoch.Add(2 * time.Second)) {
		t.Errorf("Next = %v, want %v", got, Epoch.Add(2*time.Second))
	}
	c.Advance(time.Second)
	if len(fired) != 0 {
		t.Fatalf("fired %v before any was due", fired)
	}
	c.Advance(2 * time.Second)
	if want := []string{"2s", "3s"}; len(fired) != 2 || fired[0] != want[0] || fired[1] != want[1] {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	select {
	case at := <-ch.C():
		if !at.Equal(Epoch.Add(2500 * time.Millisecond)) {
			t.Errorf("channel timer got %v", at)
		}
	default:
		t.Error("the channel timer did not fire")
	}
	if c.Armed() != 1 {
		t.Errorf("%d timers armed, want the moved one", c.Armed())
	}
	c.Advance(7 * time.Second)
	if len(fired) != 3 || fired[2] != "moved" {
		t.Errorf("fired %v, want the moved timer last", fired)
	}
	// A timer armed by a firing one fires in the same Advance if due.
	var chain []time.Time
	var tick func()
	tick = func() {
		chain = append(chain, c.Now())
		if len(chain) < 3 {
			c.AfterFunc(100*time.Millisecond, tick)
		}
	}
	start := c.Now()
	c.AfterFunc(100*time.Millisecond, tick)
	c.Advance(time.Second)
	if len(chain) != 3 || !chain[0].Equal(start.Add(100*time.Millisecond)) || !chain[2].Equal(start.Add(300*time.Millisecond)) {
		t.Errorf("chained timers fired at %v, want 100, 200, 300 ms after %v", chain, start)
	}
	if !c.Now().Equal(start.Add(time.Second)) {
		t.Errorf("Now = %v after Advance, want %v", c.Now(), start.Add(time.Second))
	}
	if z := c.NewTimer(0); len(z.C()) != 1 {
		t.Error("a timer of 0 has not fired at once")
	}
}
