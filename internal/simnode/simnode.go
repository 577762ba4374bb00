// Package simnode runs simulated worker nodes inside the calling process,
// for the scale simulator and benchmarks that need many nodes. Each node
// is a real member of the cluster: it joins through the CA join flow with
// the worker token (its own key and certificate), and runs the real agent
// package, with its own mutual-TLS HTTP/2 connection, session,
// heartbeats and batched status reports. Only the container engine is
// simulated: a task runs once Start has waited Config.StartDelay, and
// runs until it is shut down.
//
//	f, err := simnode.Join(ctx, simnode.Config{Managers: addrs, Token: tok, Nodes: 1000, DataDir: dir})
//	f.Start(ctx)            // the agents open their sessions
//	... f.Counters.Live() ...
//	f.Stop()
//
// This is a benchmark tool: a simulated node is as costly for managers as
// a real one, and much cheaper for the machine running it.
package simnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/agent"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/model"
)

// Config describes a fleet of simulated nodes.
type Config struct {
	// Managers are the cluster addresses of the managers; joins are
	// spread over them, and every agent knows them all.
	Managers []string
	// Token is the worker join token.
	Token string
	// Nodes is the number of nodes; they are named HostPrefix-N.
	Nodes      int
	HostPrefix string
	// JoinParallelism bounds the joins in flight (key generation, two
	// TLS handshakes and a Raft write each).
	JoinParallelism int
	// StartDelay is how long a task takes to start on its node.
	StartDelay time.Duration
	// NanoCPUs and MemoryBytes are what each node reports.
	NanoCPUs, MemoryBytes int64
	// DataDir holds one directory per node (the agent's managers.json).
	DataDir string
	// Logger receives the agents' logs; nil discards all but errors.
	Logger *slog.Logger
}

// Fleet is a set of simulated nodes.
type Fleet struct {
	cfg      Config
	Nodes    []*Node
	Counters *Counters

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Node is one simulated node.
type Node struct {
	ID       string
	Hostname string
	agent    *agent.Agent
}

// Join joins cfg.Nodes nodes to the cluster. It returns the first error
// after letting the joins in flight end.
func Join(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.JoinParallelism <= 0 {
		cfg.JoinParallelism = 16
	}
	if cfg.HostPrefix == "" {
		cfg.HostPrefix = "sim"
	}
	if cfg.NanoCPUs == 0 {
		cfg.NanoCPUs = 64e9
	}
	if cfg.MemoryBytes == 0 {
		cfg.MemoryBytes = 256 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if len(cfg.Managers) == 0 {
		return nil, errors.New("simnode: no managers")
	}
	f := &Fleet{cfg: cfg, Nodes: make([]*Node, cfg.Nodes), Counters: &Counters{}}
	sem := make(chan struct{}, cfg.JoinParallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range cfg.Nodes {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := f.join(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("simnode: joining node %d: %w", i, err)
				}
				return
			}
			f.Nodes[i] = n
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return f, firstErr
}

func (f *Fleet) join(ctx context.Context, i int) (*Node, error) {
	host := fmt.Sprintf("%s-%d", f.cfg.HostPrefix, i)
	via := f.cfg.Managers[i%len(f.cfg.Managers)]
	var res *ca.JoinResult
	var err error
	// A join can meet a leader change or an overloaded manager; a
	// simulated node retries as an operator would.
	for attempt := 0; attempt < 5; attempt++ {
		jctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		res, err = ca.Join(jctx, via, ca.JoinRequest{Token: f.cfg.Token, Hostname: host, Role: model.RoleWorker})
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		via = f.cfg.Managers[(i+attempt+1)%len(f.cfg.Managers)]
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair([]byte(res.Certificate), res.KeyPEM)
	if err != nil {
		return nil, err
	}
	root, err := ca.NewRootCA([]byte(res.RootCA), nil)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := ca.ClientTLSConfig(&cert, root)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(f.cfg.DataDir, host)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	desc := model.NodeDescription{
		Hostname:  host,
		Platform:  model.Platform{OS: "linux", Architecture: "x86_64"},
		Resources: model.Resources{NanoCPUs: f.cfg.NanoCPUs, MemoryBytes: f.cfg.MemoryBytes},
		Engine:    model.Engine{EngineVersion: "simulated"},
	}
	acfg := agent.DefaultConfig()
	acfg.DataDir = dir
	acfg.Managers = f.cfg.Managers
	acfg.TLS = func() (*tls.Config, error) { return tlsConfig, nil }
	acfg.NodeID = res.NodeID
	acfg.Executor = newExecutor(desc, f.cfg.StartDelay, f.Counters)
	acfg.Hostname = host
	acfg.Logger = f.cfg.Logger
	a, err := agent.New(acfg)
	if err != nil {
		return nil, err
	}
	return &Node{ID: res.NodeID, Hostname: host, agent: a}, nil
}

// Start runs every node's agent until ctx ends or Stop is called. Agents
// are started over spread, so that sessions do not all open in the same
// instant (a real fleet does not either); zero starts them at once.
func (f *Fleet) Start(ctx context.Context, spread time.Duration) {
	ctx, f.cancel = context.WithCancel(ctx)
	var gap time.Duration
	if len(f.Nodes) > 0 {
		gap = spread / time.Duration(len(f.Nodes))
	}
	for _, n := range f.Nodes {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			_ = n.agent.Run(ctx)
		}()
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}

// Stop ends every agent and waits for them.
func (f *Fleet) Stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// NodeIDs returns the IDs of the fleet's nodes.
func (f *Fleet) NodeIDs() map[string]bool {
	out := make(map[string]bool, len(f.Nodes))
	for _, n := range f.Nodes {
		if n != nil {
			out[n.ID] = true
		}
	}
	return out
}
