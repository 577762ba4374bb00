package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/shoal-dev/shoal/state"
)

// Errors.
var (
	// ErrSlow ends the subscription of a reader that fell
	// Config.SubscriberBuffer events behind.
	ErrSlow = errors.New("eventlog: the reader fell too far behind; events were dropped")
	// ErrClosed ends subscriptions when the log stops.
	ErrClosed = errors.New("eventlog: the event log stopped")
)

// Config sets the log's bounds.
type Config struct {
	// HistorySize is the most events kept for `since`. 10,000 events of
	// about 300 bytes are 3 MB; a scale of one service makes one event,
	// not one per task.
	HistorySize int
	// HistoryAge is how long an event stays in the history: 1 h, enough
	// for a dashboard or script that reconnects to catch up.
	HistoryAge time.Duration
	// SubscriberBuffer is how many events a reader may lag behind before
	// it is cut off (ErrSlow): 4,096, more than a burst of service and
	// node changes, so only a reader that stopped reading loses events.
	SubscriberBuffer int
	// Clock tells the time, for HistoryAge; time.Now if nil.
	Clock func() time.Time
	// Logger gets the log's messages; slog.Default() if nil.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{HistorySize: 10000, HistoryAge: time.Hour, SubscriberBuffer: 4096}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	switch {
	case c.HistorySize < 0:
		return fmt.Errorf("eventlog: HistorySize %d must not be negative", c.HistorySize)
	case c.HistoryAge < 0:
		return fmt.Errorf("eventlog: HistoryAge %v must not be negative", c.HistoryAge)
	case c.SubscriberBuffer < 1:
		return fmt.Errorf("eventlog: SubscriberBuffer %d must be at least 1", c.SubscriberBuffer)
	}
	return nil
}

// Log is the event history of one store and its live readers. It is safe
// for concurrent use.
type Log struct {
	store *state.Store
	cfg   Config
	log   *slog.Logger

	// watch is the feed Run follows, opened by New so that no change
	// after New is missed.
	watch *state.Watcher

	mu sync.Mutex
	// index is the store index of the last batch of changes turned into
	// events; indexed is signalled (closed and replaced) when it moves.
	index   uint64
	indexed chan struct{}
	ring    []events.Message // oldest first, at most HistorySize
	subs    map[*Subscription]struct{}
	stopped bool
}

// New returns the log of store's changes from now on; Run must follow to
// consume them. cfg is checked by Run; zero fields take DefaultConfig's
// values.
func New(store *state.Store, cfg Config) *Log {
	def := DefaultConfig()
	if cfg.HistorySize == 0 {
		cfg.HistorySize = def.HistorySize
	}
	if cfg.HistoryAge == 0 {
		cfg.HistoryAge = def.HistoryAge
	}
	if cfg.SubscriberBuffer == 0 {
		cfg.SubscriberBuffer = def.SubscriberBuffer
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{store: store, cfg: cfg, log: logger.With("component", "eventlog"), subs: map[*Subscription]struct{}{},
		watch: store.Watch(state.WithFilter(makesEvents)), indexed: make(chan struct{})}
}

// makesEvents is the watch filter: only the kinds that make events, so
// that the batches of task changes cost the log nothing. It runs under the
// store's lock.
func makesEvents(ev state.Event) bool {
	_, ok := kinds[ev.Object.Kind()]
	return ok
}

// Run follows the store's change feed until ctx ends, then ends every
// subscription with ErrClosed and returns nil. If the feed breaks (the
// store was replaced by a snapshot, or the log fell 4M events behind) it
// watches again: the changes in between make no events, and it says so.
func (l *Log) Run(ctx context.Context) error {
	if err := l.cfg.Validate(); err != nil {
		l.watch.Close()
		return err
	}
	defer l.stop()
	w := l.watch
	for {
		err := l.follow(ctx, w)
		w.Close()
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("change feed lost; events of the changes missed are not in the history", "err", err)
		w = l.store.Watch(state.WithFilter(makesEvents))
		// What the store holds now is as far as the log will ever get
		// for the changes missed: WaitFor must not wait for them.
		l.publish(l.store.Index(), nil)
	}
}

func (l *Log) follow(ctx context.Context, w *state.Watcher) error {
	for {
		batches, err := w.Next(ctx)
		if err != nil {
			return err
		}
		var msgs []events.Message
		for _, b := range batches {
			for _, ev := range b.Events {
				if m, ok := Message(ev); ok {
					msgs = append(msgs, m)
				}
			}
		}
		l.publish(batches[len(batches)-1].Index, msgs)
	}
}

// WaitFor waits until the log holds the events of every change up to the
// store's index (a write the caller saw applied), or ctx ends: a replay
// right after a write then includes it.
func (l *Log) WaitFor(ctx context.Context, index uint64) error {
	for {
		l.mu.Lock()
		done, ch := l.index >= index || l.stopped, l.indexed
		l.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Message converts a change into Docker's event; false for a change that
// makes none.
func Message(ev state.Event) (events.Message, bool) {
	k, ok := kinds[ev.Object.Kind()]
	if !ok {
		return events.Message{}, false
	}
	var action events.Action
	switch ev.Action {
	case state.ActionCreate:
		action = events.ActionCreate
	case state.ActionUpdate:
		action = events.ActionUpdate
	case state.ActionDelete:
		action = events.ActionRemove
	default:
		return events.Message{}, false
	}
	attrs := map[string]string{"name": k.name(ev.Object)}
	if ev.Action == state.ActionUpdate && ev.Old != nil && k.diff != nil {
		k.diff(ev.Old, ev.Object, attrs)
	}
	at := ev.Time
	if at.IsZero() {
		at = ev.Object.GetMeta().UpdatedAt
	}
	return events.Message{
		Type:     k.typ,
		Action:   action,
		Actor:    events.Actor{ID: ev.Object.GetID(), Attributes: attrs},
		Scope:    "swarm",
		Time:     at.Unix(),
		TimeNano: at.UnixNano(),
	}, true
}

func (l *Log) publish(index uint64, msgs []events.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index > l.index {
		l.index = index
		close(l.indexed)
		l.indexed = make(chan struct{})
	}
	if len(msgs) == 0 {
		return
	}
	if len(l.ring)+len(msgs) > cap(l.ring) {
		// Room for HistorySize more events: the history is copied once
		// per HistorySize events, not on each (trim drops from the
		// front by reslicing, which uses the capacity up).
		ring := make([]events.Message, len(l.ring), 2*l.cfg.HistorySize+len(msgs))
		copy(ring, l.ring)
		l.ring = ring
	}
	l.ring = append(l.ring, msgs...)
	l.trim()
	for s := range l.subs {
		for _, m := range msgs {
			select {
			case s.ch <- m:
				continue
			default:
			}
			s.end(ErrSlow)
			delete(l.subs, s)
			break
		}
	}
}

// trim drops history beyond the bounds. Called with mu held.
func (l *Log) trim() {
	drop := max(len(l.ring)-l.cfg.HistorySize, 0)
	oldest := l.cfg.Clock().Add(-l.cfg.HistoryAge).UnixNano()
	for drop < len(l.ring) && l.ring[drop].TimeNano < oldest {
		drop++
	}
	if drop > 0 {
		clear(l.ring[:drop]) // the dropped events' strings and maps can go
		l.ring = l.ring[drop:]
	}
}

// Subscribe returns the events in the history from since on (none if since
// is zero) and a subscription to the events after them: together, every
// event from since on, once each.
func (l *Log) Subscribe(since time.Time) ([]events.Message, *Subscription) {
	s := &Subscription{log: l, ch: make(chan events.Message, l.cfg.SubscriberBuffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	var past []events.Message
	if !since.IsZero() {
		l.trim()
		from := since.UnixNano()
		for i, m := range l.ring {
			if m.TimeNano >= from {
				past = append(past, l.ring[i:]...)
				break
			}
		}
	}
	if l.stopped {
		s.end(ErrClosed)
		return past, s
	}
	l.subs[s] = struct{}{}
	return past, s
}

func (l *Log) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	for s := range l.subs {
		s.end(ErrClosed)
	}
	clear(l.subs)
}

// Oldest returns the time of the oldest event in the history, zero if it
// is empty.
func (l *Log) Oldest() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.ring[0].TimeNano)
}

// Subscription is one reader's live events.
type Subscription struct {
	log *Log
	ch  chan events.Message
	err error // set before ch is closed
}

// C delivers the events; it is closed when the subscription ends (Err
// says why).
func (s *Subscription) C() <-chan events.Message { return s.ch }

// Err is why C was closed: ErrSlow, or ErrClosed (the log stopped or
// Close was called); nil while C is open.
func (s *Subscription) Err() error {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.err
}

// end closes the channel with err. Called with the log's mu held.
func (s *Subscription) end(err error) {
	if s.err == nil {
		s.err = err
		close(s.ch)
	}
}

// Close ends the subscription. It may be called more than once.
func (s *Subscription) Close() {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	delete(s.log.subs, s)
	s.end(ErrClosed)
}
