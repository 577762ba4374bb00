package raft

import (
	"context"
	"sync"
)

// coalescer shares one call among the callers that wait for it, per key:
// at most one call per key is in flight, and the callers that arrive while
// it is gather for the next one, which starts when it ends. Every caller
// thus gets the answer of a call that started after it arrived, which is
// what a read index needs (an index taken after the read began covers
// every write acknowledged before it), at the cost of one call per round
// instead of one per caller: etcd batches its ReadIndex requests the same
// way (linearizableReadLoop).
//
// Every call for a key must run the same fn. A call runs with a context of its own, cancelled once every caller
// waiting for it has left, so that a call to a leader that never answers
// does not hold up the key's later rounds.
type coalescer[T any] struct {
	mu      sync.Mutex
	flights map[string]*flight[T]
}

// flight is a key's rounds: the one in flight and the one gathering.
type flight[T any] struct {
	key           string
	running, next *round[T]
}

type round[T any] struct {
	done    chan struct{}
	val     T
	err     error
	waiters int
	cancel  context.CancelFunc // set once started
}

// do returns the result of a call of fn, for key, that started after do
// was called; or ctx's error if ctx ends first.
func (c *coalescer[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	if c.flights == nil {
		c.flights = map[string]*flight[T]{}
	}
	f := c.flights[key]
	if f == nil {
		f = &flight[T]{key: key}
		c.flights[key] = f
	}
	var r *round[T]
	switch {
	case f.running == nil:
		r = &round[T]{done: make(chan struct{})}
		f.running = r
		c.start(f, r, fn)
	case f.next == nil:
		r = &round[T]{done: make(chan struct{})}
		f.next = r
	default:
		r = f.next
	}
	r.waiters++
	c.mu.Unlock()

	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-r.done: // answered meanwhile
		return r.val, r.err
	default:
	}
	r.waiters--
	if r.waiters == 0 {
		if r.cancel != nil {
			r.cancel() // running: nobody waits for it any more
		} else if f.next == r {
			f.next = nil // gathering: it need not run
		}
	}
	var zero T
	return zero, ctx.Err()
}

// start runs r's call; c.mu is held.
func (c *coalescer[T]) start(f *flight[T], r *round[T], fn func(context.Context) (T, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		v, err := fn(ctx)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		r.val, r.err = v, err
		close(r.done)
		f.running, f.next = f.next, nil
		if f.running != nil {
			c.start(f, f.running, fn)
			return
		}
		delete(c.flights, f.key)
	}()
}
