package robustness

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// Network partitions between processes on loopback, with iptables.
//
// Every node process starts in a cgroup v2 directory of its own
// (shoal-rb-<pid>-<run>-<node> under the cgroup2 mount; proctest puts it
// there with CLONE_INTO_CGROUP, so every socket it ever opens belongs to
// it). Cutting A from B adds DROP rules for the packets A sends to B's
// ports and those B sends to A's ports (the cluster port over TCP: Raft,
// forwarded calls and dispatcher sessions; the gossip port over TCP and
// UDP), matched with -m cgroup --path. Packets are dropped, not refused:
// connections hang as they would across a real partition. The rules live
// in a chain of our own, SHOAL-RB-<pid>, that one rule at the top of
// OUTPUT jumps to (-o lo, comment shoal-robustness-partitions); healing
// flushes the chain, and the test's cleanup removes the jump, the chain
// and the cgroups. A run that starts removes the chains and cgroups of
// earlier test processes that are gone (crashed or killed before their
// cleanup ran); nothing else in iptables is touched.

const (
	partitionChainPrefix  = "SHOAL-RB-"
	partitionCgroupPrefix = "shoal-rb-"
	partitionComment      = "shoal-robustness-partitions"
)

// partitionKinds are the multi-process faults that need netPartitioner.
var partitionKinds = map[faultKind]bool{faultPartitionLeader: true, faultPartitionFollower: true, faultIsolateWorker: true}

// partitionRun counts the partitioners of this test process, so that
// each run (-count=N) has cgroups of its own.
var (
	partitionRunMu sync.Mutex
	partitionRun   int
)

// netPartitioner cuts node processes from each other with iptables.
type netPartitioner struct {
	t      *testing.T
	root   string // the cgroup2 mount
	chain  string
	prefix string // of this run's cgroup names

	mu      sync.Mutex
	cgroups []string // created, absolute
	rules   int      // DROP rules in the chain
}

// newNetPartitioner checks that this machine can partition processes
// (root, a cgroup2 mount, the iptables cgroup match, CLONE_INTO_CGROUP),
// removes what crashed earlier runs left, and sets up the chain. It
// returns nil and the reason when partitions cannot be made here.
func newNetPartitioner(t *testing.T) (*netPartitioner, string) {
	if os.Geteuid() != 0 {
		return nil, "not running as root (iptables and cgroups need it)"
	}
	root, err := cgroup2Mount()
	if err != nil {
		return nil, err.Error()
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, "no iptables command: " + err.Error()
	}
	removeStalePartitions(t, root)
	partitionRunMu.Lock()
	partitionRun++
	run := partitionRun
	partitionRunMu.Unlock()
	p := &netPartitioner{t: t, root: root, chain: partitionChainPrefix + strconv.Itoa(os.Getpid()),
		prefix: fmt.Sprintf("%s%d-%d-", partitionCgroupPrefix, os.Getpid(), run)}
	if out, err := iptables("-N", p.chain); err != nil {
		return nil, fmt.Sprintf("creating the iptables chain %s: %v: %s", p.chain, err, out)
	}
	if out, err := iptables(p.jumpRule("-I")...); err != nil {
		_, _ = iptables("-X", p.chain)
		return nil, fmt.Sprintf("adding the jump to %s in OUTPUT: %v: %s", p.chain, err, out)
	}
	t.Cleanup(p.close)
	if reason := p.probe(); reason != "" {
		return nil, reason
	}
	return p, ""
}

func (p *netPartitioner) jumpRule(op string) []string {
	return []string{op, "OUTPUT", "-o", "lo", "-m", "comment", "--comment", partitionComment, "-j", p.chain}
}

// probe starts a process in a cgroup of ours and matches it in a rule.
func (p *netPartitioner) probe() string {
	dir, err := p.cgroup("probe")
	if err != nil {
		return err.Error()
	}
	if out, err := iptables("-A", p.chain, "-m", "cgroup", "--path", p.cgroupPath(dir), "-j", "RETURN"); err != nil {
		return fmt.Sprintf("the iptables cgroup match does not work here: %v: %s", err, out)
	}
	if out, err := iptables("-F", p.chain); err != nil {
		return fmt.Sprintf("flushing %s: %v: %s", p.chain, err, out)
	}
	f, err := os.Open(dir)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	cmd := exec.Command("iptables", "--version")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("cannot start a process in a cgroup (CLONE_INTO_CGROUP needs Linux 5.7): %v: %s", err, out)
	}
	return ""
}

// cgroup creates this run's cgroup for a node and returns its path.
func (p *netPartitioner) cgroup(node string) (string, error) {
	dir := filepath.Join(p.root, p.prefix+node)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating the cgroup %s: %w", dir, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.cgroups {
		if d == dir {
			return dir, nil
		}
	}
	p.cgroups = append(p.cgroups, dir)
	return dir, nil
}

// cgroupFor is proctest.Cluster.Cgroup: the node's cgroup, created on
// first use.
func (p *netPartitioner) cgroupFor(node string) string {
	dir, err := p.cgroup(node)
	if err != nil {
		p.t.Fatal(err)
	}
	return dir
}

// cgroupPath is what iptables -m cgroup --path wants: the path under the
// cgroup2 mount.
func (p *netPartitioner) cgroupPath(dir string) string {
	return strings.TrimPrefix(dir, p.root+"/")
}

// cut drops every packet a sends to b's cluster and gossip ports, and
// every packet b sends to a's.
func (p *netPartitioner) cut(a, b *proctest.Node) error {
	return errors.Join(p.drop(a, b), p.drop(b, a))
}

func (p *netPartitioner) drop(from, to *proctest.Node) error {
	src, err := p.cgroup(from.Name)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range []struct{ proto, addr string }{{"tcp", to.Addr}, {"tcp", to.GossipAddr}, {"udp", to.GossipAddr}} {
		_, port, err := net.SplitHostPort(r.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("address of %s: %w", to.Name, err))
			continue
		}
		if out, err := iptables("-A", p.chain, "-o", "lo", "-p", r.proto, "--dport", port,
			"-m", "cgroup", "--path", p.cgroupPath(src), "-j", "DROP"); err != nil {
			errs = append(errs, fmt.Errorf("dropping %s %s -> %s: %w: %s", r.proto, from.Name, to.Name, err, out))
			continue
		}
		p.mu.Lock()
		p.rules++
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

// heal removes every cut.
func (p *netPartitioner) heal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rules == 0 {
		return nil
	}
	if out, err := iptables("-F", p.chain); err != nil {
		return fmt.Errorf("flushing %s: %w: %s", p.chain, err, out)
	}
	p.rules = 0
	return nil
}

// close removes the jump, the chain and the cgroups. It runs after
// proctest's cleanup has killed the processes (registered before it).
func (p *netPartitioner) close() {
	for _, args := range [][]string{p.jumpRule("-D"), {"-F", p.chain}, {"-X", p.chain}} {
		if out, err := iptables(args...); err != nil {
			p.t.Errorf("removing our iptables rules (%s): %v: %s", strings.Join(args, " "), err, out)
		}
	}
	p.mu.Lock()
	dirs := p.cgroups
	p.cgroups = nil
	p.mu.Unlock()
	for _, d := range dirs {
		if err := removeCgroup(d); err != nil {
			p.t.Errorf("removing the cgroup %s: %v", d, err)
		}
	}
}

// removeCgroup removes an empty cgroup, waiting a little for the
// processes that just died in it to be gone.
func removeCgroup(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeStalePartitions removes the chains and cgroups that test
// processes which are gone left behind.
func removeStalePartitions(t *testing.T, root string) {
	gone := func(pid string) bool {
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 {
			return false
		}
		return errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
	}
	rules, err := iptables("-S")
	if err != nil {
		t.Logf("partitions: listing iptables rules: %v", err)
	}
	var jumps [][]string
	var chains []string
	for _, line := range strings.Split(rules, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], partitionChainPrefix) && gone(strings.TrimPrefix(f[1], partitionChainPrefix)):
			chains = append(chains, f[1])
		case len(f) > 2 && f[0] == "-A" && f[1] == "OUTPUT" && strings.HasPrefix(f[len(f)-1], partitionChainPrefix) &&
			f[len(f)-2] == "-j" && gone(strings.TrimPrefix(f[len(f)-1], partitionChainPrefix)):
			f[0] = "-D"
			jumps = append(jumps, f)
		}
	}
	for _, j := range jumps {
		if out, err := iptables(j...); err != nil {
			t.Logf("partitions: removing a stale jump (%s): %v: %s", strings.Join(j, " "), err, out)
		}
	}
	for _, c := range chains {
		for _, args := range [][]string{{"-F", c}, {"-X", c}} {
			if out, err := iptables(args...); err != nil {
				t.Logf("partitions: removing the stale chain %s: %v: %s", c, err, out)
			}
		}
		t.Logf("partitions: removed the iptables chain %s of a test process that is gone", c)
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), partitionCgroupPrefix)
		if !e.IsDir() || !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if !gone(pid) {
			continue
		}
		// A cgroup that still holds processes (leaked nodes of a killed
		// test) cannot be removed; say so and leave it.
		if err := os.Remove(filepath.Join(root, e.Name())); err != nil {
			t.Logf("partitions: the stale cgroup %s stays: %v", e.Name(), err)
		} else {
			t.Logf("partitions: removed the cgroup %s of a test process that is gone", e.Name())
		}
	}
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified in hybrid mode).
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("no cgroup v2 mount: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options ... - fstype source options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" && pf[3] == "/" {
			return pf[4], nil
		}
	}
	return "", errors.New("no cgroup v2 mount (iptables -m cgroup --path matches cgroup v2 paths)")
}

// iptables runs iptables, waiting for the xtables lock others may hold.
func iptables(args ...string) (string, error) {
	out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
