package state

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Action is what happened to an object.
type Action int

// Actions.
const (
	ActionCreate Action = iota + 1
	ActionUpdate
	ActionDelete
)

func (a Action) String() string {
	switch a {
	case ActionCreate:
		return "create"
	case ActionUpdate:
		return "update"
	case ActionDelete:
		return "delete"
	}
	return "unknown"
}

// Event is one change to one object.
type Event struct {
	Action Action
	// Object is the object after the change, or the deleted object.
	Object model.Object
	// Old is the object before an update; nil otherwise.
	Old model.Object
	// Time is the time of the command that made the change (Command.Time):
	// the same on every manager.
	Time time.Time
}

// Batch is the set of changes made by one committed transaction, which is
// one or more Raft log entries.
type Batch struct {
	// Index is the store index after the transaction.
	Index  uint64
	Events []Event
}

// ErrResync is returned by a Watcher that can no longer deliver a
// continuous history: its buffer overflowed, or the store was replaced by a
// snapshot. The consumer must rebuild its view with Store.ViewAndWatch.
var ErrResync = errors.New("state: watcher must resync")

// ErrWatcherClosed is returned by a closed Watcher.
var ErrWatcherClosed = errors.New("state: watcher closed")

// DefaultWatchLimit is the number of undelivered events after which a
// watcher is told to resync rather than letting its buffer grow without
// bound.
const DefaultWatchLimit = 4 << 20

// Watcher receives the store's change feed. Publishing never blocks: events
// are buffered per watcher. It is safe for one consumer goroutine; Close may
// be called from any goroutine.
type Watcher struct {
	store  *Store
	filter func(Event) bool
	limit  int

	mu      sync.Mutex
	batches []Batch
	pending int
	err     error
	ready   chan struct{} // holds a token while batches or err are pending
}

// WatchOption configures a Watcher.
type WatchOption func(*Watcher)

// WithFilter delivers only events for which fn returns true. fn runs on the
// writer's goroutine while it holds the store lock: it must be fast and must
// not call the store.
func WithFilter(fn func(Event) bool) WatchOption { return func(w *Watcher) { w.filter = fn } }

// WithLimit sets the number of buffered events that makes the watcher
// overflow.
func WithLimit(n int) WatchOption { return func(w *Watcher) { w.limit = n } }

func newWatcher(s *Store, opts []WatchOption) *Watcher {
	w := &Watcher{store: s, limit: DefaultWatchLimit, ready: make(chan struct{}, 1)}
	for _, o := range opts {
		o(w)
	}
	return w
}

// publish appends a batch. Called with the store lock held.
func (w *Watcher) publish(b Batch) {
	events := b.Events
	if w.filter != nil {
		events = filterEvents(b.Events, w.filter)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.pending += len(events)
	if w.pending > w.limit {
		w.fail(ErrResync)
		return
	}
	w.batches = append(w.batches, Batch{Index: b.Index, Events: events})
	w.signal()
}

// filterEvents returns the events keep accepts. If it accepts them all,
// that is events itself, shared as it is with unfiltered watchers;
// otherwise a slice that grows with the accepted events only, so that a
// watcher of a few nodes does not pay for a batch of 100k task events.
func filterEvents(events []Event, keep func(Event) bool) []Event {
	for i, e := range events {
		if keep(e) {
			continue
		}
		out := events[:i:i]
		for _, e := range events[i+1:] {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	return events
}

func (w *Watcher) fail(err error) {
	w.err = err
	w.batches, w.pending = nil, 0
	w.signal()
}

func (w *Watcher) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when Drain has something to return.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Drain returns the batches received since the last call, oldest first, or
// the watcher's error. It does not block.
func (w *Watcher) Drain() ([]Batch, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	b := w.batches
	w.batches, w.pending = nil, 0
	return b, nil
}

// Next blocks until batches arrive, the watcher fails, or ctx ends.
func (w *Watcher) Next(ctx context.Context) ([]Batch, error) {
	for {
		b, err := w.Drain()
		if err != nil || len(b) > 0 {
			return b, err
		}
		select {
		case <-w.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close stops the watcher.
func (w *Watcher) Close() {
	w.store.removeWatcher(w)
	w.mu.Lock()
	if w.err == nil {
		w.fail(ErrWatcherClosed)
	}
	w.mu.Unlock()
}
