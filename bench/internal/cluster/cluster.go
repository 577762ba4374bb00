// Package cluster starts the manager processes the benchmarks measure, on
// loopback with internal/proctest, and gives what every benchmark needs
// around them: Docker API clients per manager, the leader, the join
// tokens, their CPU and memory, and CPU profiles of a manager build that
// serves net/http/pprof.
//
//	r := &proctest.Runner{}
//	defer r.Close()
//	c := cluster.Start(r, cluster.Options{Managers: 3, NoAgent: true})
//	leader := c.Leader()
//	svc, err := c.Client(leader).ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
//
// Everything fatal goes through the TB (a proctest.Runner exits the
// program after its cleanups: processes killed, temp dirs removed).
package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/bench/internal/procstat"
	"github.com/shoal-dev/shoal/internal/proctest"
)

// Options says what cluster to start.
type Options struct {
	// Managers is the number of managers (1 or more).
	Managers int
	// NoAgent starts the managers without their local agent (no
	// containers run on them): the simulator's cluster.
	NoAgent bool
	// Profile builds the managers with a net/http/pprof listener (see
	// ProfileCPU). The build is the product's plus one file; it is
	// slower to start only by the build.
	Profile bool
	// ExtraArgs are added to every manager's command line.
	ExtraArgs []string
}

// KeepLogsEnv names a directory where, if set, the node logs of every
// cluster are copied when the benchmark ends (the temp dirs holding them
// are removed).
const KeepLogsEnv = "SHOAL_BENCH_LOGS"

func (c *Cluster) keepLogs(dir string) {
	dst := filepath.Join(dir, time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return
	}
	for _, n := range c.Procs.Nodes {
		if b, err := os.ReadFile(n.LogPath); err == nil {
			_ = os.WriteFile(filepath.Join(dst, n.Name+".log"), b, 0o644)
		}
	}
	fmt.Fprintf(os.Stderr, "node logs kept in %s\n", dst)
}

// Cluster is a running set of managers.
type Cluster struct {
	TB       proctest.TB
	Procs    *proctest.Cluster
	Managers []*proctest.Node
	// WorkerToken and ManagerToken are the join tokens.
	WorkerToken, ManagerToken string
	opts                      Options

	mu      sync.Mutex
	clients map[*proctest.Node]*client.Client
	pprof   *pprofBuild
}

// Start starts opts.Managers managers (the first with init, the others
// joining through it) and waits until every one is reachable.
func Start(tb proctest.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Managers < 1 {
		opts.Managers = 1
	}
	c := &Cluster{TB: tb, opts: opts, clients: map[*proctest.Node]*client.Client{}}
	if opts.Profile {
		c.pprof = buildProfiled(tb)
	}
	c.Procs = proctest.New(tb)
	if dir := os.Getenv(KeepLogsEnv); dir != "" {
		tb.Cleanup(func() { c.keepLogs(dir) })
	}
	if opts.NoAgent {
		c.Procs.ExtraArgs = append(c.Procs.ExtraArgs, "--no-agent")
	}
	c.Procs.ExtraArgs = append(c.Procs.ExtraArgs, opts.ExtraArgs...)
	m1 := c.Procs.InitManager("m1")
	sw := c.waitReady(m1, 30*time.Second)
	c.Managers = append(c.Managers, m1)
	c.WorkerToken, c.ManagerToken = sw.JoinTokens.Worker, sw.JoinTokens.Manager
	for i := 2; i <= opts.Managers; i++ {
		m := c.Procs.JoinManager(fmt.Sprintf("m%d", i), c.ManagerToken, m1)
		c.waitReady(m, 30*time.Second)
		c.Managers = append(c.Managers, m)
	}
	c.WaitReachable(60 * time.Second)
	tb.Cleanup(c.closeClients)
	return c
}

// RestartArgs are the flags a manager needs again on `manager run`.
func (c *Cluster) RestartArgs() []string {
	var args []string
	if c.opts.NoAgent {
		args = append(args, "--no-agent")
	}
	return append(args, c.opts.ExtraArgs...)
}

func (c *Cluster) waitReady(n *proctest.Node, timeout time.Duration) swarm.Swarm {
	c.TB.Helper()
	var sw swarm.Swarm
	proctest.Eventually(c.TB, timeout, n.Name+" serving the swarm", func() error {
		if !n.Running() {
			return fmt.Errorf("%s exited:\n%s", n.Name, tail(n.Log(), 30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		sw, err = c.Client(n).SwarmInspect(ctx)
		return err
	})
	return sw
}

// Client returns a Docker API client for a manager's socket, one per
// manager, closed at the end.
func (c *Cluster) Client(n *proctest.Node) *client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[n]; cl != nil {
		return cl
	}
	cl, err := client.NewClientWithOpts(client.WithHost("unix://"+n.Socket), client.WithAPIVersionNegotiation())
	if err != nil {
		c.TB.Fatal(err)
	}
	c.clients[n] = cl
	return cl
}

// NewClient returns a Docker API client of its own (its own connections)
// for a manager's socket; the caller closes it.
func NewClient(n *proctest.Node) (*client.Client, error) {
	return client.NewClientWithOpts(client.WithHost("unix://"+n.Socket), client.WithAPIVersionNegotiation())
}

func (c *Cluster) closeClients() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		_ = cl.Close()
	}
	c.clients = map[*proctest.Node]*client.Client{}
}

// WaitReachable waits until every running manager serves its API and
// sees every running manager reachable and one leader.
func (c *Cluster) WaitReachable(timeout time.Duration) {
	c.TB.Helper()
	want := 0
	for _, m := range c.Managers {
		if m.Running() {
			want++
		}
	}
	proctest.Eventually(c.TB, timeout, "all managers reachable", func() error {
		for _, m := range c.Managers {
			if !m.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ns, err := c.Client(m).NodeList(ctx, swarm.NodeListOptions{})
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			reachable, leaders := 0, 0
			for _, nd := range ns {
				if nd.ManagerStatus == nil {
					continue
				}
				if nd.ManagerStatus.Reachability == swarm.ReachabilityReachable {
					reachable++
				}
				if nd.ManagerStatus.Leader {
					leaders++
				}
			}
			if reachable < want || leaders != 1 {
				return fmt.Errorf("%s sees %d of %d managers reachable, %d leaders", m.Name, reachable, want, leaders)
			}
		}
		return nil
	})
}

// Leader returns the manager the cluster names as its leader.
func (c *Cluster) Leader() *proctest.Node {
	c.TB.Helper()
	var out *proctest.Node
	proctest.Eventually(c.TB, 30*time.Second, "a leader", func() error {
		var err error
		out, err = c.FindLeader(context.Background())
		return err
	})
	return out
}

// FindLeader asks the running managers which of them leads.
func (c *Cluster) FindLeader(ctx context.Context) (*proctest.Node, error) {
	var lastErr error = fmt.Errorf("no manager running")
	for _, m := range c.Managers {
		if !m.Running() {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ns, err := c.Client(m).NodeList(qctx, swarm.NodeListOptions{})
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		for _, nd := range ns {
			if nd.ManagerStatus == nil || !nd.ManagerStatus.Leader {
				continue
			}
			for _, cand := range c.Managers {
				if cand.Name == nd.Description.Hostname && cand.Running() {
					return cand, nil
				}
			}
		}
		lastErr = fmt.Errorf("%s names no running leader", m.Name)
	}
	return nil, lastErr
}

// Followers returns the running managers other than leader.
func (c *Cluster) Followers(leader *proctest.Node) []*proctest.Node {
	var out []*proctest.Node
	for _, m := range c.Managers {
		if m != leader && m.Running() {
			out = append(out, m)
		}
	}
	return out
}

// Addrs returns the managers' cluster addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Managers))
	for i, m := range c.Managers {
		out[i] = m.Addr
	}
	return out
}

// Usage reads a manager's CPU time and memory.
func Usage(n *proctest.Node) procstat.Usage {
	if !n.Running() {
		return procstat.Usage{}
	}
	u, _ := procstat.Read(n.PID())
	return u
}

// ManagerUsage returns the usage of every manager, in order.
func (c *Cluster) ManagerUsage() []procstat.Usage {
	out := make([]procstat.Usage, len(c.Managers))
	for i, m := range c.Managers {
		out[i] = Usage(m)
	}
	return out
}

func tail(s string, n int) string {
	lines := splitLines(s)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// DirSize returns the total size of the regular files under dir.
func DirSize(dir string) int64 {
	var total int64
	_ = walk(dir, func(size int64) { total += size })
	return total
}

func walk(dir string, f func(int64)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := dir + "/" + e.Name()
		if e.IsDir() {
			_ = walk(p, f)
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			f(info.Size())
		}
	}
	return nil
}
