package caserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// testCluster is a single manager's store holding a cluster with a root
// CA and join tokens, behind a localBackend.
type testCluster struct {
	root                      *ca.RootCA
	store                     *state.Store
	backend                   *localBackend
	workerToken, managerToken ca.JoinToken
	// wrongToken is well formed, for this CA, with a secret of neither.
	wrongToken ca.JoinToken
}

func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	var toks [3]ca.JoinToken
	for i := range toks {
		if toks[i], err = ca.GenerateJoinToken(root); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM, err := root.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewStore()
	backend := &localBackend{store: store}
	cluster := &model.Cluster{ID: clusterID, Spec: model.DefaultClusterSpec(),
		RootCA: model.RootCA{CACert: root.CertPEM(), CAKey: keyPEM,
			JoinTokens: model.JoinTokens{Worker: toks[0].String(), Manager: toks[1].String()}}}
	if res, err := backend.Propose(context.Background(), state.NewCommand(state.Op{Type: state.OpCreateCluster, Cluster: cluster})); err != nil || res.Err() != nil {
		t.Fatalf("creating the cluster: %v %v", err, res.Err())
	}
	return &testCluster{root: root, store: store, backend: backend, workerToken: toks[0], managerToken: toks[1], wrongToken: toks[2]}
}

// fakeClock is a settable time for the CA server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Unix(1_000_000, 0).Add(d)
}

// caFixture is a CA server with a fake clock, called through its handler
// with any source address.
type caFixture struct {
	t     *testing.T
	tc    *testCluster
	srv   *Server
	h     http.Handler
	clock *fakeClock
	csr   string
}

func newCAFixture(t *testing.T, logger *slog.Logger) *caFixture {
	tc := newTestCluster(t)
	clock := &fakeClock{}
	clock.set(0)
	srv := NewServer(tc.store, tc.backend, logger)
	srv.now = clock.now
	key, err := ca.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ca.NewCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	return &caFixture{t: t, tc: tc, srv: srv, h: srv.Handler(), clock: clock, csr: string(csr)}
}

// join posts a worker join from src, with the worker token if good and a
// well-formed token with a wrong secret otherwise.
func (f *caFixture) join(src string, good bool) *httptest.ResponseRecorder {
	tok := f.tc.workerToken
	if !good {
		tok = f.tc.wrongToken
	}
	body, _ := json.Marshal(ca.JoinRequest{Token: tok.String(), CSR: f.csr, Hostname: "w", Role: model.RoleWorker})
	req := httptest.NewRequest(http.MethodPost, ca.PathJoin, bytes.NewReader(body))
	req.RemoteAddr = src + ":40000"
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// TestRefusedJoinsBackOffPerSource replays joins from two sources against a
// fake clock: after a wrong token, a source is answered 429 with a
// Retry-After that doubles with each refusal in a row and is capped; a
// valid token from another source is unaffected; a success, or a quiet
// period, resets the source. Before the fix 20 wrong tokens were answered
// in 0.41 s, one 401 each (issue 21 finding 6).
func TestRefusedJoinsBackOffPerSource(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	steps := []struct {
		at        time.Duration
		src       string
		good      bool
		code      int
		retryAftr string
	}{
		{0, a, false, http.StatusUnauthorized, ""},
		{0, a, true, http.StatusTooManyRequests, "1"}, // even a good token waits
		{0, b, true, http.StatusOK, ""},               // another source is unaffected
		{time.Second, a, false, http.StatusUnauthorized, ""},
		{2 * time.Second, a, true, http.StatusTooManyRequests, "1"},
		{3 * time.Second, a, false, http.StatusUnauthorized, ""},                     // third refusal: 4 s, until 7 s
		{3500 * time.Millisecond, a, false, http.StatusTooManyRequests, "4"},         // 3.5 s, rounded up
		{6999 * time.Millisecond, a, true, http.StatusTooManyRequests, "1"},          // a 429 does not lengthen the wait
		{7 * time.Second, a, true, http.StatusOK, ""},                                // success resets
		{7 * time.Second, a, false, http.StatusUnauthorized, ""},                     // so the next refusal waits 1 s
		{7 * time.Second, a, true, http.StatusTooManyRequests, "1"},                  //
		{8 * time.Second, a, false, http.StatusUnauthorized, ""},                     // 2 s, until 10 s
		{10*time.Second + 30*time.Second + 1, a, false, http.StatusUnauthorized, ""}, // quiet past Forget: forgotten
		{10*time.Second + 30*time.Second + 1, a, true, http.StatusTooManyRequests, "1"},
	}
	f := newCAFixture(t, testutil.Logger(t, slog.LevelDebug))
	for i, st := range steps {
		f.clock.set(st.at)
		rec := f.join(st.src, st.good)
		if rec.Code != st.code || rec.Header().Get("Retry-After") != st.retryAftr {
			t.Fatalf("step %d (%v from %s, good token %v): %d Retry-After %q, want %d %q: %s",
				i, st.at, st.src, st.good, rec.Code, rec.Header().Get("Retry-After"), st.code, st.retryAftr, rec.Body)
		}
	}
}

// TestBackoffIsCapped refuses one source many times: its wait stops
// growing at Max.
func TestBackoffIsCapped(t *testing.T) {
	f := newCAFixture(t, testutil.Logger(t, slog.LevelDebug))
	at := time.Duration(0)
	var waits []string
	for range 8 {
		f.clock.set(at)
		if rec := f.join("192.0.2.1", false); rec.Code != http.StatusUnauthorized {
			t.Fatalf("at %v: %d, want 401: %s", at, rec.Code, rec.Body)
		}
		rec := f.join("192.0.2.1", true)
		ra := rec.Header().Get("Retry-After")
		waits = append(waits, ra)
		var secs int
		fmt.Sscan(ra, &secs)
		at += time.Duration(secs) * time.Second
	}
	if got, want := strings.Join(waits, " "), "1 2 4 8 16 30 30 30"; got != want {
		t.Fatalf("waits %s, want %s", got, want)
	}
}

// TestBackoffMemoryIsBounded refuses more sources than the table holds:
// it keeps MaxSources of them, the most recently refused.
func TestBackoffMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{}
	clock.set(0)
	cfg := DefaultBackoffConfig()
	cfg.MaxSources = 100
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := newSourceBackoff(cfg, clock.now)
	for i := range 1000 {
		b.refused(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if n := b.len(); n != cfg.MaxSources {
		t.Fatalf("%d sources remembered, want %d", n, cfg.MaxSources)
	}
	if b.wait("10.0.3.231") == 0 { // the last one, 999
		t.Fatal("the most recently refused source was forgotten")
	}
	if b.wait("10.0.0.0") != 0 {
		t.Fatal("the least recently refused source is still remembered")
	}
}

// TestRefusedRenewalsBackOff refuses a renewal without a certificate: the
// source waits before its next renewal is looked at.
func TestRefusedRenewalsBackOff(t *testing.T) {
	f := newCAFixture(t, testutil.Logger(t, slog.LevelDebug))
	renew := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, ca.PathRenew, strings.NewReader(`{"csr":""}`))
		req.RemoteAddr = "192.0.2.7:40000"
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	if rec := renew(); rec.Code != http.StatusUnauthorized {
		t.Fatalf("%d, want 401: %s", rec.Code, rec.Body)
	}
	if rec := renew(); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("%d Retry-After %q, want 429 1: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}

// countingHandler counts records and keeps the last "count" attribute.
type countingHandler struct {
	mu    sync.Mutex
	lines []string
	count int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "count" {
			h.count += a.Value.Int64()
		}
		return true
	})
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestRefusedJoinsAreSummarised sends 20 wrong-token joins from 4 sources:
// the log gets the first in full and one summary with the right counts,
// not 20 warnings (issue 21 finding 6).
func TestRefusedJoinsAreSummarised(t *testing.T) {
	h := &countingHandler{}
	f := newCAFixture(t, slog.New(h))
	for i := range 20 {
		f.clock.set(time.Duration(i) * 100 * time.Millisecond)
		f.join(fmt.Sprintf("192.0.2.%d", i%4), false)
	}
	f.clock.set(10 * time.Second)
	f.srv.refusedJoins.Flush()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.lines) != 2 {
		t.Fatalf("20 refused joins logged %d lines, want 2 (the first, then a summary): %q", len(h.lines), h.lines)
	}
	if want := "20 refused joins from 4 sources in the last 10s"; h.lines[1] != want || h.count != 20 {
		t.Fatalf("summary %q count %d, want %q 20", h.lines[1], h.count, want)
	}
}
