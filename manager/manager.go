package manager

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/allocator"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dashboard"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/eventlog"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/scheduler"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/transport"
)

// DEKFile holds the data key that encrypts this manager's Raft log and
// snapshots, in clear or wrapped with the cluster's unlock key (autolock).
const DEKFile = "raft-dek.pem"

// bootstrapFile holds the cluster object `manager init` made until it is
// committed to Raft. It contains the root CA key: mode 0600, deleted once
// committed.
const bootstrapFile = "bootstrap.json"

// Manager is one manager process: a Raft member with the swarm state, the
// cluster port, the control API, the leader-only components and a local
// agent.
type Manager struct {
	cfg   Config
	st    *node.Record
	stMu  sync.Mutex
	creds *node.Credentials
	log   *slog.Logger

	store   *state.Store
	raft    *raft.Node
	mux     *transport.Mux
	http    *http.Server
	orch    *orchestrator.Orchestrator
	sched   *scheduler.Scheduler
	alloc   *allocator.Allocator
	disp    *dispatcher.Dispatcher
	metrics *metrics
	// events is the swarm events of the store, for GET /events: made
	// with the store, so that the Raft log's replay fills its history.
	events *eventlog.Log
	// dashboard is set once Run serves it (Settings.UIAddr).
	dashboard *dashboard.Dashboard

	// unlockKey is the key made by init --autolock.
	unlockKey string

	// ready is closed once the manager serves.
	ready chan struct{}
}

// Init creates a new cluster in cfg.DataDir with this node as its only
// manager: a root CA, join tokens and the node's own certificate. Call Run
// to start it.
func Init(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := node.CheckFresh(cfg.DataDir, "manager"); err != nil {
		return nil, err
	}
	settings, err := cfg.Settings.WithDefaults(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var cluster *model.Cluster
	var root *ca.RootCA
	if cfg.RestoreFrom != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		if cluster, root, err = readBackup(cfg.RestoreFrom); err != nil {
			return nil, err
		}
		if err := copyFile(cfg.RestoreFrom, filepath.Join(cfg.DataDir, restoreFile)); err != nil {
			return nil, err
		}
	} else if cluster, root, err = newCluster(cfg.AutoLock, cfg.DefaultAddrPool, cfg.SubnetSize); err != nil {
		return nil, err
	}
	nodeID, clusterID := model.NewID(), cluster.ID
	key, err := ca.GenerateKey()
	if err != nil {
		return nil, err
	}
	csr, err := ca.NewCSR(key)
	if err != nil {
		return nil, err
	}
	certPEM, err := root.IssueNodeCertificate(csr, nodeID, model.RoleManager, clusterID, cluster.Spec.CAConfig.NodeCertExpiry)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := ca.SaveNodeCredentials(cfg.DataDir, certPEM, keyPEM, root.CertPEM()); err != nil {
		return nil, err
	}
	b, err := json.Marshal(cluster)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, bootstrapFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("manager: saving the new cluster: %w", err)
	}
	var unlock *encryption.UnlockKey
	if cluster.UnlockKey != "" {
		unlock, _ = encryption.ParseUnlockKey(cluster.UnlockKey)
	}
	if err := encryption.SaveDEK(filepath.Join(cfg.DataDir, DEKFile), encryption.GenerateDEK(), unlock); err != nil {
		return nil, err
	}
	st := &node.Record{NodeID: nodeID, ClusterID: clusterID, Role: model.RoleManager, Settings: settings, Bootstrap: true}
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	cfg.Settings = settings
	cfg.UnlockKey = unlock
	m, err := open(cfg, st)
	if err != nil {
		return nil, err
	}
	m.unlockKey = cluster.UnlockKey
	return m, nil
}

// newCluster makes the cluster object of a new cluster: a root CA, join
// tokens, default settings, and an unlock key with autolock.
func newCluster(autolock bool, addrPool []string, subnetSize uint32) (*model.Cluster, *ca.RootCA, error) {
	root, err := ca.CreateRootCA()
	if err != nil {
		return nil, nil, err
	}
	workerTok, err := ca.GenerateJoinToken(root)
	if err != nil {
		return nil, nil, err
	}
	managerTok, err := ca.GenerateJoinToken(root)
	if err != nil {
		return nil, nil, err
	}
	rootKey, err := root.KeyPEM()
	if err != nil {
		return nil, nil, err
	}
	spec := model.DefaultClusterSpec()
	spec.Encryption.AutoLockManagers = autolock
	if len(addrPool) > 0 {
		spec.DefaultAddrPool = slices.Clone(addrPool)
	}
	if subnetSize != 0 {
		spec.SubnetSize = subnetSize
	}
	c := &model.Cluster{
		ID:   model.NewID(),
		Spec: spec,
		RootCA: model.RootCA{
			CACert:       root.CertPEM(),
			CAKey:        rootKey,
			CACertDigest: root.DigestHex(),
			JoinTokens:   model.JoinTokens{Worker: workerTok.String(), Manager: managerTok.String()},
		},
	}
	if autolock {
		c.UnlockKey = encryption.GenerateUnlockKey().String()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	c.GossipKeys = []model.GossipKey{{Key: key, CreatedAt: time.Now().UTC()}}
	return c, root, nil
}

// UnlockKey returns the unlock key `manager init --autolock` made, to show
// the user once; empty otherwise.
func (m *Manager) UnlockKey() string { return m.unlockKey }

// Join joins the cluster of the manager at remote as a new manager, with
// a manager join token. Call Run to start it; it becomes a Raft voter then.
func Join(ctx context.Context, cfg Config, token, remote string) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := node.CheckFresh(cfg.DataDir, "manager"); err != nil {
		return nil, err
	}
	settings, err := cfg.Settings.WithDefaults(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	res, err := ca.JoinWithRetry(ctx, remote, ca.JoinRequest{
		Token:         token,
		Hostname:      settings.Hostname,
		Role:          model.RoleManager,
		AdvertiseAddr: settings.AdvertiseAddr,
		GossipAddr:    settings.GossipAddr,
		Labels:        settings.Labels,
	}, cfg.JoinRetry())
	if err != nil {
		return nil, err
	}
	if err := ca.SaveNodeCredentials(cfg.DataDir, []byte(res.Certificate), res.KeyPEM, []byte(res.RootCA)); err != nil {
		return nil, err
	}
	if err := encryption.SaveDEK(filepath.Join(cfg.DataDir, DEKFile), encryption.GenerateDEK(), nil); err != nil {
		return nil, err
	}
	st := &node.Record{
		NodeID:      res.NodeID,
		ClusterID:   res.ClusterID,
		Role:        model.RoleManager,
		Settings:    settings,
		Managers:    managerAddrs(res.Managers, remote),
		JoinRaftVia: remote,
	}
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	cfg.Settings = settings
	return open(cfg, st)
}

func managerAddrs(ms []ca.ManagerAddr, extra ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range extra {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, m := range ms {
		if !seen[m.Addr] {
			seen[m.Addr] = true
			out = append(out, m.Addr)
		}
	}
	return out
}

// Open reopens the manager saved in cfg.DataDir (`manager run`). Non-empty
// settings in cfg override the remembered ones and are remembered.
func Open(cfg Config) (*Manager, error) {
	st, err := node.Load(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if st.Role != model.RoleManager {
		return nil, fmt.Errorf("data dir %s holds a %s node: start it with `worker run`", cfg.DataDir, st.Role)
	}
	st.Settings = st.Settings.Overlay(cfg.Settings)
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	cfg.Settings = st.Settings
	return open(cfg, st)
}

func open(cfg Config, st *node.Record) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("node", st.NodeID)
	creds := cfg.Credentials
	if creds == nil {
		var err error
		if creds, err = node.LoadCredentials(cfg.DataDir, log); err != nil {
			return nil, err
		}
	}
	if id := creds.Identity(); id.NodeID != st.NodeID || id.ClusterID != st.ClusterID {
		return nil, fmt.Errorf("manager: the certificate in %s is for node %s of cluster %s, not node %s of cluster %s",
			cfg.DataDir, id.NodeID, id.ClusterID, st.NodeID, st.ClusterID)
	}
	dek, err := encryption.LoadDEK(filepath.Join(cfg.DataDir, DEKFile), cfg.UnlockKey)
	if errors.Is(err, encryption.ErrLocked) {
		return nil, fmt.Errorf("manager %s is locked (autolock is on): start it with `manager unlock --data-dir %s` and the unlock key (swarmctl cluster unlock-key)", st.NodeID, cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("manager: loading the Raft data key: %w", err)
	}
	cfg.Raft.DataKey = dek
	m := &Manager{cfg: cfg, st: st, creds: creds, log: log, store: state.NewStore(), ready: make(chan struct{})}
	ecfg := eventlog.DefaultConfig()
	ecfg.Logger = log
	m.events = eventlog.New(m.store, ecfg)
	m.metrics = newMetrics(func() *raft.Node { return m.raft })
	return m, nil
}

// ErrDemoted is returned by Run when this node was demoted to a worker and
// its manager components stopped. The node's daemon goes on as a worker.
var ErrDemoted = errors.New("manager: this node was demoted to a worker")

// Credentials returns the node's credentials.
func (m *Manager) Credentials() *node.Credentials { return m.creds }

// Settings returns the node's settings.
func (m *Manager) Settings() node.Settings { return m.st.Settings }

// NodeID returns this manager's node ID.
func (m *Manager) NodeID() string { return m.st.NodeID }

// Store returns the manager's local store.
func (m *Manager) Store() *state.Store { return m.store }

// Raft returns the manager's Raft member; nil before Run.
func (m *Manager) Raft() *raft.Node { return m.raft }

// Ready is closed once the manager serves its ports.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Addr is the manager's advertised cluster address.
func (m *Manager) Addr() string { return m.st.Settings.AdvertiseAddr }

func (m *Manager) raftDir() string { return filepath.Join(m.cfg.DataDir, "raft") }

// Run serves until ctx ends, then shuts down cleanly: a leader hands its
// leadership over first.
func (m *Manager) Run(ctx context.Context) (err error) {
	s := m.st.Settings
	ln, err := net.Listen("tcp", s.ListenAddr)
	if err != nil {
		return fmt.Errorf("manager: listening on the cluster port: %w", err)
	}
	// One cleanup for every way out, a failed start included: shutdown
	// stops what was started, in order, and skips what was not. Until the
	// mux owns the listener, the listener is closed here.
	defer func() {
		if m.mux == nil {
			ln.Close()
		}
		if serr := m.shutdown(); serr != nil && err == nil {
			err = serr
		}
	}()
	serverTLS, err := m.creds.ServerTLS(ca.WithRevocation(m.isRevoked), ca.WithLogger(m.log))
	if err != nil {
		return err
	}
	m.mux = transport.New(ln, transport.Config{TLS: serverTLS, AuthorizeRaft: m.authorizeRaft, Logger: m.log})
	advertise, err := net.ResolveTCPAddr("tcp", s.AdvertiseAddr)
	if err != nil {
		return fmt.Errorf("manager: advertise address %q: %w", s.AdvertiseAddr, err)
	}
	trans := hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  m.mux.RaftLayer(advertise, m.creds.ClientTLS),
		MaxPool: 3,
		Timeout: 10 * time.Second,
		// No pipelined replication: with it, hashicorp/raft v1.7.3 can
		// deadlock a leader's shutdown (a replication goroutine parked
		// sending to a pipeline whose reader exited after a peer answered
		// with a newer term; grafana/pyroscope#5518). The robustness suite
		// hit it: a leader cut off by a partition, then sent SIGTERM, never
		// stopped. Each AppendEntries waits for its answer instead; batching
		// (MaxAppendEntries, group commit) keeps the throughput.
		MaxRPCsInFlight: 1,
	})
	fresh := !raft.HasState(m.raftDir())
	rcfg := m.cfg.Raft
	rcfg.NodeID, rcfg.Addr, rcfg.DataDir, rcfg.Logger = m.st.NodeID, s.AdvertiseAddr, m.raftDir(), m.log
	clientTLS, err := m.creds.ClientTLS()
	if err != nil {
		return err
	}
	m.raft, err = raft.New(rcfg, m.store, trans, &raft.HTTPForwarder{Client: newHTTPClient(clientTLS)})
	if err != nil {
		return m.damaged(err)
	}
	m.registerLeaderHooks()

	m.http = transport.NewHTTPServer(m.clusterHandler(), slog.NewLogLogger(m.log.Handler(), slog.LevelDebug))
	go func() {
		if err := m.mux.Serve(); err != nil {
			m.log.Error("cluster port stopped", "err", err)
		}
	}()
	go func() { _ = m.http.Serve(m.mux.HTTPListener()) }()

	if m.st.Bootstrap && fresh {
		if err := m.raft.Bootstrap(); err != nil {
			return fmt.Errorf("manager: bootstrapping Raft: %w", err)
		}
	}
	go m.keepDEKWrapped(ctx)
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		if err := m.events.Run(apiCtx); err != nil {
			m.log.Error("event log stopped", "err", err)
		}
	}()
	defer func() { stopAPI(); <-eventsDone }()
	apiClosed, err := m.serveAPI(apiCtx)
	if err != nil {
		return err
	}
	// Run returns with the API socket closed, its path free for the
	// worker's API once a demoted node goes on as a worker.
	defer func() { stopAPI(); apiClosed() }()
	if _, err := m.startDashboard(apiCtx); err != nil {
		m.shutdown()
		return err
	}
	var wg sync.WaitGroup
	if m.st.JoinRaftVia != "" {
		wg.Add(1)
		go func() { defer wg.Done(); m.joinRaft(ctx) }()
	}
	m.log.Info("manager started", "cluster_addr", s.AdvertiseAddr, "listen", s.ListenAddr)
	close(m.ready)

	demoted := m.watchDemotion(ctx)
	var runErr error
	select {
	case <-ctx.Done():
	case <-demoted:
		m.log.Info("this node was demoted: stopping its manager components")
		runErr = ErrDemoted
	}
	wg.Wait()
	stopAPI()
	return runErr
}

// watchDemotion returns a channel closed once the store says this node is
// a worker and it is no longer a Raft voter.
func (m *Manager) watchDemotion(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{})
	self := func(e state.Event) bool { return e.Object.Kind() == model.KindNode && e.Object.GetID() == m.st.NodeID }
	go func() {
		w := m.store.Watch(state.WithFilter(self))
		defer func() { w.Close() }()
		for {
			var n *model.Node
			_ = m.store.View(func(tx state.ReadTx) error { n = tx.GetNode(m.st.NodeID); return nil })
			if n != nil && n.Role == model.RoleWorker {
				close(ch)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-w.Ready():
				if _, err := w.Drain(); err != nil {
					w.Close()
					w = m.store.Watch(state.WithFilter(self))
				}
			}
		}
	}()
	return ch
}

func (m *Manager) registerLeaderHooks() {
	ocfg := orchestrator.DefaultConfig()
	ocfg.Logger = m.log
	m.orch = orchestrator.New(m.store, m.raft, ocfg)
	scfg := scheduler.DefaultConfig()
	scfg.Logger = m.log
	m.sched = scheduler.New(m.store, m.raft, scfg)
	m.raft.OnLeader(func(ctx context.Context) {
		if err := m.sched.Run(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("scheduler stopped", "err", err)
		}
	})
	acfg := allocator.DefaultConfig()
	acfg.Logger = m.log
	m.alloc = allocator.New(m.store, m.raft, acfg)
	m.raft.OnLeader(func(ctx context.Context) {
		if err := m.alloc.Run(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("allocator stopped", "err", err)
		}
	})
	dcfg := dispatcher.DefaultConfig()
	dcfg.Identify = dispatcher.PeerIdentity
	dcfg.Leader = m.raft.Leader
	dcfg.Logger = m.log
	dcfg.Alive = m.cfg.Alive
	dcfg.Suspected = m.cfg.Suspected
	if tlsCfg, err := m.creds.ClientTLS(); err == nil {
		dcfg.ManagerClient = newHTTPClient(tlsCfg)
	}
	m.disp = dispatcher.New(m.store, m.raft, dcfg)
	m.raft.OnLeader(func(ctx context.Context) {
		if err := m.disp.Run(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("dispatcher stopped", "err", err)
		}
	})
	m.raft.OnLeader(m.bootstrapCluster)
	m.raft.OnLeader(m.rotateGossipKeys)
	m.raft.OnLeader((&roleManager{m: m}).run)
	m.raft.OnLeader(func(ctx context.Context) {
		if err := m.orch.Run(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("orchestrator stopped", "err", err)
		}
	})
}

// bootstrapCluster commits the cluster object and this node, once, on the
// first leadership after `manager init`.
func (m *Manager) bootstrapCluster(ctx context.Context) {
	m.stMu.Lock()
	pending := m.st.Bootstrap
	m.stMu.Unlock()
	if !pending {
		return
	}
	path := filepath.Join(m.cfg.DataDir, bootstrapFile)
	b, err := os.ReadFile(path)
	if err != nil {
		m.log.Error("reading the new cluster", "err", err)
		return
	}
	var c model.Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		m.log.Error("reading the new cluster", "err", err)
		return
	}
	nc := m.creds.Current()
	s := m.st.Settings
	self := &model.Node{
		ID:   m.st.NodeID,
		Role: model.RoleManager,
		Spec: model.NodeSpec{DesiredRole: model.RoleManager, Availability: model.AvailabilityActive},
		Description: model.NodeDescription{
			Hostname: s.Hostname,
			Engine:   model.Engine{Labels: s.Labels},
		},
		Status:        model.NodeStatus{State: model.NodeStateUnknown},
		ManagerStatus: &model.ManagerStatus{Addr: s.AdvertiseAddr, APIAddr: s.APIAddr, GossipAddr: s.GossipAddr},
		Certificate: model.NodeCertificate{
			Role: model.RoleManager, Serial: nc.Leaf.SerialNumber.Text(16),
			NotAfter: nc.Leaf.NotAfter.UTC(), IssuedAt: nc.Leaf.NotBefore.UTC(),
		},
	}
	for ctx.Err() == nil {
		var exists bool
		_ = m.store.View(func(tx state.ReadTx) error { exists = tx.Cluster() != nil; return nil })
		if !exists {
			var res state.Results
			var err error
			if _, serr := os.Stat(filepath.Join(m.cfg.DataDir, restoreFile)); serr == nil {
				err = m.importBackup(ctx, self)
			} else {
				res, err = m.raft.Propose(ctx, state.NewCommand(
					state.Op{Type: state.OpCreateCluster, Cluster: &c},
					state.Op{Type: state.OpCreateNode, Node: self},
					// Docker's ingress network, made at init.
					state.Op{Type: state.OpCreateNetwork, Network: allocator.IngressNetwork(model.NewID())},
				))
			}
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				m.log.Warn("creating the cluster; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			m.log.Info("cluster created", "cluster", c.ID)
		}
		m.stMu.Lock()
		m.st.Bootstrap = false
		err := m.st.Save(m.cfg.DataDir)
		m.stMu.Unlock()
		if err != nil {
			m.log.Error("saving the node record", "err", err)
			return
		}
		_ = os.Remove(path)
		_ = os.Remove(filepath.Join(m.cfg.DataDir, restoreFile))
		return
	}
}

// SetGossipHooks sets Config.Alive and Config.OnGossip of a manager made
// by Init, Join or Open, before Run.
func (m *Manager) SetGossipHooks(alive func(nodeID string) bool, onGossip func(keys [][]byte, peers []string)) {
	m.cfg.Alive, m.cfg.OnGossip = alive, onGossip
}

// SetSuspected sets Config.Suspected of a manager made by Init, Join or
// Open, before Run.
func (m *Manager) SetSuspected(suspected func(nodeID string) bool) { m.cfg.Suspected = suspected }

// IsRemoved tells whether a node was removed from the cluster.
func (m *Manager) IsRemoved(nodeID string) bool { return m.isRevoked(nodeID) }

// ReportNodeFailed is gossip's report that a node failed. On the leader,
// the dispatcher marks it down at once if its heartbeats agree; elsewhere
// it changes nothing (every manager's gossip sees the failure).
func (m *Manager) ReportNodeFailed(nodeID string) {
	if m.disp == nil || m.raft == nil || !m.raft.IsLeader() {
		return
	}
	go func() {
		down, err := m.disp.ConfirmDown(nodeID, "node failed: gossip and heartbeats agree")
		switch {
		case err != nil:
			m.log.Debug("gossip failure report", "node", nodeID, "err", err)
		case down:
			m.log.Info("gossip reported a node failed; its heartbeats agree", "node", nodeID)
		default:
			m.log.Warn("gossip reported a node failed but it still sends heartbeats; it stays up", "node", nodeID)
		}
	}()
}

// isRevoked tells whether a node was removed from the cluster.
func (m *Manager) isRevoked(nodeID string) bool {
	var revoked bool
	_ = m.store.View(func(tx state.ReadTx) error {
		if c := tx.Cluster(); c != nil {
			for _, r := range c.RemovedNodes {
				if r.ID == nodeID {
					revoked = true
				}
			}
		}
		return nil
	})
	return revoked
}

// authorizeRaft admits Raft connections from manager certificates only.
func (m *Manager) authorizeRaft(cs tls.ConnectionState) error {
	id, err := ca.PeerIdentity(cs)
	if err != nil {
		return err
	}
	if id.Role != model.RoleManager {
		return fmt.Errorf("node %s holds a %s certificate: only managers take part in Raft", id.NodeID, id.Role)
	}
	return m.checkStillManager(id.NodeID)
}

// checkStillManager refuses a node the store knows as a worker: a demoted
// manager keeps its manager certificate until it renews it. A node the
// store does not know yet is let through: a lagging manager must accept
// a leader that was added after its last applied entry.
func (m *Manager) checkStillManager(nodeID string) error {
	var n *model.Node
	_ = m.store.View(func(tx state.ReadTx) error { n = tx.GetNode(nodeID); return nil })
	if n != nil && n.Role != model.RoleManager {
		return fmt.Errorf("node %s is a %s now: its manager certificate is no longer accepted", nodeID, n.Role)
	}
	return nil
}

func newHTTPClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
	}}
}

func (m *Manager) shutdown() error {
	m.log.Info("shutting down")
	var errs []error
	// The leader's components first, while the store and Raft they use
	// are still up; each Stop waits for its Run to return.
	if m.dashboard != nil {
		m.dashboard.Stop()
	}
	if m.disp != nil {
		m.disp.Stop()
	}
	if m.orch != nil {
		m.orch.Stop()
	}
	if m.sched != nil {
		m.sched.Stop()
	}
	if m.raft != nil {
		if err := m.raft.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = m.http.Shutdown(ctx)
		cancel()
		_ = m.http.Close()
	}
	if m.mux != nil {
		_ = m.mux.Close()
	}
	m.log.Info("stopped")
	return errors.Join(errs...)
}

// damaged adds to a raft.ErrDamaged what the operator can do: the node
// refuses to start, since a manager that lost committed entries could
// elect a leader that lacks them. Other errors are returned as they are.
func (m *Manager) damaged(err error) error {
	if !errors.Is(err, raft.ErrDamaged) {
		return err
	}
	return fmt.Errorf(`manager %s refuses to start: %w
Its Raft state cannot be trusted: it could lose or undo writes the cluster acknowledged.
Keep %s aside for inspection, then recover (see "Recovering from a damaged Raft log" in deploy/systemd/README.md):
  - other managers still have a quorum: on one of them, swarmctl node demote %s, then swarmctl node rm --force %s;
    empty this data dir and join this host again with manager join and a manager token; it catches up from the leader;
  - no healthy quorum: manager init --force-new-cluster --data-dir DIR on the healthiest surviving manager,
    or rebuild the cluster from a backup: manager init --restore FILE (made with swarmctl cluster backup FILE)`,
		m.st.NodeID, err, filepath.Join(m.cfg.DataDir, "raft"), m.st.NodeID, m.st.NodeID)
}

// ForceNewCluster makes the manager in cfg.DataDir the only voter of its
// Raft group, keeping the whole state, and opens it. It recovers a cluster
// that lost its quorum for good, from one surviving manager, like
// `docker swarm init --force-new-cluster`. The other managers stay in the
// node list, down, until they are demoted or removed; they must be wiped
// and joined again.
func ForceNewCluster(cfg Config) (*Manager, error) {
	st, err := node.Load(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if st.Role != model.RoleManager {
		return nil, fmt.Errorf("data dir %s holds a %s node, not a manager", cfg.DataDir, st.Role)
	}
	m := &Manager{cfg: cfg, st: st}
	rcfg := cfg.Raft
	rcfg.NodeID, rcfg.Addr, rcfg.DataDir = st.NodeID, st.Settings.Overlay(cfg.Settings).AdvertiseAddr, m.raftDir()
	dek, err := encryption.LoadDEK(filepath.Join(cfg.DataDir, DEKFile), cfg.UnlockKey)
	if err != nil {
		return nil, fmt.Errorf("manager: loading the Raft data key: %w", err)
	}
	rcfg.DataKey = dek
	if cfg.Logger != nil {
		rcfg.Logger = cfg.Logger
	}
	_, trans := hraft.NewInmemTransport(hraft.ServerAddress(rcfg.Addr))
	if err := raft.ForceNewCluster(rcfg, trans); err != nil {
		return nil, m.damaged(err)
	}
	st.JoinRaftVia = ""
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	return Open(cfg)
}
