package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the length of a summary window: short enough that an
// operator watching the log sees an attack within seconds, long enough
// that a flood costs one line per kind every few seconds.
const DefaultInterval = 10 * time.Second

// MaxSources bounds the distinct sources a window remembers, so that a
// flood from many addresses cannot grow the memory of the summary itself;
// past it the count of sources is reported as a lower bound.
const MaxSources = 1024

// Summary logs events of one kind at most once per interval. The zero
// value is not usable; call New.
type Summary struct {
	log      *slog.Logger
	level    slog.Level
	kind     string
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	open    bool // a window is open: events are counted, not logged
	start   time.Time
	count   int  // events in the window
	first   bool // the window's first event was logged in full
	sources map[string]struct{}
	last    []any // the attributes of the window's last event
	timer   *time.Timer
	closed  bool
}

// New returns a summary of events of kind (a plural noun phrase: "refused
// joins") logged on log at level, one summary per interval (DefaultInterval
// if zero). now is the clock (time.Now if nil); tests pass a fake one and
// call Flush instead of waiting for the interval.
func New(log *slog.Logger, level slog.Level, kind string, interval time.Duration, now func() time.Time) *Summary {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if now == nil {
		now = time.Now
	}
	return &Summary{log: log, level: level, kind: kind, interval: interval, now: now, sources: map[string]struct{}{}}
}

// Add records an event from source (an IP address, or "" if unknown).
// The first event of a quiet period is logged at once with msg and args;
// the ones that follow within the interval are counted for the summary.
func (s *Summary) Add(source, msg string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.open {
		// Logged under the lock so that the line comes before its summary.
		s.log.Log(context.Background(), s.level, msg, args...)
		if s.closed {
			return
		}
		s.open, s.start, s.count, s.first = true, s.now(), 0, true
		clear(s.sources)
		s.timer = time.AfterFunc(s.interval, s.Flush)
	}
	s.count++
	s.last = args
	if len(s.sources) < MaxSources {
		s.sources[source] = struct{}{}
	}
}

// Flush logs the summary of the open window if events followed its first
// one, and starts a new window; a window in which nothing followed closes,
// so that the next event is logged in full. The Summary's timer calls it
// every interval; tests call it directly.
func (s *Summary) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *Summary) flushLocked() {
	if !s.open {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	unlogged := s.count
	if s.first {
		unlogged--
	}
	if unlogged == 0 {
		s.open = false
		return
	}
	sources := fmt.Sprint(len(s.sources))
	if len(s.sources) >= MaxSources {
		sources = "at least " + sources
	}
	elapsed := s.now().Sub(s.start).Round(time.Second)
	if elapsed < time.Second {
		elapsed = s.interval
	}
	args := append([]any{"count", s.count, "sources", len(s.sources), "interval", elapsed.String()}, lastArgs(s.last)...)
	s.log.Log(context.Background(), s.level, fmt.Sprintf("%d %s from %s sources in the last %s", s.count, s.kind, sources, elapsed), args...)
	// A new window opens: events keep being counted until an interval
	// passes without any.
	s.start, s.count, s.first = s.now(), 0, false
	clear(s.sources)
	if !s.closed {
		s.timer = time.AfterFunc(s.interval, s.Flush)
	} else {
		s.open = false
	}
}

// lastArgs prefixes the last event's keys with "last_", so a summary shows
// an example without its keys reading as totals.
func lastArgs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok {
			out = append(out, "last_"+k, args[i+1])
		}
	}
	return out
}

// Close logs what is still counted and stops the timer. Events added after
// Close are logged in full.
func (s *Summary) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.flushLocked()
	s.open = false
}
