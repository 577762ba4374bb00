package raft

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescerSharesRoundsThatStartAfterTheCaller checks the property
// read indexes rely on: a caller gets the answer of a call that started
// after it arrived, and the callers that arrive during a call share the
// next one.
func TestCoalescerSharesRoundsThatStartAfterTheCaller(t *testing.T) {
	var c coalescer[int]
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan int, 10)
	fn := func(ctx context.Context) (int, error) {
		n := int(calls.Add(1))
		started <- n
		select {
		case <-release:
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	first := make(chan int, 1)
	go func() {
		v, _ := c.do(context.Background(), "k", fn)
		first <- v
	}()
	if n := <-started; n != 1 {
		t.Fatalf("first call is call %d", n)
	}
	// Eight callers arrive while call 1 is in flight: they must not get
	// its answer, and they share one call.
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.do(context.Background(), "k", fn)
		}()
	}
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		f := c.flights["k"]
		return f != nil && f.next != nil && f.next.waiters == len(got)
	})
	release <- struct{}{}
	if v := <-first; v != 1 {
		t.Fatalf("first caller got call %d, want 1", v)
	}
	if n := <-started; n != 2 {
		t.Fatalf("second round is call %d", n)
	}
	release <- struct{}{}
	wg.Wait()
	for i, v := range got {
		if v != 2 {
			t.Errorf("caller %d got call %d, want 2 (the call after the one in flight when it arrived)", i, v)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls for 9 callers, want 2", n)
	}
	// Another key is independent.
	go func() { _, _ = c.do(context.Background(), "other", fn) }()
	if n := <-started; n != 3 {
		t.Fatalf("other key's call is call %d", n)
	}
	release <- struct{}{}
}

// TestCoalescerCancelsAbandonedRounds checks that a call nobody waits for
// any more is cancelled (a leader that never answers must not hold up the
// key's later rounds), that a gathering round whose callers all left does
// not run, and that errors reach every waiter.
func TestCoalescerCancelsAbandonedRounds(t *testing.T) {
	var c coalescer[int]
	cancelled := make(chan struct{})
	blocked := func(ctx context.Context) (int, error) {
		<-ctx.Done()
		close(cancelled)
		return 0, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.do(ctx, "k", blocked)
		done <- err
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.flights["k"] != nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller got %v, want its context's error", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned call was not cancelled")
	}
	// The key is free again: a new caller's call runs at once, and its
	// error reaches every caller of the round.
	boom := errors.New("boom")
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.flights["k"] == nil
	})
	if _, err := c.do(context.Background(), "k", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
