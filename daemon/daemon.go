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
	dockerexec "github.com/shoal-dev/shoal/agent/exec/docker"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/manager"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/state"
)

// Daemon is one running node.
type Daemon struct {
	cfg   manager.Config
	log   *slog.Logger
	creds *node.Credentials

	mu  sync.Mutex
	st  *node.State
	mgr *manager.Manager

	agent    *agent.Agent
	gossip   *gossipRunner
	promote  chan struct{}
	demote   chan struct{}
	renewNow chan struct{}
}

func newDaemon(cfg manager.Config, st *node.State, creds *node.Credentials, mgr *manager.Manager) *Daemon {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Credentials = creds
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
	d.cfg.Alive = d.gossip.alive
	d.cfg.OnGossip = func(keys [][]byte, peers []string) { d.gossip.update(keys, peers) }
	if mgr != nil {
		mgr.SetGossipHooks(d.cfg.Alive, d.cfg.OnGossip)
	}
	return d
}

// InitManager creates a new cluster with this node as its first manager.
func InitManager(cfg manager.Config) (*Daemon, error) {
	m, err := manager.Init(cfg)
	if err != nil {
		return nil, err
	}
	return fromManager(cfg, m)
}

// JoinManager joins a cluster as a manager.
func JoinManager(ctx context.Context, cfg manager.Config, token, remote string) (*Daemon, error) {
	m, err := manager.Join(ctx, cfg, token, remote)
	if err != nil {
		return nil, err
	}
	return fromManager(cfg, m)
}

// ForceNewCluster makes the manager in cfg.DataDir the only manager of its
// cluster; see manager.ForceNewCluster.
func ForceNewCluster(cfg manager.Config) (*Daemon, error) {
	m, err := manager.ForceNewCluster(cfg)
	if err != nil {
		return nil, err
	}
	return fromManager(cfg, m)
}

func fromManager(cfg manager.Config, m *manager.Manager) (*Daemon, error) {
	st, err := node.Load(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.Settings = m.Settings()
	return newDaemon(cfg, st, m.Credentials(), m), nil
}

// JoinWorker joins a cluster as a worker with a worker join token.
func JoinWorker(ctx context.Context, cfg manager.Config, token, remote string) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := node.CheckFresh(cfg.DataDir, "worker"); err != nil {
		return nil, err
	}
	settings, err := manager.Defaults(cfg.Settings, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	res, err := ca.Join(ctx, remote, ca.JoinRequest{
		Token:      token,
		Hostname:   settings.Hostname,
		Role:       state.RoleWorker,
		GossipAddr: settings.GossipAddr,
		Labels:     settings.Labels,
	})
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
	st := &node.State{NodeID: res.NodeID, ClusterID: res.ClusterID, Role: state.RoleWorker, Settings: settings, Managers: managers}
	if err := st.Save(cfg.DataDir); err != nil {
		return nil, err
	}
	cfg.Settings = settings
	return open(cfg, st)
}

// Open reopens the node saved in cfg.DataDir (`run`), in the role it had.
// Non-empty settings in cfg override the remembered ones.
func Open(cfg manager.Config) (*Daemon, error) {
	st, err := node.Load(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return open(cfg, st)
}

func open(cfg manager.Config, st *node.State) (*Daemon, error) {
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
	if st.Role == state.RoleManager {
		cfg.Credentials = creds
		m, err := manager.Open(cfg)
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
	st.Settings = manager.Overlay(st.Settings, cfg.Settings)
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
func (d *Daemon) Role() state.NodeRole {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Role
}

// managers lists the manager addresses the node knows, its own first if
// it is a manager.
func (d *Daemon) managers() []string {
	d.mu.Lock()
	var out []string
	if d.st.Role == state.RoleManager {
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

// Run runs the node until ctx ends. Running containers are left alone.
func (d *Daemon) Run(ctx context.Context) error {
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
		a, err := d.newAgent()
		if err != nil {
			return err
		}
		d.agent = a
		wg.Add(1)
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

func (d *Daemon) newAgent() (*agent.Agent, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if d.cfg.DockerHost != "" {
		opts = append(opts, client.WithHost(d.cfg.DockerHost))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	// DOCKER_HOST set to a manager's API socket (to use the docker CLI
	// against the cluster) would make the agent run tasks on the cluster
	// instead of on an engine. Refuse that rather than fail obscurely.
	vctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	v, verr := cli.ServerVersion(vctx)
	cancel()
	if verr == nil && strings.HasPrefix(v.Platform.Name, "shoal") {
		return nil, fmt.Errorf("the Docker endpoint %s is a shoal manager's API, not a Docker Engine: unset DOCKER_HOST or pass --docker-host", cli.DaemonHost())
	}
	s := d.cfg.Settings
	exe, err := dockerexec.New(cli, d.st.NodeID, dockerexec.WithHostname(s.Hostname), dockerexec.WithLogger(d.cfg.Logger))
	if err != nil {
		return nil, err
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
	return agent.New(acfg)
}

// onNode follows what the cluster says about this node's role.
func (d *Daemon) onNode(info protocol.NodeInfo) {
	role := d.Role()
	switch {
	case info.Role == state.RoleManager && role == state.RoleWorker:
		signal(d.promote)
	case info.Role == state.RoleWorker && role == state.RoleManager:
		signal(d.demote)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// roleLoop runs the manager components while the role is manager.
func (d *Daemon) roleLoop(ctx context.Context, agentErr <-chan error) error {
	for {
		d.gossip.roleChanged()
		if d.Role() == state.RoleManager {
			err := d.runManager(ctx, agentErr)
			if !errors.Is(err, manager.ErrDemoted) {
				return err
			}
			if err := d.becomeWorker(ctx); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-agentErr:
			return err
		case <-d.promote:
			if err := d.becomeManager(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.log.Warn("promotion pending", "err", err)
				time.AfterFunc(2*time.Second, func() { signal(d.promote) })
			}
		}
	}
}

func (d *Daemon) runManager(ctx context.Context, agentErr <-chan error) error {
	d.mu.Lock()
	m := d.mgr
	d.mu.Unlock()
	if m == nil {
		var err error
		if m, err = manager.Open(d.cfg); err != nil {
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
		if d.creds.Identity().Role == state.RoleWorker {
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
	d.st.Role = state.RoleWorker
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
	if d.creds.Identity().Role != state.RoleManager {
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
	d.st.Role = state.RoleManager
	d.st.JoinRaftVia = others[0]
	err := d.st.Save(d.cfg.DataDir)
	d.mu.Unlock()
	return err
}

// rejoin renews an expired certificate with a join token through the
// managers the node knows.
func rejoin(cfg manager.Config, st *node.State) error {
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
	if st.Role == state.RoleManager {
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
