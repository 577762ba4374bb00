// Package daemon runs one node of the cluster: its agent always (unless a
// manager is started with NoAgent), its certificate renewal, and its
// manager components while its role is manager. It follows role changes:
// a promoted worker renews into a manager certificate and starts its
// manager components, which join Raft; a demoted manager stops them, wipes
// its Raft state and goes on as a worker. Both binaries, cmd/manager and
// cmd/worker, are thin front ends to it: the role a node starts with is
// only its first.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent"
	"github.com/shoal-dev/shoal/agent/exec/dockerexec"
	"github.com/shoal-dev/shoal/agent/netdns"
	"github.com/shoal-dev/shoal/agent/netlb"
	"github.com/shoal-dev/shoal/agent/netplane"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/manager"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
)

// Daemon is one running node.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	creds *node.Credentials
	// lock is the data dir's lock, taken before anything else and held
	// until Run returns (or Close).
	lock *node.DataDirLock

	mu  sync.Mutex
	st  *node.Record
	mgr *manager.Manager

	agent *agent.Agent
	// engine is the Docker engine the agent runs tasks on.
	engine   *client.Client
	gossip   *gossipRunner
	promote  chan struct{}
	demote   chan struct{}
	renewNow chan struct{}
}

func newDaemon(cfg Config, st *node.Record, creds *node.Credentials, mgr *manager.Manager) *Daemon {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Manager.Credentials = creds
	d := &Daemon{
		cfg:      cfg,
		log:      cfg.Logger.With("node", st.NodeID),
		creds:    creds,
		st:       st,
		mgr:      mgr,
		promote:  make(chan struct{}, 1),
		demote:   make(chan struct{}, 1),
		renewNow: make(chan struct{}, 1),
	}
	d.gossip = &gossipRunner{d: d}
	d.cfg.Manager.Alive = d.gossip.alive
	d.cfg.Manager.Suspected = d.gossip.suspected
	d.cfg.Manager.OnGossip = func(keys [][]byte, peers []string) { d.gossip.update(keys, peers) }
	if mgr != nil {
		mgr.SetGossipHooks(d.cfg.Manager.Alive, d.cfg.Manager.OnGossip)
		mgr.SetSuspected(d.cfg.Manager.Suspected)
	}
	return d
}

// locked takes the data dir's lock, then runs open; the lock goes with
// the daemon open returns, and is released if it fails. Every way to
// start a node goes through it, so that nothing of a second process on
// the same data dir (agent, gossip, Raft) ever starts.
func locked(cfg Config, open func() (*Daemon, error)) (*Daemon, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("--data-dir is required")
	}
	lock, err := node.LockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d, err := open()
	if err != nil {
		_ = lock.Release()
		return nil, err
	}
	d.lock = lock
	return d, nil
}

// InitManager creates a new cluster with this node as its first manager.
func InitManager(cfg Config) (*Daemon, error) {
	return locked(cfg, func() (*Daemon, error) {
		m, err := manager.Init(cfg.managerConfig())
		if err != nil {
			return nil, err
		}
		return fromManager(cfg, m)
	})
}

// JoinManager joins a cluster as a manager.
func JoinManager(ctx context.Context, cfg Config, token, remote string) (*Daemon, error) {
	return locked(cfg, func() (*Daemon, error) {
		m, err := manager.Join(ctx, cfg.managerConfig(), token, remote)
		if err != nil {
			return nil, err
		}
		return fromManager(cfg, m)
	})
}

// ForceNewCluster makes the manager in cfg.DataDir the only manager of its
// cluster; see manager.ForceNewCluster.
func ForceNewCluster(cfg Config) (*Daemon, error) {
	return locked(cfg, func() (*Daemon, error) {
		m, err := manager.ForceNewCluster(cfg.managerConfig())
		if err != nil {
			return nil, err
		}
		return fromManager(cfg, m)
	})
}

func fromManager(cfg Config, m *manager.Manager) (*Daemon, error) {
	st, err := node.Load(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.Settings = m.Settings()
	return newDaemon(cfg, st, m.Credentials(), m), nil
}

// JoinWorker joins a cluster as a worker with a worker join token.
func JoinWorker(ctx context.Context, cfg Config, token, remote string) (*Daemon, error) {
	return locked(cfg, func() (*Daemon, error) { return joinWorker(ctx, cfg, token, remote) })
}

func joinWorker(ctx context.Context, cfg Config, token, remote string) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := node.CheckFresh(cfg.DataDir, "worker"); err != nil {
		return nil, err
	}
	settings, err := cfg.Settings.WithDefaults(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	mcfg := cfg.managerConfig()
	res, err := ca.JoinWithRetry(ctx, remote, ca.JoinRequest{
		Token:      token,
		Hostname:   settings.Hostname,
		Role:       model.RoleWorker,
		GossipAddr: settings.GossipAddr,
		Labels:     settings.Labels,
	}, mcfg.JoinRetry())
	if err != nil {
		return nil, err
	}
	if err := ca.SaveNodeCredentials(cfg.DataDir, []byte(res.Certificate), res.KeyPEM, []byte(res.RootCA)); err != nil {
		return nil, err
	}
	managers := []string{remote}
	for _, m := range res.Managers {
		if !slices.Contains(managers, m.Addr) {
			managers = append(managers, m.Addr)
		}
	}
	st := &node.Record{NodeID: res.NodeID, ClusterID: res.ClusterID, Role: model.RoleWorker, Settings: settings, Managers: managers}
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	cfg.Settings = settings
	return open(cfg, st)
}

// Open reopens the node saved in cfg.DataDir (`run`), in the role it had.
// Non-empty settings in cfg override the remembered ones.
func Open(cfg Config) (*Daemon, error) {
	return locked(cfg, func() (*Daemon, error) {
		st, err := node.Load(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return open(cfg, st)
	})
}

func open(cfg Config, st *node.Record) (*Daemon, error) {
	creds, err := node.LoadCredentials(cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if leaf := creds.Current().Leaf; time.Now().After(leaf.NotAfter) {
		if cfg.RejoinToken == "" {
			return nil, fmt.Errorf("the certificate of node %s expired on %s while it was offline: restart it with --token <join token> to renew it",
				st.NodeID, leaf.NotAfter.Format(time.RFC3339))
		}
		if err := rejoin(cfg, st); err != nil {
			return nil, err
		}
		if creds, err = node.LoadCredentials(cfg.DataDir, cfg.Logger); err != nil {
			return nil, err
		}
	}
	if st.Role == model.RoleManager {
		cfg.Manager.Credentials = creds
		m, err := manager.Open(cfg.managerConfig())
		if err != nil {
			return nil, err
		}
		st, err = node.Load(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		cfg.Settings = m.Settings()
		return newDaemon(cfg, st, creds, m), nil
	}
	st.Settings = st.Settings.Overlay(cfg.Settings)
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	cfg.Settings = st.Settings
	return newDaemon(cfg, st, creds, nil), nil
}

// NodeID returns the node's ID.
func (d *Daemon) NodeID() string { return d.st.NodeID }

// UnlockKey returns the unlock key made by an init with autolock, to show
// the user once; empty otherwise.
func (d *Daemon) UnlockKey() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mgr == nil {
		return ""
	}
	return d.mgr.UnlockKey()
}

// Role returns the node's current role.
func (d *Daemon) Role() model.NodeRole {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Role
}

// managers lists the manager addresses the node knows, its own first if
// it is a manager.
func (d *Daemon) managers() []string {
	d.mu.Lock()
	var out []string
	if d.st.Role == model.RoleManager {
		out = append(out, d.st.Settings.AdvertiseAddr)
	}
	for _, a := range d.st.Managers {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	d.mu.Unlock()
	if d.agent != nil {
		for _, a := range d.agent.Managers() {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Close releases the data dir's lock of a daemon that is not run. Run
// releases it when it returns.
func (d *Daemon) Close() error { return d.lock.Release() }

// Run runs the node until ctx ends. Running containers are left alone.
// The data dir's lock is released when it returns.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.creds.RunRenewal(ctx, d.managers, d.renewNow)
	}()
	agentErr := make(chan error, 1)
	if !d.cfg.NoAgent {
		a, plane, dnsSrv, lb, err := d.newAgent()
		if err != nil {
			return err
		}
		d.agent = a
		wg.Add(4)
		go func() {
			defer wg.Done()
			lb.Run(ctx) // the rules stay with the running tasks
		}()
		go func() {
			defer wg.Done()
			plane.Run(ctx) // removes what no task uses any more when ctx ends
		}()
		go func() {
			defer wg.Done()
			dnsSrv.Run(ctx)
		}()
		go func() {
			defer wg.Done()
			agentErr <- a.Run(ctx)
		}()
	}
	err := d.roleLoop(ctx, agentErr)
	d.gossip.stop()
	cancel()
	wg.Wait()
	return err
}

// RunDir holds what a node keeps only while it runs: the engine's
// data-plane locks and, per node, the tmpfs of each task's secrets and
// configs. /run is a tmpfs: nothing there outlives a reboot.
const RunDir = "/run/shoal"

// newAgent returns the node's agent, the overlay plane its executor
// attaches tasks through, the DNS server of its tasks' networks and its
// load balancer (VIPs, routing mesh); the caller runs all four.
func (d *Daemon) newAgent() (*agent.Agent, *netplane.Plane, *netdns.Server, *netlb.Balancer, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if d.cfg.DockerHost != "" {
		opts = append(opts, client.WithHost(d.cfg.DockerHost))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("docker client: %w", err)
	}
	// DOCKER_HOST set to a node's API socket (to use the docker CLI
	// against the cluster) would make the agent run tasks on the cluster
	// instead of on an engine. Refuse that rather than fail obscurely.
	vctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	v, verr := cli.ServerVersion(vctx)
	cancel()
	if verr == nil && strings.HasPrefix(v.Platform.Name, "shoal") {
		return nil, nil, nil, nil, fmt.Errorf("the Docker endpoint %s is a shoal node's API, not a Docker Engine: unset DOCKER_HOST or pass --docker-host", cli.DaemonHost())
	}
	d.engine = cli
	s := d.cfg.Settings
	pcfg := netplane.DefaultConfig()
	pcfg.Docker = cli
	pcfg.NodeID = d.st.NodeID
	pcfg.Logger = d.cfg.Logger
	plane, err := netplane.New(pcfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	dcfg := netdns.DefaultConfig()
	dcfg.Logger = d.cfg.Logger
	dnsSrv, err := netdns.New(dcfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	lcfg := netlb.DefaultConfig()
	lcfg.Bridge = netplane.BridgeName
	lcfg.Active = plane.Owns
	lcfg.Logger = d.cfg.Logger
	lb, err := netlb.New(lcfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	exe, err := dockerexec.New(cli, d.st.NodeID, dockerexec.WithHostname(s.Hostname), dockerexec.WithLogger(d.cfg.Logger),
		dockerexec.WithNetworkPlane(plane), dockerexec.WithClusterDNS(), dockerexec.WithViewWatcher(dnsSrv.SetView), dockerexec.WithViewWatcher(lb.SetView), dockerexec.WithRunDir(filepath.Join(RunDir, "nodes", d.st.NodeID)))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	acfg := agent.DefaultConfig()
	acfg.DataDir = d.cfg.DataDir
	acfg.Managers = d.managers()
	acfg.TLS = d.creds.ClientTLS
	acfg.NodeID = d.st.NodeID
	acfg.Executor = exe
	acfg.Hostname = s.Hostname
	acfg.Labels = s.Labels
	acfg.Logger = d.cfg.Logger // the agent adds the node ID
	acfg.OnNode = d.onNode
	acfg.OnGossip = func(keys [][]byte) { d.gossip.update(keys, nil) }
	acfg.OnManagers = func(ms []protocol.Manager) {
		peers := make([]string, 0, len(ms))
		for _, m := range ms {
			if m.GossipAddr != "" {
				peers = append(peers, m.GossipAddr)
			}
		}
		d.gossip.update(nil, peers)
	}
	a, err := agent.New(acfg)
	return a, plane, dnsSrv, lb, err
}

// onNode follows what the cluster says about this node's role.
func (d *Daemon) onNode(info protocol.NodeInfo) {
	role := d.Role()
	switch {
	case info.Role == model.RoleManager && role == model.RoleWorker:
		signal(d.promote)
	case info.Role == model.RoleWorker && role == model.RoleManager:
		signal(d.demote)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// roleLoop runs the manager components while the role is manager, and
// the worker's API socket while it is worker.
func (d *Daemon) roleLoop(ctx context.Context, agentErr <-chan error) error {
	for {
		d.gossip.roleChanged()
		if d.Role() == model.RoleManager {
			err := d.runManager(ctx, agentErr)
			if !errors.Is(err, manager.ErrDemoted) {
				return err
			}
			if err := d.becomeWorker(ctx); err != nil {
				return err
			}
			continue
		}
		if err := d.runWorker(ctx, agentErr); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// runWorker serves the worker's API socket until ctx ends (nil), the
// agent fails (its error) or a promotion is carried out (nil, the role is
// then manager). The socket is closed when it returns, before a manager
// serves its own on the same path.
func (d *Daemon) runWorker(ctx context.Context, agentErr <-chan error) error {
	stopAPI, err := d.serveWorkerAPI(ctx)
	if err != nil {
		return err
	}
	defer stopAPI()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-agentErr:
			return err
		case <-d.promote:
			err := d.becomeManager(ctx)
			if err == nil || ctx.Err() != nil {
				return nil
			}
			d.log.Warn("promotion pending", "err", err)
			time.AfterFunc(2*time.Second, func() { signal(d.promote) })
		}
	}
}

func (d *Daemon) runManager(ctx context.Context, agentErr <-chan error) error {
	d.mu.Lock()
	m := d.mgr
	d.mu.Unlock()
	if m == nil {
		var err error
		if m, err = manager.Open(d.cfg.managerConfig()); err != nil {
			return err
		}
		d.mu.Lock()
		d.mgr = m
		d.mu.Unlock()
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()
	for {
		select {
		case err := <-done:
			d.mu.Lock()
			d.mgr = nil
			d.mu.Unlock()
			if ctx.Err() != nil && err == nil {
				return nil
			}
			return err
		case <-d.demote:
			// The agent's session says we are a worker; the store path
			// may not tell us if we were cut off from the log first.
			d.log.Info("demoted: stopping the manager components")
			cancel()
			<-done
			d.mu.Lock()
			d.mgr = nil
			d.mu.Unlock()
			return manager.ErrDemoted
		case err := <-agentErr:
			cancel()
			<-done
			return err
		}
	}
}

// becomeWorker finishes a demotion: a worker certificate, no Raft state.
func (d *Daemon) becomeWorker(ctx context.Context) error {
	d.log.Info("continuing as a worker")
	for ctx.Err() == nil {
		if err := d.creds.Renew(ctx, d.managers()); err != nil {
			d.log.Warn("renewing into a worker certificate", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if d.creds.Identity().Role == model.RoleWorker {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	for _, p := range []string{"raft", manager.DEKFile} {
		if err := os.RemoveAll(filepath.Join(d.cfg.DataDir, p)); err != nil {
			return fmt.Errorf("removing the Raft state after demotion: %w", err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Role = model.RoleWorker
	d.st.JoinRaftVia = ""
	d.st.Bootstrap = false
	return d.st.Save(d.cfg.DataDir)
}

// becomeManager carries out a promotion: a manager certificate, a data
// key, and manager components that join Raft.
func (d *Daemon) becomeManager(ctx context.Context) error {
	d.log.Info("promoted: renewing into a manager certificate")
	if err := d.creds.Renew(ctx, d.managers()); err != nil {
		return err
	}
	if d.creds.Identity().Role != model.RoleManager {
		return fmt.Errorf("the renewed certificate still says %s", d.creds.Identity().Role)
	}
	others := d.managers()
	if len(others) == 0 {
		return errors.New("no manager known to join Raft through")
	}
	if err := os.RemoveAll(filepath.Join(d.cfg.DataDir, "raft")); err != nil {
		return err
	}
	if err := encryption.SaveDEK(filepath.Join(d.cfg.DataDir, manager.DEKFile), encryption.GenerateDEK(), nil); err != nil {
		return err
	}
	d.mu.Lock()
	d.st.Role = model.RoleManager
	d.st.JoinRaftVia = others[0]
	err := d.st.Save(d.cfg.DataDir)
	d.mu.Unlock()
	return err
}

// rejoin renews an expired certificate with a join token through the
// managers the node knows.
func rejoin(cfg Config, st *node.Record) error {
	dir := filepath.Join(cfg.DataDir, ca.CertificatesDir)
	certPEM, err := os.ReadFile(filepath.Join(dir, ca.NodeCertFile))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, ca.NodeKeyFile))
	if err != nil {
		return err
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, ca.RootCertFile))
	if err != nil {
		return err
	}
	addrs := append([]string{}, st.Managers...)
	if st.Role == model.RoleManager {
		addrs = append(addrs, st.Settings.AdvertiseAddr)
	}
	var errs []error
	for _, a := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		newCert, err := ca.Rejoin(ctx, a, cfg.RejoinToken, certPEM, keyPEM)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return ca.SaveNodeCredentials(cfg.DataDir, newCert, keyPEM, rootPEM)
	}
	if len(errs) == 0 {
		return errors.New("no manager known to renew the certificate with")
	}
	return fmt.Errorf("renewing the expired certificate: %w", errors.Join(errs...))
}
