package robustness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/scheduler"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// The in-process level: N managers, each a real raft.Node (hashicorp/raft
// over rafttest's in-memory transport, boltdb logs on disk) with the real
// orchestrator and scheduler in its leader hooks and the real API server
// in front of it, on httpNet. Simulated agents play the workers.

// ipMember is one in-process manager.
type ipMember struct {
	id, addr, dir string
	log           *memLog
	logger        *slog.Logger
	client        *apiClient

	mu   sync.Mutex
	node *raft.Node // nil while stopped
	// wedged is set when the member could not be stopped (its node's
	// Shutdown never returned): it stays down for the rest of the run.
	wedged bool
	store  *state.Store
	rpc    http.Handler
	// rpcGate, if set, holds the requests forwarded to this member until
	// it is closed (scenario tests).
	rpcGate chan struct{}
	orch    *orchestrator.Orchestrator
	sched   *scheduler.Scheduler
}

func (m *ipMember) current() (*raft.Node, *state.Store) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node, m.store
}

// ipBackend is the API server's view of its member; it follows the
// member across restarts.
type ipBackend struct {
	m   *ipMember
	reg *prometheus.Registry
}

var _ api.Backend = (*ipBackend)(nil)

func (b *ipBackend) Store() *state.Store { _, s := b.m.current(); return s }

func (b *ipBackend) ReadBarrier(ctx context.Context) error {
	n, _ := b.m.current()
	if n == nil {
		return raft.ErrShutdown
	}
	return n.ReadBarrier(ctx)
}

func (b *ipBackend) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	n, _ := b.m.current()
	if n == nil {
		return nil, raft.ErrShutdown
	}
	return n.Propose(ctx, cmd)
}

func (b *ipBackend) NodeID() string  { return b.m.id }
func (b *ipBackend) IsManager() bool { return true }

func (b *ipBackend) LeaderID() string {
	n, _ := b.m.current()
	if n == nil {
		return ""
	}
	id, _ := n.Leader()
	return id
}

func (b *ipBackend) Reachability(id string) model.Reachability {
	n, _ := b.m.current()
	if n != nil && n.Reachable(id) {
		return model.ReachabilityReachable
	}
	return model.ReachabilityUnreachable
}

func (b *ipBackend) RemoveManager(context.Context, string) error {
	return errors.New("robustness: membership changes are not part of the load")
}

func (b *ipBackend) SubscribeLogs(context.Context, api.LogSelector, api.LogOptions) (<-chan api.LogMessage, error) {
	return nil, errors.New("robustness: no logs")
}

func (b *ipBackend) Metrics() (prometheus.Registerer, prometheus.Gatherer) { return b.reg, b.reg }

// ipCluster is the in-process cluster of one run.
type ipCluster struct {
	t testing.TB
	// hung records the components that did not stop in time: the
	// symptoms of TestBugProposeHangsAfterShutdown.
	hungMu  sync.Mutex
	hung    []string
	cfg     runConfig
	nw      *rafttest.Network
	hn      *httpNet
	terms   *termLog
	events  *eventLog
	members []*ipMember
	workers []string
	agents  *simAgents
}

// workerNodes are the nodes the simulated agents play.
var workerNodes = []string{"worker-1", "worker-2", "worker-3"}

func newIPCluster(t testing.TB, cfg runConfig, events *eventLog) *ipCluster {
	c := &ipCluster{t: t, cfg: cfg, nw: rafttest.NewNetwork(), hn: newHTTPNet(), terms: newTermLog(), events: events}
	t.Cleanup(c.shutdown)
	for i := range cfg.Managers {
		m := &ipMember{id: fmt.Sprintf("node%d", i+1), addr: fmt.Sprintf("10.0.0.%d:2377", i+1), dir: t.TempDir(), log: &memLog{}}
		m.logger = slog.New(slog.NewTextHandler(m.log, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", m.id)
		acfg := api.DefaultConfig()
		acfg.Version = "robustness"
		acfg.Logger = m.logger
		srv := api.NewServer(&ipBackend{m: m, reg: prometheus.NewRegistry()}, acfg)
		mux := http.NewServeMux()
		mux.Handle(raft.PathPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.mu.Lock()
			h, gate := m.rpc, m.rpcGate
			m.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			if h == nil {
				http.Error(w, "stopped", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		}))
		mux.Handle("/", srv.Handler())
		c.hn.serve(m.addr, mux)
		m.client = &apiClient{member: m.id, hc: c.hn.client(""), base: "http://" + m.addr}
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		if err := c.start(m); err != nil {
			t.Fatal(err)
		}
	}
	var peers []raft.Member
	for _, m := range c.members[1:] {
		peers = append(peers, raft.Member{ID: m.id, Addr: m.addr, Voter: true})
	}
	if err := c.members[0].node.Bootstrap(peers...); err != nil {
		t.Fatal(err)
	}
	if c.leader(10*time.Second) == nil {
		t.Fatal("no leader after bootstrap")
	}
	ops := []state.Op{{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: model.NewID(), Spec: model.DefaultClusterSpec()}}}
	for _, id := range workerNodes {
		ops = append(ops, state.Op{Type: state.OpCreateNode, Node: &model.Node{
			ID:   id,
			Role: model.RoleWorker,
			Spec: model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
			Description: model.NodeDescription{Hostname: id, Platform: model.Platform{OS: "linux", Architecture: "x86_64"},
				Resources: model.Resources{NanoCPUs: 2e9, MemoryBytes: 4 << 30}},
			Status: model.NodeStatus{State: model.NodeStateReady},
		}})
	}
	if err := c.proposeSetup(ops); err != nil {
		t.Fatal(err)
	}
	c.workers = workerNodes
	return c
}

// proposeSetup writes ops, retrying until it succeeds. An attempt whose
// outcome was unknown may have applied: a retry that finds the cluster
// object (ErrExists) then succeeded.
func (c *ipCluster) proposeSetup(ops []state.Op) error {
	deadline := time.Now().Add(20 * time.Second)
	retried := false
	for {
		l := c.leader(5 * time.Second)
		if l != nil {
			n, _ := l.current()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := n.Propose(ctx, state.NewCommand(ops...))
			cancel()
			if err == nil {
				if err := res.Err(); retried && errors.Is(err, state.ErrExists) {
					return nil
				}
				return res.Err()
			}
			retried = true
			if time.Now().After(deadline) {
				return err
			}
		}
		if time.Now().After(deadline) {
			return errors.New("no leader for the setup write")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start starts a stopped member from its data dir.
func (c *ipCluster) start(m *ipMember) error {
	cfg := rafttest.FastConfig()
	cfg.NodeID, cfg.Addr, cfg.DataDir = m.id, m.addr, m.dir
	cfg.Logger = m.logger
	if c.cfg.SnapshotThreshold > 0 {
		// Snapshot often and keep few entries, so that a manager that comes
		// back after a while catches up from a snapshot.
		cfg.SnapshotThreshold = c.cfg.SnapshotThreshold
		cfg.SnapshotInterval = 300 * time.Millisecond
		cfg.TrailingLogs = c.cfg.SnapshotThreshold / 4
	}
	store := state.NewStore()
	trans := &observedTransport{InmemTransport: c.nw.Transport(m.addr), id: m.id, terms: c.terms}
	var fwd raft.Forwarder = &raft.HTTPForwarder{Client: c.hn.client(m.addr)}
	if c.cfg.Forwarder == "inmem" {
		fwd = c.nw.Forwarder(m.addr)
	}
	node, err := raft.New(cfg, store, trans, fwd)
	if err != nil {
		return fmt.Errorf("starting %s: %w", m.id, err)
	}
	ocfg := orchestrator.DefaultConfig()
	ocfg.Logger = m.logger
	orch := orchestrator.New(store, node, ocfg)
	scfg := scheduler.DefaultConfig()
	scfg.Logger = m.logger
	sched := scheduler.New(store, node, scfg)
	node.OnLeader(func(ctx context.Context) {
		if err := orch.Run(ctx); err != nil {
			m.logger.Error("orchestrator", "err", err)
		}
	})
	node.OnLeader(func(ctx context.Context) {
		if err := sched.Run(ctx); err != nil {
			m.logger.Error("scheduler", "err", err)
		}
	})
	c.nw.Register(m.addr, node)
	m.mu.Lock()
	m.node, m.store, m.rpc, m.orch, m.sched = node, store, node.Handler(), orch, sched
	m.mu.Unlock()
	c.hn.up(m.addr)
	return nil
}

// kill stops a member as a crash would: its connections drop first, so
// it hands nothing over.
func (c *ipCluster) kill(m *ipMember) {
	c.hn.kill(m.addr)
	c.nw.Unregister(m.addr)
	m.mu.Lock()
	node, orch, sched := m.node, m.orch, m.sched
	m.node, m.rpc = nil, nil
	m.mu.Unlock()
	if node == nil {
		return
	}
	c.stopNode(m, node)
	c.stopWithin(m, "orchestrator", orch.Stop)
	c.stopWithin(m, "scheduler", sched.Stop)
}

// stopNode shuts a node down; if Shutdown does not return, the member
// is wedged (its log store stays open, so it cannot start again).
func (c *ipCluster) stopNode(m *ipMember, node *raft.Node) {
	if !within(20*time.Second, func() {
		if err := node.Shutdown(); err != nil {
			m.logger.Warn("robustness: shutdown", "err", err)
		}
	}) {
		m.mu.Lock()
		m.wedged = true
		m.mu.Unlock()
		c.noteHung(fmt.Sprintf("raft.Node.Shutdown of %s did not return within 20 s (a leader hook stuck in Propose); %s stays down", m.id, m.id))
	}
}

func (c *ipCluster) stopWithin(m *ipMember, what string, stop func()) {
	if !within(10*time.Second, stop) {
		c.noteHung(fmt.Sprintf("the %s of %s did not stop within 10 s (stuck in Propose)", what, m.id))
	}
}

func (c *ipCluster) noteHung(s string) {
	c.hungMu.Lock()
	c.hung = append(c.hung, s)
	c.hungMu.Unlock()
	c.events.add("HUNG: %s", s)
}

func (m *ipMember) isWedged() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wedged
}

// restart stops a member cleanly, as on SIGTERM (a leader hands its
// leadership over first), and starts it again.
func (c *ipCluster) restart(m *ipMember) error {
	m.mu.Lock()
	node, orch, sched := m.node, m.orch, m.sched
	m.mu.Unlock()
	if node != nil {
		c.stopWithin(m, "orchestrator", orch.Stop)
		c.stopWithin(m, "scheduler", sched.Stop)
		c.stopNode(m, node)
	}
	c.kill(m)
	if m.isWedged() {
		return nil
	}
	return c.start(m)
}

func (c *ipCluster) shutdown() {
	if c.agents != nil && !within(10*time.Second, c.agents.stop) {
		c.noteHung("the simulated agents did not stop within 10 s (an agent stuck in Propose)")
	}
	for _, m := range c.members {
		c.kill(m)
	}
	c.hn.close()
}

// cut severs the links between every member of a and every member of b.
func (c *ipCluster) cut(a, b []*ipMember) {
	for _, x := range a {
		for _, y := range b {
			if x != y {
				c.nw.Cut(x.addr, y.addr)
				c.hn.setCut(x.addr, y.addr, true)
			}
		}
	}
}

func (c *ipCluster) healLinks() {
	c.nw.HealAll()
	c.hn.healAll()
	for _, m := range c.members {
		c.hn.resume(m.addr)
	}
}

// healAll undoes every fault: links healed, paused members resumed,
// stopped members started.
func (c *ipCluster) healAll() {
	c.healLinks()
	for _, m := range c.members {
		if n, _ := m.current(); n == nil && !m.isWedged() {
			if err := c.start(m); err != nil {
				c.t.Errorf("restarting %s: %v", m.id, err)
			}
		}
	}
}

func (c *ipCluster) live() []*ipMember {
	var out []*ipMember
	for _, m := range c.members {
		if n, _ := m.current(); n != nil {
			out = append(out, m)
		}
	}
	return out
}

// leader waits for a ready leader; with several (a deposed one that does
// not know yet), the one with the highest term.
func (c *ipCluster) leader(timeout time.Duration) *ipMember {
	deadline := time.Now().Add(timeout)
	for {
		var best *ipMember
		var bestTerm uint64
		for _, m := range c.members {
			n, _ := m.current()
			if n == nil || !n.Ready() {
				continue
			}
			if st := n.Stats(); best == nil || st.Term > bestTerm {
				best, bestTerm = m, st.Term
			}
		}
		if best != nil || time.Now().After(deadline) {
			return best
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *ipCluster) others(m *ipMember) []*ipMember {
	var out []*ipMember
	for _, o := range c.members {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

func pick[T any](xs []T, n int) T { return xs[n%len(xs)] }

// inject starts fault f and returns what it did and how to heal it.
func (c *ipCluster) inject(f fault) (string, func(), error) {
	leader := c.leader(2 * time.Second)
	live := c.live()
	var followers []*ipMember
	for _, m := range live {
		if m != leader {
			followers = append(followers, m)
		}
	}
	if len(live) == 0 {
		return "nothing live", func() {}, nil
	}
	target := pick(live, f.Pick)
	switch f.Kind {
	case faultKillLeader, faultKillFollower:
		if f.Kind == faultKillLeader && leader != nil {
			target = leader
		} else if f.Kind == faultKillFollower && len(followers) > 0 {
			target = pick(followers, f.Pick)
		}
		c.kill(target)
		return "killed " + target.id + leaderNote(target, leader), func() { c.restartLogged(target) }, nil
	case faultKillMinority:
		rng := rand.New(rand.NewSource(int64(f.Pick)))
		victims := slices.Clone(live)
		rng.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
		victims = victims[:min(len(victims), (len(c.members)-1)/2)]
		var ids []string
		for _, v := range victims {
			c.kill(v)
			ids = append(ids, v.id+leaderNote(v, leader))
		}
		return "killed " + strings.Join(ids, ", "), func() {
			for _, v := range victims {
				c.restartLogged(v)
			}
		}, nil
	case faultRestart:
		err := c.restart(target)
		return "restarted " + target.id + leaderNote(target, leader), func() {}, err
	case faultRestartLeaderCut:
		if leader == nil || len(followers) == 0 {
			err := c.restart(target)
			return "restarted " + target.id + " (no leader to cut)", func() {}, err
		}
		c.cut([]*ipMember{leader}, followers[:1])
		err := c.restart(leader)
		return fmt.Sprintf("cut %s from %s, restarted %s (leader)", leader.id, followers[0].id, leader.id), c.healLinks, err
	case faultPartitionLeader:
		if leader == nil {
			leader = target
		}
		rest := c.others(leader)
		rng := rand.New(rand.NewSource(int64(f.Pick)))
		rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		minority := append([]*ipMember{leader}, rest[:(len(c.members)-1)/2-1]...)
		majority := rest[(len(c.members)-1)/2-1:]
		c.cut(minority, majority)
		return fmt.Sprintf("partitioned %s | %s", ids(minority), ids(majority)), c.healLinks, nil
	case faultPartitionFollower, faultIsolate:
		if f.Kind == faultPartitionFollower && len(followers) > 0 {
			target = pick(followers, f.Pick)
		}
		c.cut([]*ipMember{target}, c.others(target))
		return "isolated " + target.id + leaderNote(target, leader), c.healLinks, nil
	case faultPause, faultPauseLeader:
		if f.Kind == faultPauseLeader && leader != nil {
			target = leader
		}
		c.cut([]*ipMember{target}, c.others(target))
		c.hn.pause(target.addr)
		return "paused " + target.id + leaderNote(target, leader), c.healLinks, nil
	case faultQuorumLoss:
		for _, m := range c.members {
			c.cut([]*ipMember{m}, c.others(m))
		}
		return "cut every link", c.healLinks, nil
	case faultBridge:
		ms := slices.Clone(c.members)
		rng := rand.New(rand.NewSource(int64(f.Pick)))
		rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		half := (len(ms) - 1) / 2
		a, bridge, b := ms[:half], ms[half], ms[half+1:]
		c.cut(a, b)
		return fmt.Sprintf("bridge %s - %s - %s%s", ids(a), bridge.id, ids(b), leaderNote(bridge, leader)), c.healLinks, nil
	}
	return "", func() {}, fmt.Errorf("fault %s is not supported in-process", f.Kind)
}

func (c *ipCluster) restartLogged(m *ipMember) {
	if n, _ := m.current(); n != nil || m.isWedged() {
		return
	}
	if err := c.start(m); err != nil {
		c.t.Errorf("restarting %s: %v", m.id, err)
	}
}

func leaderNote(m, leader *ipMember) string {
	if m == leader {
		return " (leader)"
	}
	return ""
}

func ids(ms []*ipMember) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.id)
	}
	return "{" + strings.Join(out, ",") + "}"
}

// readState reads services and tasks through the leader, linearizably.
func (c *ipCluster) readState() ([]serviceView, []taskView, error) {
	l := c.leader(5 * time.Second)
	if l == nil {
		return nil, nil, errors.New("no leader")
	}
	n, _ := l.current()
	if n == nil {
		return nil, nil, errors.New("leader stopped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ReadBarrier(ctx); err != nil {
		return nil, nil, err
	}
	var svcs []serviceView
	var tasks []taskView
	err := n.Store().View(func(tx state.ReadTx) error {
		ss, err := tx.FindServices(state.All)
		if err != nil {
			return err
		}
		for _, s := range ss {
			svcs = append(svcs, serviceView{ID: s.ID, Name: s.Spec.Name, Replicas: s.Spec.Replicas()})
		}
		ts, err := tx.FindTasks(state.All)
		if err != nil {
			return err
		}
		for _, t := range ts {
			tasks = append(tasks, taskView{ID: t.ID, ServiceID: t.ServiceID, NodeID: t.NodeID, Slot: t.Slot,
				Desired: t.DesiredState, State: t.Status.State})
		}
		return nil
	})
	return svcs, tasks, err
}

// compareStores waits until every member's store is at the same index and
// compares their contents, byte for byte in snapshot form.
func (c *ipCluster) compareStores(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var idx []uint64
		var snaps [][]byte
		var stats []string
		var compared []*ipMember
		for _, m := range c.members {
			if m.isWedged() {
				continue
			}
			n, _ := m.current()
			if n == nil {
				return []string{m.id + " is not running"}
			}
			compared = append(compared, m)
			var b bytes.Buffer
			sn := n.Store().Snapshot()
			if _, err := sn.WriteTo(&b); err != nil {
				return []string{fmt.Sprintf("%s: snapshot: %v", m.id, err)}
			}
			idx = append(idx, sn.Index())
			snaps = append(snaps, b.Bytes())
			st := n.Stats()
			stats = append(stats, fmt.Sprintf("%s %s term %d last %d commit %d applied %d store %d",
				m.id, st.State, st.Term, st.LastIndex, st.CommitIndex, st.AppliedIndex, st.StoreIndex))
		}
		same := true
		for _, i := range idx {
			same = same && i == idx[0]
		}
		if same {
			var out []string
			for i := 1; i < len(snaps); i++ {
				if !bytes.Equal(snaps[i], snaps[0]) {
					out = append(out, fmt.Sprintf("stores of %s and %s differ at index %d: %s",
						compared[0].id, compared[i].id, idx[0], firstDiff(snaps[0], snaps[i])))
				}
			}
			return out
		}
		if time.Now().After(deadline) {
			return []string{"stores did not reach the same index within " + timeout.String() + ": " + strings.Join(stats, "; ")}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, truncate(x, 400), truncate(y, 400))
		}
	}
	return "same lines"
}

// simAgents play the worker nodes' agents, as the dispatcher would let
// them: they read the tasks assigned to their node through any live
// manager (after a read barrier) and report, through it, RUNNING for the
// tasks they start and SHUTDOWN for the tasks asked to stop. Each keeps
// the set of tasks it runs, its "containers".
type simAgents struct {
	c      *ipCluster
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]map[string]bool // node -> task IDs
}

func startAgents(c *ipCluster, seed int64) *simAgents {
	ctx, cancel := context.WithCancel(context.Background())
	a := &simAgents{c: c, cancel: cancel, running: map[string]map[string]bool{}}
	for i, id := range c.workers {
		a.running[id] = map[string]bool{}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.run(ctx, id, rand.New(rand.NewSource(seed+int64(i)*7919)))
		}()
	}
	c.agents = a
	return a
}

func (a *simAgents) stop() {
	a.cancel()
	a.wg.Wait()
}

func (a *simAgents) run(ctx context.Context, nodeID string, rng *rand.Rand) {
	for ctx.Err() == nil {
		if live := a.c.live(); len(live) > 0 {
			if n, _ := pick(live, rng.Int()).current(); n != nil {
				a.step(ctx, n, nodeID)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20*time.Millisecond + time.Duration(rng.Int63n(int64(30*time.Millisecond)))):
		}
	}
}

func (a *simAgents) step(ctx context.Context, n *raft.Node, nodeID string) {
	bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n.ReadBarrier(bctx) != nil {
		return
	}
	var tasks []*model.Task
	_ = n.Store().View(func(tx state.ReadTx) error {
		var err error
		tasks, err = tx.FindTasks(state.ByNodeID(nodeID))
		return err
	})
	now := time.Now().UTC()
	var reports []model.TaskStatusUpdate
	a.mu.Lock()
	running := a.running[nodeID]
	live := map[string]bool{}
	for _, t := range tasks {
		if t.Status.State < model.TaskStateAssigned || t.Status.State > model.TaskStateRunning {
			continue
		}
		if t.DesiredState > model.TaskStateRunning {
			delete(running, t.ID)
			reports = append(reports, model.TaskStatusUpdate{TaskID: t.ID,
				Status: model.TaskStatus{Timestamp: now, State: model.TaskStateShutdown, Message: "shutdown"}})
			continue
		}
		live[t.ID] = true
		if t.Status.State < model.TaskStateRunning {
			running[t.ID] = true
			reports = append(reports, model.TaskStatusUpdate{TaskID: t.ID,
				Status: model.TaskStatus{Timestamp: now, State: model.TaskStateRunning, Message: "started"}})
		}
	}
	// A container whose task is gone or ended is stopped, as the agent's
	// reconciliation does.
	for id := range running {
		if !live[id] {
			delete(running, id)
		}
	}
	a.mu.Unlock()
	if len(reports) == 0 {
		return
	}
	_, _ = n.Propose(bctx, state.NewCommand(state.Op{Type: state.OpTaskStatus, ID: nodeID, TaskStatuses: reports}))
}

// containerProblems compares what the agents run with the tasks the store
// says run on their nodes.
func (a *simAgents) containerProblems(tasks []taskView) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[string]map[string]bool{}
	for _, t := range tasks {
		if t.State == model.TaskStateRunning {
			if want[t.NodeID] == nil {
				want[t.NodeID] = map[string]bool{}
			}
			want[t.NodeID][t.ID] = true
		}
	}
	var out []string
	for node, running := range a.running {
		for id := range running {
			if !want[node][id] {
				out = append(out, fmt.Sprintf("%s runs a container for task %s, which is not running there", node, short(id)))
			}
		}
		for id := range want[node] {
			if !running[id] {
				out = append(out, fmt.Sprintf("task %s is RUNNING on %s, which runs no container for it", short(id), node))
			}
		}
	}
	slices.Sort(out)
	return out
}
