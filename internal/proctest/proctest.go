// Package proctest runs real manager and worker processes on loopback for
// multi-process tests, end-to-end tests, benchmarks and the robustness
// suite: it builds the binaries once, starts nodes with their own data dirs
// and ports, and kills, stops, pauses and restarts them.
package proctest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// TB is the part of TB the harness uses, so that bench programs
// can drive clusters too (see Runner).
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}

var _ TB = (testing.TB)(nil)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// repoRoot finds the module root from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries builds cmd/manager and cmd/worker once per test process and
// returns the directory holding them.
func Binaries(tb TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "shoal-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range []string{"manager", "worker"} {
			if _, err := os.Stat(filepath.Join(repoRoot(), "cmd", b, "main.go")); err != nil {
				continue
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b), "./cmd/"+b)
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", b, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binDir
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(tb TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Cluster is a set of node processes under one temp dir.
type Cluster struct {
	tb    TB
	bin   string
	dir   string
	mu    sync.Mutex
	Nodes []*Node
	// ExtraArgs are added to every manager's command line.
	ExtraArgs []string
	// Cgroup, if set, returns the cgroup v2 directory (an absolute path,
	// which must exist) that the named node's processes start in, restarts
	// included. A process is placed there as it is created
	// (CLONE_INTO_CGROUP, Linux 5.7), before it opens any socket, so that
	// iptables -m cgroup matches all its packets: the robustness suite
	// partitions nodes that way. Set it before starting nodes.
	Cgroup func(name string) string
	// Place, if set, puts the named node on a host of its own (a network
	// namespace: see internal/hostbed): the node listens on the host's IP
	// at the default ports, and its process is started through the
	// placement's Wrap with its Env added. Set it before starting nodes.
	Place func(name string) *Placement
}

// Placement is where a node runs.
type Placement struct {
	// IP is the node's address; it listens on IP:2377 (cluster) and
	// IP:7946 (gossip).
	IP string
	// Wrap is prepended to the node's command line (e.g. nsenter --net=...).
	Wrap []string
	// Env is added to the node's environment (e.g. DOCKER_HOST).
	Env []string
}

// New returns an empty cluster; its processes are killed when the test
// ends, and their logs are printed if it failed.
func New(tb TB) *Cluster {
	c := &Cluster{tb: tb, bin: Binaries(tb), dir: tb.TempDir()}
	tb.Cleanup(c.cleanup)
	return c
}

func (c *Cluster) cleanup() {
	for _, n := range c.Nodes {
		n.Kill()
	}
	if c.tb.Failed() {
		for _, n := range c.Nodes {
			b, _ := os.ReadFile(n.LogPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			c.tb.Logf("---- last log lines of %s ----\n%s", n.Name, strings.Join(lines, "\n"))
		}
	}
}

// Node is one node process.
type Node struct {
	c       *Cluster
	Name    string
	Binary  string // manager or worker
	DataDir string
	// Addr is the cluster address (managers) or advertise address.
	Addr string
	// GossipAddr is the node's gossip address (TCP and UDP).
	GossipAddr string
	Socket     string
	LogPath    string
	place      *Placement
	// mu guards cmd and done, which a restart replaces while other
	// goroutines (a test's watchers) ask whether the node runs.
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
}

// proc returns the current process and its exit channel.
func (n *Node) proc() (*exec.Cmd, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd, n.done
}

func (c *Cluster) newNode(name, binary string) *Node {
	port := FreePort(c.tb)
	n := &Node{
		c:       c,
		Name:    name,
		Binary:  binary,
		DataDir: filepath.Join(c.dir, name),
		Addr:    fmt.Sprintf("127.0.0.1:%d", port),
		LogPath: filepath.Join(c.dir, name+".log"),
	}
	n.GossipAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(c.tb))
	if c.Place != nil {
		if p := c.Place(name); p != nil {
			n.place = p
			n.Addr, n.GossipAddr = net.JoinHostPort(p.IP, "2377"), net.JoinHostPort(p.IP, "7946")
		}
	}
	n.Socket = filepath.Join(n.DataDir, "swarm.sock")
	c.mu.Lock()
	c.Nodes = append(c.Nodes, n)
	c.mu.Unlock()
	return n
}

func (n *Node) commonArgs() []string {
	return []string{
		"--data-dir", n.DataDir,
		"--hostname", n.Name,
		"--listen-addr", n.Addr,
		"--advertise-addr", n.Addr,
		"--gossip-addr", n.GossipAddr,
	}
}

// InitManager starts `manager init` for a new cluster.
func (c *Cluster) InitManager(name string, extra ...string) *Node {
	n := c.newNode(name, "manager")
	n.start(append(append([]string{"init"}, n.commonArgs()...), append(c.ExtraArgs, extra...)...))
	return n
}

// JoinManager starts `manager join` through the manager at via.
func (c *Cluster) JoinManager(name, token string, via *Node, extra ...string) *Node {
	n := c.newNode(name, "manager")
	args := append([]string{"join"}, n.commonArgs()...)
	args = append(args, "--token", token)
	args = append(args, append(c.ExtraArgs, extra...)...)
	n.start(append(args, via.Addr))
	return n
}

// JoinWorker starts `worker join` through the manager at via.
func (c *Cluster) JoinWorker(name, token string, via *Node, extra ...string) *Node {
	n := c.newNode(name, "worker")
	args := append([]string{"join"}, n.commonArgs()...)
	args = append(args, "--token", token)
	args = append(args, extra...)
	n.start(append(args, via.Addr))
	return n
}

func (n *Node) start(args []string) {
	n.c.tb.Helper()
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.c.tb.Fatal(err)
	}
	fmt.Fprintf(logf, "==== %s %s\n", n.Binary, strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(n.c.bin, n.Binary), args...)
	if p := n.place; p != nil {
		if len(p.Wrap) > 0 {
			cmd = exec.Command(p.Wrap[0], append(append(p.Wrap[1:len(p.Wrap):len(p.Wrap)], cmd.Path), args...)...)
		}
		cmd.Env = append(os.Environ(), p.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var cgroup *os.File
	if n.c.Cgroup != nil {
		if cgroup, err = os.Open(n.c.Cgroup(n.Name)); err != nil {
			logf.Close()
			n.c.tb.Fatalf("starting %s: %v", n.Name, err)
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cgroup.Fd())
	}
	err = cmd.Start()
	if cgroup != nil {
		cgroup.Close()
	}
	if err != nil {
		logf.Close()
		n.c.tb.Fatalf("starting %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	go func() {
		n.exitErr = cmd.Wait()
		logf.Close()
		close(done)
	}()
}

// Restart starts the node again from its data dir (`run`).
func (n *Node) Restart(extra ...string) {
	n.c.tb.Helper()
	if n.Running() {
		n.c.tb.Fatalf("%s is still running", n.Name)
	}
	n.start(append([]string{"run", "--data-dir", n.DataDir}, extra...))
}

// StartWith starts the node's binary again with other arguments than
// Restart's, for instance to recover a cluster from this manager's data
// dir: StartWith("init", "--force-new-cluster", "--data-dir", n.DataDir).
func (n *Node) StartWith(args ...string) {
	n.c.tb.Helper()
	if n.Running() {
		n.c.tb.Fatalf("%s is still running", n.Name)
	}
	n.start(args)
}

// Running tells whether the process is alive.
func (n *Node) Running() bool {
	cmd, done := n.proc()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// PID returns the process ID.
func (n *Node) PID() int {
	cmd, _ := n.proc()
	return cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to exit.
func (n *Node) Kill() {
	if !n.Running() {
		return
	}
	cmd, done := n.proc()
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-done
}

// Stop sends SIGTERM and waits up to timeout for a clean exit. A process
// still up then gets SIGQUIT, so that the Go runtime writes every
// goroutine's stack to its log (what blocked the shutdown), and is killed
// if that does not end it within 5 s.
func (n *Node) Stop(timeout time.Duration) error {
	if !n.Running() {
		return nil
	}
	cmd, done := n.proc()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return n.exitErr
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		n.Kill()
		return fmt.Errorf("%s did not stop within %v (goroutine dump in its log)", n.Name, timeout)
	}
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (n *Node) Pause() {
	cmd, _ := n.proc()
	_ = cmd.Process.Signal(syscall.SIGSTOP)
}

// Resume continues a paused process.
func (n *Node) Resume() {
	cmd, _ := n.proc()
	_ = cmd.Process.Signal(syscall.SIGCONT)
}

// Log returns the node's log so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath)
	return string(b)
}

// Client returns a Docker API client for a manager's socket.
func (n *Node) Client() *client.Client {
	n.c.tb.Helper()
	cl, err := client.NewClientWithOpts(client.WithHost("unix://"+n.Socket), client.WithAPIVersionNegotiation())
	if err != nil {
		n.c.tb.Fatal(err)
	}
	n.c.tb.Cleanup(func() { cl.Close() })
	return cl
}

// WaitReady waits until a manager answers with a cluster.
func (n *Node) WaitReady(timeout time.Duration) swarm.Swarm {
	n.c.tb.Helper()
	cl := n.Client()
	var sw swarm.Swarm
	Eventually(n.c.tb, timeout, n.Name+" serving the swarm", func() error {
		if !n.Running() {
			return fmt.Errorf("%s exited: %v\n%s", n.Name, n.exitErr, tail(n.Log(), 20))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		sw, err = cl.SwarmInspect(ctx)
		return err
	})
	return sw
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Eventually retries f until it returns nil or timeout passes.
func Eventually(tb TB, timeout time.Duration, what string, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitNodesReady waits until cl lists at least want nodes READY and
// returns the nodes it listed then.
func WaitNodesReady(tb TB, cl *client.Client, want int, timeout time.Duration) []swarm.Node {
	tb.Helper()
	var nodes []swarm.Node
	Eventually(tb, timeout, fmt.Sprintf("%d nodes READY", want), func() error {
		ns, err := cl.NodeList(context.Background(), swarm.NodeListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range ns {
			if n.Status.State == swarm.NodeStateReady {
				ready++
			}
		}
		if ready < want {
			return fmt.Errorf("%d of %d nodes READY", ready, want)
		}
		nodes = ns
		return nil
	})
	return nodes
}

// Output runs a binary subcommand to completion and returns its output.
func (c *Cluster) Output(binary string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, binary), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Runner is a TB for programs: Fatal logs and exits, Cleanup functions run
// on Close (and before a fatal exit).
type Runner struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	dirs     []string
}

var _ TB = (*Runner)(nil)

// Helper implements TB.
func (r *Runner) Helper() {}

// Logf implements TB.
func (r *Runner) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// Fatal implements TB.
func (r *Runner) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// Fatalf implements TB: it runs the cleanups and exits.
func (r *Runner) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	r.Logf("FATAL: "+format, args...)
	r.Close()
	os.Exit(1)
}

// Cleanup implements TB.
func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

// TempDir implements TB.
func (r *Runner) TempDir() string {
	d, err := os.MkdirTemp("", "shoal-bench-")
	if err != nil {
		r.Fatal(err)
	}
	r.mu.Lock()
	r.dirs = append(r.dirs, d)
	r.mu.Unlock()
	return d
}

// Failed implements TB.
func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Close runs the cleanups, last registered first, and removes temp dirs.
func (r *Runner) Close() {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	dirs := r.dirs
	r.dirs = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}
