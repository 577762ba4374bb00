package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recorder keeps the records logged through it.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		out = append(out, rec.Message)
	}
	return out
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// TestSummaryLogsOneLinePerWindow drives a Summary through bursts and quiet
// periods with a fake clock, flushing by hand where the timer would: every
// event is logged in full or counted in exactly one summary line.
func TestSummaryLogsOneLinePerWindow(t *testing.T) {
	type step struct {
		events  int // events from `sources` distinct sources
		sources int
		flush   bool // then the interval passes
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"one event is logged in full", []step{{1, 1, true}},
			[]string{"event 0"}},
		{"a burst is one line and one summary", []step{{500, 3, true}},
			[]string{"event 0", "500 refused joins from 3 sources in the last 10s"}},
		{"a flood over three windows is one summary per window",
			[]step{{100, 1, true}, {200, 2, true}, {1, 1, true}, {0, 0, true}},
			[]string{"event 0", "100 refused joins from 1 sources in the last 10s",
				"200 refused joins from 2 sources in the last 10s",
				"1 refused joins from 1 sources in the last 10s"}},
		{"after a quiet window the next event is logged in full",
			[]step{{2, 1, true}, {0, 0, true}, {1, 1, true}},
			[]string{"event 0", "2 refused joins from 1 sources in the last 10s", "event 0"}},
		{"sources beyond the cap are a lower bound", []step{{MaxSources + 10, MaxSources + 10, true}},
			[]string{"event 0", fmt.Sprintf("%d refused joins from at least %d sources in the last 10s", MaxSources+10, MaxSources)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			clock := &fakeNow{t: time.Unix(1000, 0)}
			// The real timer must not fire during the test: an hour.
			s := New(slog.New(rec), slog.LevelWarn, "refused joins", time.Hour, clock.now)
			defer s.Close()
			total := 0
			for _, st := range tt.steps {
				for i := range st.events {
					s.Add(fmt.Sprintf("10.0.0.%d", i%max(st.sources, 1)), fmt.Sprintf("event %d", i), "n", total)
					total++
				}
				if st.flush {
					clock.advance(10 * time.Second)
					s.Flush()
				}
			}
			got := rec.lines()
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("lines:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestSummaryCloseFlushes checks that Close logs what is still counted.
func TestSummaryCloseFlushes(t *testing.T) {
	rec := &recorder{}
	clock := &fakeNow{t: time.Unix(1000, 0)}
	s := New(slog.New(rec), slog.LevelWarn, "failed TLS handshakes", time.Hour, clock.now)
	for range 3 {
		s.Add("10.0.0.1", "handshake failed")
	}
	clock.advance(4 * time.Second)
	s.Close()
	want := []string{"handshake failed", "3 failed TLS handshakes from 1 sources in the last 4s"}
	if got := rec.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines:\n got %q\nwant %q", got, want)
	}
}
