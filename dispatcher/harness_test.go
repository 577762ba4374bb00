package dispatcher_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
	"github.com/shoal-dev/shoal/transport"
)

var _ state.Proposer = (*raft.Node)(nil)

const waitTimeout = 10 * time.Second

// harness is a rafttest cluster whose members each serve the dispatcher on
// a real TLS cluster port (transport.Mux + HTTP/2) on 127.0.0.1, with
// certificates from a fresh cluster CA. Each member's dispatcher runs in
// its OnLeader hook, as in the manager.
type harness struct {
	t       *testing.T
	root    *ca.RootCA
	cluster string
	c       *rafttest.Cluster

	mu       sync.Mutex
	managers map[string]*manager // by member ID
	// proposals counts the Raft writes of every dispatcher, by op type.
	proposals sync.Map // state.OpType -> *atomic.Int64
	writes    atomic.Int64
}

type manager struct {
	addr string
	d    *dispatcher.Dispatcher
	srv  *http.Server
	mux  *transport.Mux
}

// countingProposer counts the dispatcher's writes.
type countingProposer struct {
	h *harness
	n *raft.Node
}

func (p countingProposer) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	p.h.writes.Add(1)
	for _, op := range cmd.Ops {
		v, _ := p.h.proposals.LoadOrStore(op.Type, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	return p.n.Propose(ctx, cmd)
}

func (h *harness) opCount(t state.OpType) int64 {
	if v, ok := h.proposals.Load(t); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// newHarness starts n managers, creates the cluster object (with the
// heartbeat period given) and one manager node per member, and waits for
// the leader's dispatcher.
func newHarness(t *testing.T, n int, period time.Duration, configure func(*dispatcher.Config)) *harness {
	t.Helper()
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, root: root, cluster: model.NewID(), managers: map[string]*manager{}}
	h.c = rafttest.New(t, n, func(c *rafttest.Cluster) {
		c.OnStart = func(m *rafttest.Member) { h.startManager(m, configure) }
	})
	leader := h.c.Leader(waitTimeout)
	spec := model.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = period
	ops := []state.Op{{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: h.cluster, Spec: spec}}}
	for _, m := range h.c.Members {
		ops = append(ops, state.Op{Type: state.OpCreateNode, Node: &model.Node{
			ID:            m.ID,
			Spec:          model.NodeSpec{DesiredRole: model.RoleManager, Availability: model.AvailabilityActive},
			Role:          model.RoleManager,
			ManagerStatus: &model.ManagerStatus{Addr: h.addr(m.ID)},
			Status:        model.NodeStatus{State: model.NodeStateUnknown},
		}})
	}
	h.propose(leader, ops...)
	h.c.WaitConverged(waitTimeout) // followers know the managers' addresses too
	h.waitServing(leader)
	return h
}

func (h *harness) cert(nodeID string, role model.NodeRole) tls.Certificate {
	h.t.Helper()
	return testutil.IssueNode(h.t, h.root, nodeID, role, h.cluster, time.Hour).TLS
}

func (h *harness) startManager(m *rafttest.Member, configure func(*dispatcher.Config)) {
	t := h.t
	node := m.Node
	cfg := dispatcher.DefaultConfig()
	cfg.Identify = dispatcher.PeerIdentity
	cfg.Leader = node.Leader
	cfg.Logger = testutil.Logger(t, slog.LevelInfo).With("manager", m.ID)
	mgrCert := h.cert(m.ID, model.RoleManager)
	clientTLS, err := ca.ClientTLSConfig(&mgrCert, h.root, ca.WithLogger(testutil.Logger(t, slog.LevelError)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ManagerClient = &http.Client{Transport: protocol.NewTransport(func() (*tls.Config, error) { return clientTLS, nil }, 5*time.Second)}
	if configure != nil {
		configure(&cfg)
	}
	d := dispatcher.New(m.Store, countingProposer{h: h, n: node}, cfg)
	node.OnLeader(func(ctx context.Context) {
		if err := d.Run(ctx); err != nil {
			t.Errorf("dispatcher on %s: %v", m.ID, err)
		}
	})

	serverTLS, err := ca.ServerTLSConfig(mgrCert, h.root, ca.WithLogger(testutil.Logger(t, slog.LevelError)))
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	old := h.managers[m.ID]
	h.mu.Unlock()
	addr := "127.0.0.1:0"
	if old != nil {
		addr = old.addr // a restarted member keeps its address
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := transport.New(ln, transport.Config{TLS: serverTLS, Logger: testutil.Logger(t, slog.LevelError)})
	go mux.Serve()
	httpMux := http.NewServeMux()
	httpMux.Handle(protocol.PathPrefix, d.Handler())
	srv := &http.Server{Handler: httpMux, ErrorLog: nil}
	go srv.Serve(mux.HTTPListener())
	mg := &manager{addr: ln.Addr().String(), d: d, srv: srv, mux: mux}
	h.mu.Lock()
	h.managers[m.ID] = mg
	h.mu.Unlock()
	t.Cleanup(func() { mg.close() })
}

func (m *manager) close() {
	m.srv.Close()
	m.mux.Close()
	m.d.Stop()
}

func (h *harness) manager(id string) *manager {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.managers[id]
}

func (h *harness) addr(memberID string) string { return h.manager(memberID).addr }

// kill stops a member as a crash would: its port closes, then Raft stops.
func (h *harness) kill(m *rafttest.Member) {
	h.manager(m.ID).close()
	h.c.Stop(m)
}

// waitServing waits until m's dispatcher serves sessions.
func (h *harness) waitServing(m *rafttest.Member) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := h.manager(m.ID).d.MarkDown("no-such-node", "probe")
		cancel()
		_ = ctx
		if errors.Is(err, dispatcher.ErrUnknownNode) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("dispatcher of %s not serving", m.ID)
}

func (h *harness) propose(m *rafttest.Member, ops ...state.Op) state.Results {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := m.Node.Propose(ctx, state.NewCommand(ops...))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		h.t.Fatalf("propose %s: %v", ops[0].Type, err)
	}
	return res
}

// leader returns the current leader member.
func (h *harness) leader() *rafttest.Member { return h.c.Leader(waitTimeout) }

// addNode creates a worker node.
func (h *harness) addNode(id string) {
	h.propose(h.leader(), state.Op{Type: state.OpCreateNode, Node: &model.Node{
		ID:     id,
		Spec:   model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
		Role:   model.RoleWorker,
		Status: model.NodeStatus{State: model.NodeStateUnknown},
	}})
}

// addService creates a service and n tasks assigned to nodes, round robin,
// and returns the task IDs per node.
func (h *harness) addService(name string, nodes ...string) (string, map[string][]string) {
	h.t.Helper()
	l := h.leader()
	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "shoal/demoapp:test"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: uint64(len(nodes))}},
	}}
	res := h.propose(l, state.Op{Type: state.OpCreateService, Service: svc})
	_ = res
	var specVersion uint64
	_ = l.Store.View(func(tx state.ReadTx) error {
		specVersion = tx.GetService(svc.ID).SpecVersion.Index
		return nil
	})
	var nts []state.NewTask
	var as []state.Assignment
	out := map[string][]string{}
	for i, n := range nodes {
		id := model.NewID()
		nts = append(nts, state.NewTask{ID: id, Slot: uint64(i + 1)})
		as = append(as, state.Assignment{TaskID: id, NodeID: n})
		out[n] = append(out[n], id)
	}
	h.propose(l, state.Op{Type: state.OpCreateTasks, ID: svc.ID, SpecVersion: specVersion, NewTasks: nts},
		state.Op{Type: state.OpAssignTasks, Assignments: as})
	return svc.ID, out
}

// node reads a node from the leader's store.
func (h *harness) node(id string) *model.Node {
	var n *model.Node
	_ = h.leader().Store.View(func(tx state.ReadTx) error { n = tx.GetNode(id); return nil })
	return n
}

func (h *harness) task(id string) *model.Task {
	var t *model.Task
	_ = h.leader().Store.View(func(tx state.ReadTx) error { t = tx.GetTask(id); return nil })
	return t
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitNodeState(id string, st model.NodeState, timeout time.Duration) *model.Node {
	h.t.Helper()
	var n *model.Node
	waitFor(h.t, timeout, fmt.Sprintf("node %s %s", id, st), func() bool {
		n = h.node(id)
		return n != nil && n.Status.State == st
	})
	return n
}

// ---------------------------------------------------------------------------
// A minimal node side, speaking the protocol directly.

type testNode struct {
	h      *harness
	id     string
	tlsCfg *tls.Config
	tr     *http.Transport
	client *protocol.Client

	connsMu sync.Mutex
	conns   []net.Conn

	stream  *protocol.Stream
	session string
	period  time.Duration
	msgs    chan *protocol.Message
	cancel  context.CancelFunc
}

// newTestNode returns a node client with its own certificate.
func (h *harness) newTestNode(id string) *testNode {
	cert := h.cert(id, model.RoleWorker)
	cfg, err := ca.ClientTLSConfig(&cert, h.root, ca.WithLogger(testutil.Logger(h.t, slog.LevelError)))
	if err != nil {
		h.t.Fatal(err)
	}
	n := &testNode{h: h, id: id, tlsCfg: cfg}
	n.tr = protocol.NewTransport(func() (*tls.Config, error) { return cfg, nil }, 5*time.Second)
	inner := n.tr.DialTLSContext
	n.tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := inner(ctx, network, addr)
		if err == nil {
			n.connsMu.Lock()
			n.conns = append(n.conns, c)
			n.connsMu.Unlock()
		}
		return c, err
	}
	n.client = &protocol.Client{HTTP: &http.Client{Transport: n.tr}, NodeID: id}
	h.t.Cleanup(n.close)
	return n
}

// open opens a session on the manager at addr and reads its first
// message.
func (n *testNode) open(addr string) error {
	n.client.Addr = addr
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := n.client.OpenSession(ctx, protocol.SessionRequest{Description: &model.NodeDescription{Hostname: "host-" + n.id}})
	if err != nil {
		cancel()
		return err
	}
	first, err := stream.Next()
	if err != nil {
		cancel()
		return err
	}
	if first.Type != protocol.MessageSession {
		cancel()
		return fmt.Errorf("first message is %s", first.Type)
	}
	n.stream, n.session, n.period, n.cancel = stream, first.Session.ID, first.Session.HeartbeatPeriod, cancel
	msgs := make(chan *protocol.Message, 1024)
	n.msgs = msgs
	go func() {
		defer close(msgs)
		for {
			m, err := stream.Next()
			if err != nil {
				return
			}
			msgs <- m
		}
	}()
	return nil
}

// next returns the next message of type typ, skipping others.
func (n *testNode) next(typ protocol.MessageType, timeout time.Duration) *protocol.Message {
	n.h.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				n.h.t.Fatalf("node %s: session stream ended while waiting for %s", n.id, typ)
			}
			if m.Type == typ {
				return m
			}
		case <-timer.C:
			n.h.t.Fatalf("node %s: no %s message within %v", n.id, typ, timeout)
		}
	}
}

// heartbeats sends heartbeats at the session's period until ctx ends.
func (n *testNode) heartbeats(ctx context.Context) {
	period := n.period
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
		resp, err := n.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: n.session})
		if err != nil {
			return
		}
		period = resp.Period
	}
}

// beat sends one heartbeat on the node's session.
func (n *testNode) beat(t *testing.T) {
	t.Helper()
	if _, err := n.client.Heartbeat(context.Background(), protocol.HeartbeatRequest{SessionID: n.session}); err != nil {
		t.Fatalf("%s's heartbeat: %v", n.id, err)
	}
}

// wantSessions fails the test unless d has n open sessions.
func wantSessions(t *testing.T, d *dispatcher.Dispatcher, n int, when string) {
	t.Helper()
	if got := d.Sessions(); got != n {
		t.Fatalf("%d sessions %s, want %d", got, when, n)
	}
}

// kill closes the node's TCP connections, as the death of its process
// would.
func (n *testNode) kill() {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	for _, c := range n.conns {
		c.Close()
	}
	n.conns = nil
}

func (n *testNode) close() {
	if n.cancel != nil {
		n.cancel()
	}
	n.kill()
	n.tr.CloseIdleConnections()
}

func taskIDs(tasks []*model.Task) map[string]*model.Task {
	out := map[string]*model.Task{}
	for _, t := range tasks {
		out[t.ID] = t
	}
	return out
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }
