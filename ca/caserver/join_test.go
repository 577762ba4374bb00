package caserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
)

// retryClock is a fake clock for JoinWithRetry and the CA server: a wait
// returns at once and moves the time on by its length.
type retryClock struct {
	fakeClock
	waits  []time.Duration
	onWait func(n int) // called before the n-th wait (from 1) returns
}

func newRetryClock() *retryClock {
	c := &retryClock{}
	c.set(0)
	return c
}

func (c *retryClock) after(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	n := len(c.waits)
	c.mu.Unlock()
	if c.onWait != nil {
		c.onWait(n)
	}
	ch := make(chan time.Time, 1)
	ch <- c.now()
	return ch
}

func (c *retryClock) policy(log *slog.Logger) ca.JoinRetry {
	r := ca.DefaultJoinRetry()
	r.Logger, r.Now, r.After = log, c.now, c.after
	return r
}

// logLines is a slog handler keeping the messages and their error.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			line += " err=" + a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func mustRoot(t *testing.T) *ca.RootCA {
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveCA serves tc's CA over TLS on ln, with the server's clock at now.
func serveCA(t *testing.T, tc *testCluster, ln net.Listener, now func() time.Time) {
	mgr := testutil.IssueNode(t, tc.root, "manager-1", model.RoleManager, clusterID, time.Hour).TLS
	s := NewServer(tc.store, tc.backend, testutil.Logger(t, slog.LevelDebug))
	if now != nil {
		s.now = now
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	tlsCfg, err := ca.ServerTLSConfig(mgr, tc.root, ca.WithLogger(testutil.Logger(t, slog.LevelDebug)))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = tlsCfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
}

// TestJoinToAnUnreachableManagerRetriesThenGivesUp joins through a closed
// loopback port: each failure is logged at once with its cause and the
// wait before the next attempt, the waits double up to the cap, and the
// join gives up with a clear error once the timeout is spent. Before the
// fix nothing was printed (issue 21 finding 8).
func TestJoinToAnUnreachableManagerRetriesThenGivesUp(t *testing.T) {
	addr := closedPort(t)
	tok, err := ca.GenerateJoinToken(mustRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	clock := newRetryClock()
	_, err = ca.JoinWithRetry(context.Background(), addr, ca.JoinRequest{Token: tok.String(), Role: model.RoleWorker}, clock.policy(slog.New(logs)))
	t.Logf("error: %v\nlog:\n%s", err, logs.text())
	if !errors.Is(err, ca.ErrJoinGaveUp) || !strings.Contains(err.Error(), "connection refused") ||
		!strings.Contains(err.Error(), "after 2m0s and 12 attempts") {
		t.Fatalf("error %q: want it to say it gave up after 2m0s and 12 attempts, and why (connection refused)", err)
	}
	if got, want := fmt.Sprint(clock.waits), "[1s 2s 4s 8s 15s 15s 15s 15s 15s 15s 15s]"; got != want {
		t.Fatalf("waits %s, want %s", got, want)
	}
	text := logs.text()
	for _, want := range []string{
		"joining the cluster through " + addr,
		"cannot join through " + addr + " yet; retrying in 1s err=fetching the cluster CA from " + addr,
		"connection refused",
		"retrying in 15s",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}

// TestJoinReachesAManagerThatComesUp starts the manager on the port after
// the second failed attempt: the join succeeds at the next one.
func TestJoinReachesAManagerThatComesUp(t *testing.T) {
	tc := newTestCluster(t)
	addr := closedPort(t)
	clock := newRetryClock()
	clock.onWait = func(n int) {
		if n == 2 {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("listening again on %s: %v", addr, err)
			}
			serveCA(t, tc, ln, nil)
		}
	}
	res, err := ca.JoinWithRetry(context.Background(), addr, ca.JoinRequest{Token: tc.workerToken.String(), Role: model.RoleWorker}, clock.policy(testutil.Logger(t, slog.LevelDebug)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Role != model.RoleWorker || len(clock.waits) != 2 {
		t.Fatalf("joined as %s after %d waits, want a worker after 2", res.Role, len(clock.waits))
	}
}

// TestJoinFailsAtOnce checks the errors no retry can fix: they end the
// join at the first attempt, with a message that says what is wrong.
func TestJoinFailsAtOnce(t *testing.T) {
	other, err := ca.GenerateJoinToken(mustRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token func(*testCluster) string
		role  model.NodeRole
		addr  string // empty: the manager's
		want  string
	}{
		{"wrong secret", func(tc *testCluster) string { return tc.wrongToken.String() },
			model.RoleWorker, "", "join token is not valid"},
		{"token of another cluster's CA", func(*testCluster) string { return other.String() },
			model.RoleWorker, "", "the manager's CA does not match the join token"},
		{"worker token to join as a manager", func(tc *testCluster) string { return tc.workerToken.String() },
			model.RoleManager, "", "grants the worker role"},
		{"malformed token", func(*testCluster) string { return "SWMTKN-1-abc" },
			model.RoleWorker, "", "malformed join token"},
		{"address without a port", func(tc *testCluster) string { return tc.workerToken.String() },
			model.RoleWorker, "127.0.0.1", "want HOST:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCluster(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			serveCA(t, tc, ln, nil)
			addr := tt.addr
			if addr == "" {
				addr = ln.Addr().String()
			}
			clock := newRetryClock()
			_, err = ca.JoinWithRetry(context.Background(), addr,
				ca.JoinRequest{Token: tt.token(tc), Role: tt.role, AdvertiseAddr: "127.0.0.1:1"}, clock.policy(testutil.Logger(t, slog.LevelDebug)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if len(clock.waits) != 0 {
				t.Fatalf("retried %d times (%v): %v", len(clock.waits), clock.waits, err)
			}
		})
	}
}

// TestJoinWaitsOutA429 joins from a source the manager is holding back
// after a wrong token: the join waits as long as Retry-After says, then
// succeeds.
func TestJoinWaitsOutA429(t *testing.T) {
	tc := newTestCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clock := newRetryClock()
	serveCA(t, tc, ln, clock.now)
	addr := ln.Addr().String()
	bad := tc.wrongToken
	// Two refusals in a row, at 0 s and 1 s: the source now waits 2 s.
	for i := range 2 {
		clock.set(time.Duration(i) * time.Second)
		if _, err := ca.Join(context.Background(), addr, ca.JoinRequest{Token: bad.String(), Role: model.RoleWorker}); err == nil {
			t.Fatal("a wrong token joined")
		}
	}
	res, err := ca.JoinWithRetry(context.Background(), addr, ca.JoinRequest{Token: tc.workerToken.String(), Role: model.RoleWorker}, clock.policy(testutil.Logger(t, slog.LevelDebug)))
	if err != nil {
		t.Fatal(err)
	}
	if res.NodeID == "" || fmt.Sprint(clock.waits) != "[2s]" {
		t.Fatalf("joined %q after waits %v, want one wait of 2s (the Retry-After)", res.NodeID, clock.waits)
	}
}

// TestRenewWaitsOutA429 renews from a source the manager holds back after
// a refused renewal: Renew waits as the manager asks, then succeeds.
func TestRenewWaitsOutA429(t *testing.T) {
	tc := newTestCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCA(t, tc, ln, nil)
	addr := ln.Addr().String()
	joined, err := ca.Join(context.Background(), addr, ca.JoinRequest{Token: tc.workerToken.String(), Role: model.RoleWorker})
	if err != nil {
		t.Fatal(err)
	}
	// A renewal without a certificate is refused: the source waits 1 s.
	anon, err := ca.ClientTLSConfig(nil, tc.root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ca.Renew(context.Background(), anon, addr); err == nil {
		t.Fatal("a renewal without a certificate succeeded")
	}
	cert, err := tls.X509KeyPair([]byte(joined.Certificate), joined.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ClientTLSConfig(&cert, tc.root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, resp, err := ca.Renew(context.Background(), cfg, addr); err != nil || resp.Role != model.RoleWorker {
		t.Fatalf("renewal after the wait: %v", err)
	}
}
