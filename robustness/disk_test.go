package robustness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

// diskFullSize is the tmpfs a manager's data dir moves to for the
// disk-full fault: room for its state and a few hundred writes, filled up
// by the fault.
const diskFullSize = "32m"

// tmpfsDataDir moves m's data dir (m stopped) onto a tmpfs of its own,
// mounted at the same path, so that the fault can fill it. It needs root;
// the mount goes when the test ends.
func tmpfsDataDir(t *testing.T, m *proctest.Node) error {
	saved := m.DataDir + ".saved"
	if err := os.Rename(m.DataDir, saved); err != nil {
		return err
	}
	if err := os.Mkdir(m.DataDir, 0o700); err != nil {
		return err
	}
	source := fmt.Sprintf("shoal-rb-%d-%s", os.Getpid(), m.Name)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+diskFullSize+",mode=0700", source, m.DataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// Lazy: the node's process may still hold files there until
		// proctest kills it.
		_ = exec.Command("umount", "-l", m.DataDir).Run()
	})
	if out, err := exec.Command("cp", "-a", saved+"/.", m.DataDir+"/").CombinedOutput(); err != nil {
		return fmt.Errorf("copying the data dir: %v: %s", err, out)
	}
	return os.RemoveAll(saved)
}

// fillDisk writes to dir until the file system is full and returns the
// filler's path; removing it heals the fault.
func fillDisk(dir string) (string, error) {
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		return path, err
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	for {
		if _, err := f.Write(buf); err != nil {
			if strings.Contains(err.Error(), "no space left") {
				return path, nil
			}
			return path, err
		}
	}
}

// acksBetween counts the writes acknowledged by calls that started after
// from and returned before to: the cluster went on meanwhile.
func acksBetween(h *history, from, to time.Duration) int {
	n := 0
	for _, r := range h.records() {
		if r.In.Kind.isWrite() && r.Out.Outcome == outOK && r.Call >= from && r.Return <= to {
			n++
		}
	}
	return n
}

// rejoinManager recovers a manager whose Raft state was refused as
// damaged, as the operations guide says: through a live manager, demote
// it and remove it, then wipe its data dir and join the host again as a
// new manager. It returns the new node, which replaces m.
func (c *mpCluster) rejoinManager(m *proctest.Node, via *proctest.Node, name string) (*proctest.Node, error) {
	ctx := context.Background()
	cl := c.clients[via.Name]
	id := c.nodeIDs[m.Name]
	var n swarm.Node
	if err := c.get(ctx, cl, "/nodes/"+id, &n); err != nil {
		return nil, err
	}
	spec := n.Spec
	spec.Role = swarm.NodeRoleWorker
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	a := cl.call(cctx, http.MethodPost, fmt.Sprintf("/nodes/%s/update?version=%d", id, n.Version.Index), spec)
	cancel()
	if a.err != nil || a.status != http.StatusOK {
		return nil, fmt.Errorf("demoting %s: %s", m.Name, a.message())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cur swarm.Node // fresh: decoding leaves absent fields as they were
		if err := c.get(ctx, cl, "/nodes/"+id, &cur); err == nil && cur.ManagerStatus == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s still a manager 30 s after its demotion", m.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	a = cl.call(cctx, http.MethodDelete, "/nodes/"+id+"?force=true", nil)
	cancel()
	if a.err != nil || a.status != http.StatusOK {
		return nil, fmt.Errorf("removing %s: %s", m.Name, a.message())
	}
	if err := os.RemoveAll(m.DataDir); err != nil {
		return nil, err
	}
	var sw swarm.Swarm
	if err := c.get(ctx, cl, "/swarm", &sw); err != nil {
		return nil, err
	}
	nm := c.pc.JoinManager(name, sw.JoinTokens.Manager, via)
	nm.WaitReady(60 * time.Second)
	c.mu.Lock()
	c.clients[nm.Name] = unixClient(nm.Name, nm.Socket)
	for i, x := range c.managers {
		if x == m {
			c.managers[i] = nm
		}
	}
	c.mu.Unlock()
	return nm, nil
}

// diskFullFault fills the file system under m's data dir for 4 s, while
// the load goes on, then frees it: m must stay up, the others must go on
// acknowledging writes, and m must catch up (the final checks).
func (c *mpCluster) diskFullFault(r *runResult, h *history, events *eventLog, m *proctest.Node) {
	role := "a follower"
	if c.leader(2*time.Second) == m {
		role = "the leader"
	}
	from := h.since()
	filler, err := fillDisk(m.DataDir)
	if err != nil {
		r.Problems = append(r.Problems, "injecting disk-full: "+err.Error())
	}
	r.Faults[faultDiskFull]++
	events.add("FAULT %s: %s (%s) has no space left", faultDiskFull, m.Name, role)
	time.Sleep(4 * time.Second)
	if !m.Running() {
		r.Problems = append(r.Problems, fmt.Sprintf("%s exited on a full disk:\n%s", m.Name, tail(m.Log(), 30)))
	}
	if n := acksBetween(h, from, h.since()); n == 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("no write acknowledged in the 4 s %s's disk was full (%s)", m.Name, role))
	} else {
		events.add("%d writes acknowledged while the disk of %s (%s) was full", n, m.Name, role)
	}
	_ = os.Remove(filler)
	events.add("healed %s", faultDiskFull)
	time.Sleep(2 * time.Second)
}

// makeLeader pauses the leader (SIGSTOP) for 1.5 s, long enough for the
// others to elect one of them, until m leads, at most 8 times; it tells
// whether m leads. (A SIGTERM's leadership handover picks the follower
// most up to date, which was never the one on the tmpfs.)
func (c *mpCluster) makeLeader(m *proctest.Node, events *eventLog) bool {
	for range 8 {
		l := c.leader(5 * time.Second)
		if l == m {
			return true
		}
		if l == nil {
			continue
		}
		l.Pause()
		time.Sleep(1500 * time.Millisecond)
		l.Resume()
		events.add("paused %s for 1.5 s to move leadership", l.Name)
		time.Sleep(time.Second)
	}
	return c.leader(5*time.Second) == m
}

// TestDiskFaults injects the disk faults into three manager processes
// under the usual load (issue 21): a full disk under one manager, and a
// log truncated between a follower's restarts. The manager on the full
// disk must stay up and catch up once space is free; the one with the
// truncated log must refuse to start, saying what is damaged, while the
// other two go on acknowledging writes, and catch up once rejoined as the
// operations guide says. Throughout, the usual checks: linearizable
// history, no acknowledged write lost, every manager reading the same
// final state, at most one leader per term.
func TestDiskFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process level skipped in -short mode")
	}
	seed := *flagMPSeed
	if seed == 0 {
		seed = newSeed()
	}
	cfg := mpConfig{Seed: seed, Managers: 3, Workers: 0, Clients: 4, Names: 4, MaxReplicas: 0, Duration: 0,
		Partitions: "not used"}
	h := newHistory()
	events := &eventLog{start: h.start}
	r := &runResult{Level: "disk", Seed: seed, Config: cfg, Faults: faultCounts{},
		Replay: fmt.Sprintf("go test ./robustness/ -run 'TestDiskFaults$' -mp-seed=%d", seed)}
	c := newMPCluster(t, cfg, testimage.Client(t), events, nil)
	events.add("cluster up: %d managers %v", cfg.Managers, c.nodeIDs)

	full := c.managers[2]
	diskFull := os.Geteuid() == 0
	if diskFull {
		if err := full.Stop(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := tmpfsDataDir(t, full); err != nil {
			t.Logf("disk-full left out: %v", err)
			diskFull = false
		}
		c.restartManager(full)
		full.WaitReady(60 * time.Second)
		events.add("%s runs on a %s tmpfs", full.Name, diskFullSize)
	} else {
		t.Log("disk-full left out: mounting a tmpfs needs root")
	}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		c.watchLeaders(watchCtx)
	}()
	names := serviceNames(fmt.Sprintf("dk%d", seed%100000), cfg.Names)
	lc := loadConfig{Clients: cfg.Clients, Names: names, Image: "shoal-robustness-never-run", MaxReplicas: 0,
		OpTimeout: 10 * time.Second, Think: 50 * time.Millisecond, ReadEvery: 300 * time.Millisecond, MaxProbes: 8}
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		runLoad(loadCtx, seed, lc, c.apiClients(), h)
	}()
	time.Sleep(2 * time.Second)

	if diskFull {
		// Once as a follower (if it is one), once as the leader.
		c.diskFullFault(r, h, events, full)
		if c.makeLeader(full, events) {
			c.diskFullFault(r, h, events, full)
		} else {
			t.Logf("%s never became the leader: disk-full on a leader left out", full.Name)
		}
	}

	// A follower on a real disk: stop it, cut its raft.db in half, start
	// it again.
	leader := c.leader(5 * time.Second)
	var victim *proctest.Node
	for _, m := range c.managers {
		if m != leader && m != full {
			victim = m
		}
	}
	if victim == nil {
		t.Fatal("no follower on a real disk to damage")
	}
	if err := victim.Stop(20 * time.Second); err != nil {
		r.Problems = append(r.Problems, "stopping "+victim.Name+": "+err.Error())
	}
	db := filepath.Join(victim.DataDir, "raft", "raft.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	from := h.since()
	r.Faults[faultTruncateLog]++
	events.add("FAULT %s: %s's raft.db cut from %d to %d bytes, then manager run", faultTruncateLog, victim.Name, fi.Size(), fi.Size()/2)
	victim.Restart("--no-agent")
	deadline := time.Now().Add(30 * time.Second)
	for victim.Running() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	switch log := victim.Log(); {
	case victim.Running():
		r.Problems = append(r.Problems, fmt.Sprintf("%s started with a truncated raft.db:\n%s", victim.Name, tail(log, 30)))
		victim.Kill()
	case !strings.Contains(log, "refuses to start") || !strings.Contains(log, "raft.db: truncated"):
		r.Problems = append(r.Problems, fmt.Sprintf("%s did not say its raft.db is truncated:\n%s", victim.Name, tail(log, 30)))
	default:
		events.add("%s refused to start: %s", victim.Name, firstLine(log, "refuses to start"))
	}
	time.Sleep(2 * time.Second)
	if n := acksBetween(h, from, h.since()); n == 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("no write acknowledged while %s was out", victim.Name))
	} else {
		events.add("%d writes acknowledged while %s was out", n, victim.Name)
	}
	nm, err := c.rejoinManager(victim, leader, victim.Name+"-rejoined")
	if err != nil {
		r.Problems = append(r.Problems, "rejoining "+victim.Name+": "+err.Error())
	} else {
		events.add("healed %s: %s demoted, removed, wiped and joined again as %s", faultTruncateLog, victim.Name, nm.Name)
	}
	time.Sleep(3 * time.Second)
	stopLoad()
	<-loadDone
	events.add("load stopped")

	reads := finalReads(c.apiClients(), names, h, 60*time.Second)
	r.History = h.records()
	checkHistory(r, reads)
	events.add("history checked: %s", r.Lin)
	r.Problems = append(r.Problems, c.compareStores(30*time.Second)...)
	stopWatch()
	<-watchDone
	r.Problems = append(r.Problems, c.terms.conflicts()...)
	c.terms.mu.Lock()
	for _, ids := range c.terms.leaders {
		r.Leaderships += len(ids)
	}
	c.terms.mu.Unlock()
	if r.Leaderships == 0 {
		r.Problems = append(r.Problems, "no leader observed: the one-leader-per-term check saw nothing")
	}
	r.Terms = c.terms.String()
	r.Events = events.all()
	r.Logs = map[string]string{}
	for _, n := range c.pc.Nodes {
		b, _ := os.ReadFile(n.LogPath)
		r.Logs[n.Name] = string(b)
	}
	r.count()
	if r.Acked == 0 {
		r.Problems = append(r.Problems, "no write was acknowledged: the load tested nothing")
	}
	for _, e := range r.Events {
		t.Log(e)
	}
	finish(t, r)
}

// firstLine returns the first line of s that contains sub.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
