package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/eventlog"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

const waitTimeout = 10 * time.Second

// testBackend implements api.Backend on a member of a real rafttest
// cluster: real Raft, real store. What the manager would learn elsewhere
// (whether it is in a swarm, its role, reachability, logs) tests set.
type testBackend struct {
	c   *rafttest.Cluster
	m   *rafttest.Member
	reg *prometheus.Registry

	mu      sync.Mutex
	nodeID  string
	manager bool
	reach   map[string]model.Reachability
	removed []string
	logs    *fakeLogs
	// lagging, when set, is the store Store returns until the next read
	// barrier: a manager whose store is behind until the barrier waits for
	// it to catch up.
	lagging *state.Store

	// barriers counts ReadBarrier calls.
	barriers atomic.Int64

	// events is the member's event log, as the manager runs it.
	events *eventlog.Log
}

var (
	_ api.Backend     = (*testBackend)(nil)
	_ api.EventSource = (*testBackend)(nil)
)

func (b *testBackend) Events() *eventlog.Log { return b.events }

// startEventLog runs an event log over m's store until the test ends.
func startEventLog(t *testing.T, m *rafttest.Member) *eventlog.Log {
	cfg := eventlog.DefaultConfig()
	cfg.Logger = testLogger(t)
	l := eventlog.New(m.Store, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Run(ctx); err != nil {
			t.Errorf("event log: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func (b *testBackend) Store() *state.Store {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lagging != nil {
		return b.lagging
	}
	return b.m.Store
}

func (b *testBackend) ReadBarrier(ctx context.Context) error {
	b.barriers.Add(1)
	err := b.m.Node.ReadBarrier(ctx)
	if err == nil {
		b.mu.Lock()
		b.lagging = nil
		b.mu.Unlock()
	}
	return err
}

func (b *testBackend) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	return b.m.Node.Propose(ctx, cmd)
}

func (b *testBackend) NodeID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nodeID
}

func (b *testBackend) IsManager() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.manager
}

func (b *testBackend) LeaderID() string {
	id, _ := b.m.Node.Leader()
	return id
}

// Reachability asks the Raft node unless a test decided.
func (b *testBackend) Reachability(id string) model.Reachability {
	b.mu.Lock()
	r, ok := b.reach[id]
	b.mu.Unlock()
	if ok {
		return r
	}
	members, err := b.m.Node.Members()
	if err != nil || !slices.ContainsFunc(members, func(m raft.Member) bool { return m.ID == id }) {
		return model.ReachabilityUnknown
	}
	if b.m.Node.Reachable(id) {
		return model.ReachabilityReachable
	}
	return model.ReachabilityUnreachable
}

func (b *testBackend) RemoveManager(ctx context.Context, id string) error {
	b.mu.Lock()
	b.removed = append(b.removed, id)
	b.mu.Unlock()
	return b.m.Node.RemoveServer(ctx, id)
}

func (b *testBackend) SubscribeLogs(ctx context.Context, sel api.LogSelector, opts api.LogOptions) (<-chan api.LogMessage, error) {
	return b.logs.subscribe(ctx, sel, opts)
}

func (b *testBackend) Metrics() (prometheus.Registerer, prometheus.Gatherer) { return b.reg, b.reg }

func (b *testBackend) setRole(nodeID string, manager bool) {
	b.mu.Lock()
	b.nodeID, b.manager = nodeID, manager
	b.mu.Unlock()
}

func (b *testBackend) setReachability(id string, r model.Reachability) {
	b.mu.Lock()
	b.reach[id] = r
	b.mu.Unlock()
}

// env is an API server on the leader of a rafttest cluster whose store
// holds a cluster object and one node per manager.
type env struct {
	t      *testing.T
	c      *rafttest.Cluster
	b      *testBackend
	srv    *api.Server
	http   *httptest.Server
	root   *ca.RootCA
	client *http.Client
	// logs holds every line the API server logged, for tests that check
	// what the logs must never hold.
	logs *logBuffer
}

func testLogger(t *testing.T) *slog.Logger { return testutil.Logger(t, slog.LevelDebug) }

// logBuffer is a log destination safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// managerName is the hostname of manager i (from 1).
func managerName(i int) string { return fmt.Sprintf("manager-%d", i) }

func newEnv(t *testing.T, managers int, opts ...func(*rafttest.Cluster)) *env {
	t.Helper()
	c := rafttest.New(t, managers, opts...)
	leader := c.Leader(waitTimeout)
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, root: root, client: &http.Client{Timeout: 30 * time.Second}}
	e.b = &testBackend{c: c, m: leader, reg: prometheus.NewRegistry(), nodeID: leader.ID, manager: true,
		reach: map[string]model.Reachability{}, logs: newFakeLogs(), events: startEventLog(t, leader)}
	worker, err := ca.GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ca.GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	cluster := &model.Cluster{ID: model.NewID(), Spec: model.DefaultClusterSpec(),
		RootCA: model.RootCA{CACert: root.CertPEM(), CACertDigest: root.DigestHex(),
			JoinTokens: model.JoinTokens{Worker: worker.String(), Manager: mgr.String()}}}
	ops := []state.Op{{Type: state.OpCreateCluster, Cluster: cluster}}
	for i, m := range c.Members {
		host, _, _ := strings.Cut(m.Addr, ":")
		ops = append(ops, state.Op{Type: state.OpCreateNode, Node: &model.Node{
			ID:   m.ID,
			Role: model.RoleManager,
			Spec: model.NodeSpec{DesiredRole: model.RoleManager, Availability: model.AvailabilityActive},
			Description: model.NodeDescription{Hostname: managerName(i + 1),
				Platform:  model.Platform{OS: "linux", Architecture: "x86_64"},
				Resources: model.Resources{NanoCPUs: 2e9, MemoryBytes: 4 << 30},
				Engine:    model.Engine{EngineVersion: "28.5.2"}},
			Status:        model.NodeStatus{State: model.NodeStateReady, Addr: host},
			ManagerStatus: &model.ManagerStatus{Addr: m.Addr},
		}})
	}
	e.propose(ops...)
	cfg := api.DefaultConfig()
	cfg.Version = "test"
	e.logs = &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(testutil.Writer(t), e.logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.srv = api.NewServer(e.b, cfg)
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

// propose writes through the API's member, as the other components would.
func (e *env) propose(ops ...state.Op) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := e.b.m.Node.Propose(ctx, state.NewCommand(ops...))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		e.t.Fatalf("propose %s: %v", ops[0].Type, err)
	}
}

// read reads the store after a barrier.
func (e *env) read(fn func(tx state.ReadTx)) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.b.m.Node.ReadBarrier(ctx); err != nil {
		e.t.Fatal(err)
	}
	_ = e.b.m.Store.View(func(tx state.ReadTx) error { fn(tx); return nil })
}

func (e *env) service(ref string) *model.Service {
	e.t.Helper()
	var s *model.Service
	e.read(func(tx state.ReadTx) {
		s = tx.GetService(ref)
		if s == nil {
			ss, _ := tx.FindServices(state.ByName(ref))
			if len(ss) == 1 {
				s = ss[0]
			}
		}
	})
	if s == nil {
		e.t.Fatalf("no service %s", ref)
	}
	return s
}

func (e *env) node(id string) *model.Node {
	e.t.Helper()
	var n *model.Node
	e.read(func(tx state.ReadTx) { n = tx.GetNode(id) })
	if n == nil {
		e.t.Fatalf("no node %s", id)
	}
	return n
}

func (e *env) clusterObject() *model.Cluster {
	e.t.Helper()
	var c *model.Cluster
	e.read(func(tx state.ReadTx) { c = tx.Cluster() })
	return c
}

// addWorker adds a ready worker node.
func (e *env) addWorker(id, hostname string, mods ...func(*model.Node)) {
	e.t.Helper()
	n := &model.Node{
		ID:   id,
		Role: model.RoleWorker,
		Spec: model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
		Description: model.NodeDescription{Hostname: hostname,
			Platform: model.Platform{OS: "linux", Architecture: "x86_64"},
			Engine:   model.Engine{EngineVersion: "28.5.2"}},
		Status: model.NodeStatus{State: model.NodeStateReady, Addr: "10.0.1.1"},
	}
	for _, m := range mods {
		m(n)
	}
	e.propose(state.Op{Type: state.OpCreateNode, Node: n})
}

// response is an answer of the server.
type response struct {
	status int
	header http.Header
	body   []byte
}

// message is the "message" of an error answer.
func (r response) message() string {
	var m struct{ Message string }
	_ = json.Unmarshal(r.body, &m)
	return m.Message
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// do sends a request; body is JSON-encoded unless it is a string or
// []byte, which are sent as they are.
func (e *env) do(method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request that must answer want, and decodes the answer into
// out if it is not nil.
func (e *env) must(want int, method, path string, body, out any) response {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(e.t, out)
	}
	return r
}

// filters encodes list filters as the docker CLI does.
func filters(kv ...string) string {
	m := map[string]map[string]bool{}
	for i := 0; i+1 < len(kv); i += 2 {
		if m[kv[i]] == nil {
			m[kv[i]] = map[string]bool{}
		}
		m[kv[i]][kv[i+1]] = true
	}
	b, _ := json.Marshal(m)
	return "filters=" + url.QueryEscape(string(b))
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func serviceState(s swarm.ServiceSpec) (model.ServiceSpec, error) {
	return convert.ServiceSpecFromDocker(s)
}
