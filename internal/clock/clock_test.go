package clock

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	} {
		if got := Backoff(100*time.Millisecond, time.Second, tc.failures); got != tc.want {
			t.Errorf("Backoff(%d failures) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestRealTimers(t *testing.T) {
	c := Real()
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	if tm.Stop() {
		t.Error("Stop of a fired timer reported it armed")
	}
	fired := make(chan struct{})
	ft := c.AfterFunc(time.Hour, func() { close(fired) })
	if ft.C() != nil {
		t.Error("an AfterFunc timer has a channel")
	}
	if !ft.Reset(time.Millisecond) {
		t.Error("Reset of an armed timer reported it stopped")
	}
	<-fired
}
