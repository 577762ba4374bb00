// Package rafttest runs in-process clusters of Raft nodes over hashicorp/raft's
// in-memory transport, with real log stores on disk, for tests of
// components that need replicated state: elections, partitions, restarts,
// frozen nodes.
package rafttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
)

// Network connects in-process nodes: Raft RPCs over InmemTransport and
// forwarded requests by direct calls, both subject to the same partitions
// and freezes.
type Network struct {
	mu    sync.Mutex
	nodes map[string]*raft.Node
	trans map[string]*hraft.InmemTransport
	cut   map[[2]string]bool
	// frozen holds, per frozen address, a channel closed when it thaws.
	frozen map[string]chan struct{}
	// held counts the forwarded calls a frozen node has held.
	held int
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{nodes: map[string]*raft.Node{}, trans: map[string]*hraft.InmemTransport{}, cut: map[[2]string]bool{},
		frozen: map[string]chan struct{}{}}
}

// Transport returns a new transport at addr connected to every other
// reachable node.
func (nw *Network) Transport(addr string) *hraft.InmemTransport {
	_, t := hraft.NewInmemTransportWithTimeout(hraft.ServerAddress(addr), 200*time.Millisecond)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.trans[addr] = t
	for a, o := range nw.trans {
		if !nw.linked(a, addr) {
			continue
		}
		t.Connect(hraft.ServerAddress(a), o)
		o.Connect(hraft.ServerAddress(addr), t)
	}
	return t
}

// linked tells whether Raft RPCs flow between a and b. The caller holds mu.
func (nw *Network) linked(a, b string) bool {
	return a != b && !nw.cut[pair(a, b)] && nw.frozen[a] == nil && nw.frozen[b] == nil
}

// Freeze stops the node at addr as SIGSTOP would, as far as others see
// it: it sends and answers no Raft RPC, and a forwarded call to or from it
// waits, until Thaw, or until its caller gives up. Unlike a stopped
// process, the node's own timers go on: a frozen leader steps down after
// its lease.
func (nw *Network) Freeze(addr string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.frozen[addr] != nil {
		return
	}
	nw.frozen[addr] = make(chan struct{})
	for a, o := range nw.trans {
		if a != addr {
			o.Disconnect(hraft.ServerAddress(addr))
		}
	}
	if t, ok := nw.trans[addr]; ok {
		t.DisconnectAll()
	}
}

// Thaw resumes a frozen node: its links come back (those not cut) and the
// forwarded calls held for it go on.
func (nw *Network) Thaw(addr string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	ch := nw.frozen[addr]
	if ch == nil {
		return
	}
	delete(nw.frozen, addr)
	close(ch)
	t, ok := nw.trans[addr]
	if !ok {
		return
	}
	for a, o := range nw.trans {
		if nw.linked(a, addr) {
			t.Connect(hraft.ServerAddress(a), o)
			o.Connect(hraft.ServerAddress(addr), t)
		}
	}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Register makes a node reachable for forwarded requests.
func (nw *Network) Register(addr string, n *raft.Node) {
	nw.mu.Lock()
	nw.nodes[addr] = n
	nw.mu.Unlock()
}

// Unregister makes addr unreachable, as a dead process is.
func (nw *Network) Unregister(addr string) {
	nw.mu.Lock()
	delete(nw.nodes, addr)
	if t, ok := nw.trans[addr]; ok {
		for a, o := range nw.trans {
			if a != addr {
				o.Disconnect(hraft.ServerAddress(addr))
			}
		}
		t.DisconnectAll()
		delete(nw.trans, addr)
	}
	nw.mu.Unlock()
}

// Cut severs the link between a and b in both directions.
func (nw *Network) Cut(a, b string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut[pair(a, b)] = true
	if t, ok := nw.trans[a]; ok {
		t.Disconnect(hraft.ServerAddress(b))
	}
	if t, ok := nw.trans[b]; ok {
		t.Disconnect(hraft.ServerAddress(a))
	}
}

// HealAll restores every severed link.
func (nw *Network) HealAll() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for p := range nw.cut {
		ta, oka := nw.trans[p[0]]
		tb, okb := nw.trans[p[1]]
		if oka && okb && nw.frozen[p[0]] == nil && nw.frozen[p[1]] == nil {
			ta.Connect(hraft.ServerAddress(p[1]), tb)
			tb.Connect(hraft.ServerAddress(p[0]), ta)
		}
	}
	nw.cut = map[[2]string]bool{}
}

// target returns the node a forwarded call from from reaches at to. A
// call to or from a frozen node waits until it thaws; if ctx ends first,
// the call is lost in flight and target returns errFrozen.
func (nw *Network) target(ctx context.Context, from, to string) (*raft.Node, error) {
	for {
		nw.mu.Lock()
		n, ok := nw.nodes[to]
		cut := nw.cut[pair(from, to)]
		hold := nw.frozen[to]
		if hold == nil {
			hold = nw.frozen[from]
		}
		nw.mu.Unlock()
		if !ok || cut {
			return nil, fmt.Errorf("%w: %s unreachable from %s", raft.ErrNotSent, to, from)
		}
		if hold == nil {
			return n, nil
		}
		nw.mu.Lock()
		nw.held++
		nw.mu.Unlock()
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s is frozen: %w", errFrozen, to, ctx.Err())
		}
	}
}

// HeldCalls returns how many forwarded calls frozen nodes have held so
// far, so that a test can check its calls did meet the freeze.
func (nw *Network) HeldCalls() int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.held
}

// errFrozen marks a forwarded call held by a frozen node until its caller
// gave up: it was sent, and what became of it is not known.
var errFrozen = errors.New("rafttest: call held by a frozen node")

// Forwarder returns the forwarder of the node at addr.
func (nw *Network) Forwarder(from string) raft.Forwarder { return &forwarder{nw: nw, from: from} }

type forwarder struct {
	nw   *Network
	from string
}

func (f *forwarder) Apply(ctx context.Context, addr string, cmd []byte) (state.Results, error) {
	n, err := f.nw.target(ctx, f.from, addr)
	if errors.Is(err, errFrozen) {
		return nil, fmt.Errorf("%w: %w", raft.ErrUnknownOutcome, err)
	}
	if err != nil {
		return nil, err
	}
	return n.ApplyLocal(ctx, cmd)
}

func (f *forwarder) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	n, err := f.nw.target(ctx, f.from, addr)
	if err != nil {
		return 0, err
	}
	return n.ReadIndexLocal(ctx)
}

func (f *forwarder) ChangeMembership(ctx context.Context, addr string, req raft.MembershipChange) error {
	n, err := f.nw.target(ctx, f.from, addr)
	if errors.Is(err, errFrozen) {
		return fmt.Errorf("%w: %w", raft.ErrUnknownOutcome, err)
	}
	if err != nil {
		return err
	}
	return n.ChangeMembershipLocal(ctx, req)
}

func (f *forwarder) Ping(ctx context.Context, addr string) error {
	_, err := f.nw.target(ctx, f.from, addr)
	return err
}

// Member is one manager of a test cluster.
type Member struct {
	ID, Addr, Dir string
	Store         *state.Store
	// Node is nil while the member is stopped.
	Node *raft.Node
}

// Cluster is an in-process Raft cluster.
type Cluster struct {
	t       testing.TB
	Net     *Network
	Members []*Member
	// Configure adjusts each node's config before it starts.
	Configure func(*raft.Config)
	// OnStart runs after a member's node is created (and before it is
	// bootstrapped), e.g. to register leader hooks.
	OnStart func(*Member)
}

// FastConfig returns Raft timeouts suited to in-process tests.
func FastConfig() raft.Config {
	c := raft.DefaultConfig()
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.LeaderWaitTimeout = 4 * time.Second
	c.ShutdownTransferTimeout = 500 * time.Millisecond
	return c
}

// New creates and bootstraps a cluster of n managers.
func New(t testing.TB, n int, opts ...func(*Cluster)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Net: NewNetwork()}
	for _, o := range opts {
		o(c)
	}
	for i := range n {
		c.Members = append(c.Members, &Member{
			ID:   fmt.Sprintf("node%d", i+1),
			Addr: fmt.Sprintf("10.0.0.%d:2377", i+1),
			Dir:  t.TempDir(),
		})
	}
	for _, m := range c.Members {
		c.Start(m)
	}
	var peers []raft.Member
	for _, m := range c.Members[1:] {
		peers = append(peers, raft.Member{ID: m.ID, Addr: m.Addr, Voter: true})
	}
	if err := c.Members[0].Node.Bootstrap(peers...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// Start starts a stopped member from its data dir.
func (c *Cluster) Start(m *Member) {
	c.t.Helper()
	cfg := FastConfig()
	cfg.NodeID, cfg.Addr, cfg.DataDir = m.ID, m.Addr, m.Dir
	cfg.Logger = testLogger(c.t, m.ID)
	if c.Configure != nil {
		c.Configure(&cfg)
	}
	m.Store = state.NewStore()
	trans := c.Net.Transport(m.Addr)
	n, err := raft.New(cfg, m.Store, trans, c.Net.Forwarder(m.Addr))
	if err != nil {
		c.t.Fatalf("starting %s: %v", m.ID, err)
	}
	m.Node = n
	c.Net.Register(m.Addr, n)
	if c.OnStart != nil {
		c.OnStart(m)
	}
}

// Stop stops a member as a crash would: no leadership handover.
func (c *Cluster) Stop(m *Member) {
	if m.Node == nil {
		return
	}
	c.Net.Unregister(m.Addr)
	if err := m.Node.Shutdown(); err != nil {
		c.t.Logf("stopping %s: %v", m.ID, err)
	}
	m.Node = nil
}

// Shutdown stops every member.
func (c *Cluster) Shutdown() {
	for _, m := range c.Members {
		c.Stop(m)
	}
}

// Leader waits for a ready leader among the running members.
func (c *Cluster) Leader(timeout time.Duration) *Member {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if m.Node != nil && m.Node.Ready() {
				return m
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return nil
}

// Followers returns the running members that are not leader.
func (c *Cluster) Followers() []*Member {
	var out []*Member
	for _, m := range c.Members {
		if m.Node != nil && !m.Node.IsLeader() {
			out = append(out, m)
		}
	}
	return out
}

// Isolate cuts m off from every other member.
func (c *Cluster) Isolate(m *Member) {
	for _, o := range c.Members {
		if o != m {
			c.Net.Cut(m.Addr, o.Addr)
		}
	}
}

// WaitConverged waits until every running member's store is at the same
// index as the leader's.
func (c *Cluster) WaitConverged(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var idx []uint64
		for _, m := range c.Members {
			if m.Node != nil {
				idx = append(idx, m.Store.Index())
			}
		}
		same := true
		for _, i := range idx {
			if i != idx[0] {
				same = false
			}
		}
		if same {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("stores did not converge within %v", timeout)
}

func testLogger(t testing.TB, id string) *slog.Logger {
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", id)
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
