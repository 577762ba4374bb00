package testutil

import (
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/clock"
)

// Epoch is where every FakeClock starts: 2025-01-01 12:00 UTC.
var Epoch = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// FakeClock is a clock.Clock that moves only when the test advances it.
// Advance fires the timers that come due, in order, with the clock at each
// one's time: a channel timer receives the time, an AfterFunc timer's
// function runs in Advance's goroutine, so when Advance returns every due
// timer has fired, including those that firing ones armed. It is safe for
// concurrent use.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool
}

var _ clock.AtClock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock at Epoch.
func NewFakeClock() *FakeClock { return NewFakeClockAt(Epoch) }

// NewFakeClockAt returns a FakeClock at now.
func NewFakeClockAt(now time.Time) *FakeClock {
	return &FakeClock{now: now, timers: map[*fakeTimer]bool{}}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has moved d on; a
// timer of d <= 0 has fired already.
func (c *FakeClock) NewTimer(d time.Duration) clock.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// NewTimerAt returns a timer that fires when the clock reaches at; a
// timer of an at not after the clock's time has fired already.
func (c *FakeClock) NewTimerAt(at time.Time) clock.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.at = at
	if !at.After(c.now) {
		t.ch <- c.now
		return t
	}
	c.timers[t] = true
	return t
}

// AfterFunc returns a timer that calls f when the clock has moved d on;
// for d <= 0, at the next Advance.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &fakeTimer{c: c, f: f}
	t.Reset(d)
	return t
}

// AfterFuncAt returns a timer that calls f when the clock reaches at; for
// an at not after the clock's time, at the next Advance, as AfterFunc.
func (c *FakeClock) AfterFuncAt(at time.Time, f func()) clock.Timer {
	t := &fakeTimer{c: c, f: f}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.at = at
	c.timers[t] = true
	return t
}

// Advance moves the clock forward by d, firing the timers that come due
// on the way in order of their times, each with the clock at its time, as
// the system clock would.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		delete(c.timers, next)
		if next.at.After(c.now) {
			c.now = next.at
		}
		now := c.now
		c.mu.Unlock()
		if next.f != nil {
			next.f()
		} else {
			select {
			case next.ch <- now:
			default:
			}
		}
	}
}

// Next returns the time of the earliest armed timer, or zero.
func (c *FakeClock) Next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for t := range c.timers {
		if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
	}
	return next
}

// Armed returns the number of armed timers.
func (c *FakeClock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c  *FakeClock
	ch chan time.Time
	f  func()
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	armed := t.c.timers[t]
	delete(t.c.timers, t)
	return armed
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	armed := t.c.timers[t]
	t.at = t.c.now.Add(d)
	if d <= 0 && t.f == nil {
		delete(t.c.timers, t)
		select {
		case t.ch <- t.c.now:
		default:
		}
		return armed
	}
	t.c.timers[t] = true
	return armed
}
