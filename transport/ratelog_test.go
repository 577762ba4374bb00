package transport_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/transport"
)

// records keeps the log records of a test.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// TestFailedHandshakesAreSummarised opens 500 connections that start a TLS
// handshake with a malformed record, as a scanner or a confused client
// does: the cluster port logs the first in full and then one summary with
// the count, not 500 warnings (issue 21: 500 half-open connections made
// 500 lines).
func TestFailedHandshakesAreSummarised(t *testing.T) {
	p := newPKI(t)
	serverTLS, err := ca.ServerTLSConfig(p.cert(t, model.RoleManager), p.root)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &records{}
	// An interval far longer than the test, so the summary comes from
	// Close and the count is exact.
	m := transport.New(ln, transport.Config{TLS: serverTLS, HandshakeTimeout: 5 * time.Second,
		Logger: slog.New(rec), LogInterval: time.Hour})
	go m.Serve()
	defer m.Close()

	const conns = 500
	// A handshake record whose body is not a ClientHello.
	garbage := []byte{0x16, 0x03, 0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef}
	for i := range conns {
		c, err := net.Dial("tcp", m.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(garbage); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		// The server closes the connection after it has counted the failure.
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
	m.Close()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	counted := 0
	for _, r := range rec.recs {
		t.Logf("%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "count" {
				counted = int(a.Value.Int64())
			}
			return true
		})
	}
	if len(rec.recs) > 2 {
		t.Errorf("%d failed handshakes logged %d lines, want at most 2 (the first, then a summary)", conns, len(rec.recs))
	}
	if counted != conns {
		t.Errorf("the summary counts %d failed handshakes, want %d", counted, conns)
	}
}
