package testutil

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logger returns a logger that writes text records at level and above to
// t's log. Records logged after the test's cleanup began (goroutines that
// outlive their test) are dropped instead of making the test panic.
// Logger registers that cleanup itself, so call it before starting what
// logs: cleanups run last-registered first.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(Writer(t), &slog.HandlerOptions{Level: level}))
}

// Writer returns Logger's destination: each write becomes a line of t's
// log, until the test's cleanup begins.
func Writer(t testing.TB) io.Writer {
	w := &tWriter{t: t}
	t.Cleanup(w.close)
	return w
}

type tWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
