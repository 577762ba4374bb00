package robustness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/model"
)

// The multi-process level: three manager processes (--no-agent) and two
// worker processes on loopback, the workers running real containers of
// the demo image on the local Docker daemon. Faults are signals (kill -9,
// SIGTERM and restart, SIGSTOP/SIGCONT), docker kill of a worker's
// containers, and network partitions made with iptables DROP rules on
// each process's cgroup (partition_test.go), when the machine allows it.

// Container labels the agent sets (agent/exec/dockerexec).
const (
	labelNodeID = "io.shoal.node.id"
	labelTaskID = "io.shoal.task.id"
)

var multiProcessKinds = []faultKind{faultKillLeader, faultKillFollower, faultRestart, faultPause, faultPauseLeader,
	faultKillWorker, faultKillContainers, faultPartitionLeader, faultPartitionFollower, faultIsolateWorker, faultFreezeLeader}

// multiProcessLongHolds are held 1.5 to 3.5 s: a cut leader stays cut
// long enough for the majority to elect another and write.
var multiProcessLongHolds = []faultKind{faultPartitionLeader}

// mpConfig is everything a seed decides about a multi-process run.
type mpConfig struct {
	Seed        int64
	Managers    int
	Workers     int
	Clients     int
	Names       int
	MaxReplicas uint64
	Duration    time.Duration
	// Partitions says how partitions are made, or why they are not.
	Partitions string
}

// multiProcessConfig derives the run's configuration and schedule from
// its seed; kinds are the fault kinds this machine can inject.
func multiProcessConfig(seed int64, duration time.Duration, kinds []faultKind) (mpConfig, []fault) {
	rng := rand.New(rand.NewSource(seed))
	c := mpConfig{Seed: seed, Managers: 3, Workers: 2, Clients: 4, Names: 4, MaxReplicas: 2, Duration: duration}
	// One scenario runs in CI: make it cover every kind. That takes a
	// schedule with as many steps as kinds: a short draw (long holds) is
	// drawn again, from the same rng, so the seed still decides it.
	plan := planFaults(rng, kinds, duration, multiProcessLongHolds...)
	for try := 0; len(plan) < len(kinds) && try < 100; try++ {
		plan = planFaults(rng, kinds, duration, multiProcessLongHolds...)
	}
	return c, ensureKinds(rng, plan, kinds, multiProcessLongHolds...)
}

// unixClient calls a manager's API on its unix socket. Every request dials
// afresh: a dead manager then refuses the dial, which callers rightly take
// as "not sent", instead of failing a request on a stale connection.
func unixClient(member, socket string) *apiClient {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &apiClient{member: member, hc: &http.Client{Transport: tr}, base: "http://" + member}
}

type mpCluster struct {
	t        *testing.T
	cfg      mpConfig
	pc       *proctest.Cluster
	managers []*proctest.Node
	workers  []*proctest.Node
	clients  map[string]*apiClient // by manager name
	nodeIDs  map[string]string     // node name -> ID
	docker   *client.Client
	events   *eventLog
	terms    *termLog
	// net partitions processes; nil where the machine does not allow it.
	net *netPartitioner

	// image is the demo image the services run.
	image string
	// probes are the freeze probes of the pause-leader faults.
	probes []*freezeProbe

	mu     sync.Mutex
	paused map[string]bool
}

func newMPCluster(t *testing.T, cfg mpConfig, docker *client.Client, events *eventLog, np *netPartitioner) *mpCluster {
	c := &mpCluster{t: t, cfg: cfg, pc: proctest.New(t), clients: map[string]*apiClient{}, nodeIDs: map[string]string{},
		docker: docker, events: events, terms: newTermLog(), paused: map[string]bool{}, net: np}
	c.pc.ExtraArgs = []string{"--no-agent"}
	if np != nil {
		// Every process starts in its node's cgroup, which the iptables
		// rules match on.
		c.pc.Cgroup = np.cgroupFor
	}
	// Registered after proctest's cleanup, so it runs first: workers die
	// before their containers are removed, and nothing restarts them.
	t.Cleanup(c.cleanup)
	m1 := c.pc.InitManager("m1")
	sw := m1.WaitReady(60 * time.Second)
	c.managers = append(c.managers, m1)
	for i := 2; i <= cfg.Managers; i++ {
		m := c.pc.JoinManager(fmt.Sprintf("m%d", i), sw.JoinTokens.Manager, m1)
		m.WaitReady(60 * time.Second)
		c.managers = append(c.managers, m)
	}
	for i := 1; i <= cfg.Workers; i++ {
		c.workers = append(c.workers, c.pc.JoinWorker(fmt.Sprintf("w%d", i), sw.JoinTokens.Worker, m1))
	}
	for _, m := range c.managers {
		c.clients[m.Name] = unixClient(m.Name, m.Socket)
	}
	proctest.Eventually(t, 60*time.Second, "every node ready and every manager reachable", func() error {
		var nodes []swarm.Node
		if err := c.get(context.Background(), c.clients["m1"], "/nodes", &nodes); err != nil {
			return err
		}
		ready, reachable := 0, 0
		for _, n := range nodes {
			c.nodeIDs[n.Description.Hostname] = n.ID
			if n.ManagerStatus == nil && n.Status.State == swarm.NodeStateReady {
				ready++
			}
			if n.ManagerStatus != nil && n.ManagerStatus.Reachability == swarm.ReachabilityReachable {
				reachable++
			}
		}
		if ready != cfg.Workers || reachable != cfg.Managers {
			return fmt.Errorf("%d of %d workers ready, %d of %d managers reachable", ready, cfg.Workers, reachable, cfg.Managers)
		}
		return nil
	})
	return c
}

func (c *mpCluster) get(ctx context.Context, cl *apiClient, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a := cl.call(ctx, http.MethodGet, path, nil)
	if a.err != nil {
		return a.err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %d %s", path, cl.member, a.status, a.message())
	}
	return json.Unmarshal(a.body, out)
}

func (c *mpCluster) apiClients() []*apiClient {
	var out []*apiClient
	for _, m := range c.managers {
		out = append(out, c.clients[m.Name])
	}
	return out
}

// raftStatus scrapes a manager's /metrics for its Raft state and term.
func (c *mpCluster) raftStatus(m *proctest.Node) (leader bool, term, applied uint64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.mu.Lock()
	cl := c.clients[m.Name]
	c.mu.Unlock()
	a := cl.call(ctx, http.MethodGet, "/metrics", nil)
	if a.err != nil || a.status != http.StatusOK {
		return false, 0, 0, fmt.Errorf("metrics of %s: %d %v", m.Name, a.status, a.err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(a.body)))
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
		switch name {
		case "swarm_raft_term":
			term = uint64(v)
		case "swarm_raft_applied_index":
			applied = uint64(v)
		case `swarm_raft_state{state="Leader"}`:
			leader = v == 1
		}
	}
	return leader, term, applied, nil
}

func (c *mpCluster) isPaused(n *proctest.Node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[n.Name]
}

// watchLeaders polls every live manager's Raft state until ctx ends and
// records who led in which term. One scrape reads the state and the term
// one after the other, so a leader stepping down between the two could
// be seen as leading the next term: in practice a window of microseconds.
func (c *mpCluster) watchLeaders(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		managers := append([]*proctest.Node(nil), c.managers...) // TestDiskFaults replaces one
		c.mu.Unlock()
		for _, m := range managers {
			if !m.Running() || c.isPaused(m) {
				continue
			}
			if leader, term, _, err := c.raftStatus(m); err == nil && leader {
				c.terms.observe(term, m.Name)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leader returns the live manager that says it leads in the highest term.
func (c *mpCluster) leader(timeout time.Duration) *proctest.Node {
	deadline := time.Now().Add(timeout)
	for {
		var best *proctest.Node
		var bestTerm uint64
		for _, m := range c.managers {
			if !m.Running() || c.isPaused(m) {
				continue
			}
			if leader, term, _, err := c.raftStatus(m); err == nil && leader && (best == nil || term > bestTerm) {
				best, bestTerm = m, term
			}
		}
		if best != nil || time.Now().After(deadline) {
			return best
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *mpCluster) restartManager(m *proctest.Node) {
	if !m.Running() {
		m.Restart("--no-agent")
		waitStarted(m)
	}
}

// waitStarted waits, for at most 5 s, until a restarted manager answers
// /_ping (which needs no quorum): a restart is over once the process runs.
// A SIGTERM that reaches a process before its runtime has even run main
// (the next fault picked the same manager 5 ms later, seed 116753211872)
// kills it by Go's default action, which no program can prevent.
func waitStarted(m *proctest.Node) {
	cl := m.Client()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && m.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := cl.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inject starts fault f and returns what it did and how to heal it.
func (c *mpCluster) inject(f fault) (string, func(), error) {
	leader := c.leader(2 * time.Second)
	var live, followers []*proctest.Node
	for _, m := range c.managers {
		if m.Running() && !c.isPaused(m) {
			live = append(live, m)
			if m != leader {
				followers = append(followers, m)
			}
		}
	}
	note := func(m *proctest.Node) string {
		if m == leader {
			return " (leader)"
		}
		return ""
	}
	switch f.Kind {
	case faultKillLeader, faultKillFollower, faultRestart, faultPause, faultPauseLeader, faultFreezeLeader:
		if len(live) == 0 {
			return "no live manager", func() {}, nil
		}
		target := pick(live, f.Pick)
		if (f.Kind == faultKillLeader || f.Kind == faultPauseLeader || f.Kind == faultFreezeLeader) && leader != nil {
			target = leader
		} else if f.Kind == faultKillFollower && len(followers) > 0 {
			target = pick(followers, f.Pick)
		}
		switch f.Kind {
		case faultRestart:
			err := target.Stop(15 * time.Second)
			c.restartManager(target)
			return "restarted " + target.Name + note(target), func() {}, err
		case faultPause, faultPauseLeader, faultFreezeLeader:
			var term uint64
			if target == leader {
				_, term, _, _ = c.raftStatus(target)
			}
			c.mu.Lock()
			c.paused[target.Name] = true
			c.mu.Unlock()
			target.Pause()
			var probe *freezeProbe
			if target == leader && term > 0 && len(followers) > 0 {
				// Write through a follower while the leader is frozen.
				names := fmt.Sprintf("rbfreeze%d-%d", c.cfg.Seed%100000, len(c.probes))
				probe = c.startFreezeProbe(target, pick(followers, f.Pick), term, time.Now(), names)
				c.probes = append(c.probes, probe)
			}
			return "SIGSTOP " + target.Name + note(target), func() {
				if probe != nil {
					probe.thawedAt = time.Now()
				}
				target.Resume()
				c.mu.Lock()
				delete(c.paused, target.Name)
				c.mu.Unlock()
			}, nil
		}
		target.Kill()
		return "kill -9 " + target.Name + note(target), func() { c.restartManager(target) }, nil
	case faultKillWorker:
		w := pick(c.workers, f.Pick)
		w.Kill()
		return "kill -9 " + w.Name, func() {
			if !w.Running() {
				w.Restart()
			}
		}, nil
	case faultKillContainers:
		w := pick(c.workers, f.Pick)
		ids, err := c.containers(w.Name)
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// A container may stop or go between the list and the kill.
			if e := c.docker.ContainerKill(ctx, id, "KILL"); e != nil && err == nil && !strings.Contains(e.Error(), "is not running") &&
				!strings.Contains(e.Error(), "No such container") {
				err = e
			}
			cancel()
		}
		return fmt.Sprintf("docker kill %d containers of %s", len(ids), w.Name), func() {}, err
	case faultPartitionLeader, faultPartitionFollower, faultIsolateWorker:
		if c.net == nil {
			return "", func() {}, fmt.Errorf("fault %s needs iptables partitions, unavailable here", f.Kind)
		}
		var target *proctest.Node
		var others []*proctest.Node
		switch f.Kind {
		case faultPartitionLeader:
			target = leader
			if target == nil {
				target = pick(c.managers, f.Pick)
			}
		case faultPartitionFollower:
			target = pick(c.managers, f.Pick)
			if len(followers) > 0 {
				target = pick(followers, f.Pick)
			}
		case faultIsolateWorker:
			target = pick(c.workers, f.Pick)
		}
		var names []string
		var errs []error
		for _, m := range c.managers {
			if m != target {
				others = append(others, m)
				names = append(names, m.Name)
				errs = append(errs, c.net.cut(target, m))
			}
		}
		heal := func() {
			if err := c.net.heal(); err != nil {
				c.t.Errorf("healing %s: %v", f.Kind, err)
			}
		}
		return fmt.Sprintf("iptables DROP between %s%s and %s", target.Name, note(target), strings.Join(names, ", ")), heal, errors.Join(errs...)
	}
	return "", func() {}, fmt.Errorf("fault %s is not supported with processes", f.Kind)
}

// containers lists the running containers of a worker.
func (c *mpCluster) containers(worker string) ([]string, error) {
	list, err := c.runningContainers(worker)
	var ids []string
	for _, ct := range list {
		ids = append(ids, ct.ID)
	}
	return ids, err
}

func (c *mpCluster) runningContainers(worker string) ([]container.Summary, error) {
	id := c.nodeIDs[worker]
	if id == "" {
		return nil, fmt.Errorf("no node ID for %s", worker)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelNodeID+"="+id))})
}

// healAll heals partitions, resumes paused processes and restarts dead
// ones.
func (c *mpCluster) healAll() {
	if c.net != nil {
		if err := c.net.heal(); err != nil {
			c.t.Errorf("healing partitions: %v", err)
		}
	}
	for _, m := range c.managers {
		if c.isPaused(m) {
			m.Resume()
			c.mu.Lock()
			delete(c.paused, m.Name)
			c.mu.Unlock()
		}
		c.restartManager(m)
	}
	for _, w := range c.workers {
		if !w.Running() {
			w.Restart()
		}
	}
	for _, m := range c.managers {
		m.WaitReady(60 * time.Second)
	}
}

// readState reads services and tasks through a manager.
func (c *mpCluster) readState() ([]serviceView, []taskView, error) {
	cl := c.clients[c.managers[0].Name]
	if l := c.leader(5 * time.Second); l != nil {
		cl = c.clients[l.Name]
	}
	var svcs []swarm.Service
	var tasks []swarm.Task
	if err := c.get(context.Background(), cl, "/services", &svcs); err != nil {
		return nil, nil, err
	}
	if err := c.get(context.Background(), cl, "/tasks", &tasks); err != nil {
		return nil, nil, err
	}
	var sv []serviceView
	for _, s := range svcs {
		v := serviceView{ID: s.ID, Name: s.Spec.Name}
		if s.Spec.Mode.Replicated != nil && s.Spec.Mode.Replicated.Replicas != nil {
			v.Replicas = *s.Spec.Mode.Replicated.Replicas
		}
		sv = append(sv, v)
	}
	var tv []taskView
	for _, t := range tasks {
		desired, err1 := model.ParseTaskState(string(t.DesiredState))
		st, err2 := model.ParseTaskState(string(t.Status.State))
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, err
		}
		tv = append(tv, taskView{ID: t.ID, ServiceID: t.ServiceID, NodeID: t.NodeID, Slot: uint64(t.Slot), Desired: desired, State: st})
	}
	return sv, tv, nil
}

// containerProblems compares the containers running under the workers
// with the tasks the store says run there.
func (c *mpCluster) containerProblems(tasks []taskView) []string {
	want := map[string]bool{}
	for _, t := range tasks {
		if t.State == model.TaskStateRunning && t.Desired == model.TaskStateRunning {
			want[t.ID] = true
		}
	}
	var out []string
	have := map[string]int{}
	for _, w := range c.workers {
		list, err := c.runningContainers(w.Name)
		if err != nil {
			return []string{"listing containers: " + err.Error()}
		}
		for _, ct := range list {
			task := ct.Labels[labelTaskID]
			have[task]++
			if !want[task] {
				out = append(out, fmt.Sprintf("container %s on %s runs for task %s, which is not meant to run", short(ct.ID), w.Name, short(task)))
			}
		}
	}
	for id := range want {
		switch have[id] {
		case 0:
			out = append(out, fmt.Sprintf("task %s is RUNNING but no container runs it", short(id)))
		case 1:
		default:
			out = append(out, fmt.Sprintf("task %s has %d running containers", short(id), have[id]))
		}
	}
	sort.Strings(out)
	return out
}

// compareStores reads services, tasks and nodes through every manager
// and compares them; it retries while they differ (a manager may still be
// catching up), until timeout.
func (c *mpCluster) compareStores(timeout time.Duration) []string {
	type nodeSummary struct {
		ID      string
		Version uint64
		Spec    swarm.NodeSpec
		State   swarm.NodeState
		Role    swarm.NodeRole
	}
	return waitFor(timeout, func() []string {
		var first string
		var out []string
		var applied []string
		for i, m := range c.managers {
			var svcs []swarm.Service
			var tasks []swarm.Task
			var nodes []swarm.Node
			cl := c.clients[m.Name]
			if err := errors.Join(c.get(context.Background(), cl, "/services", &svcs), c.get(context.Background(), cl, "/tasks", &tasks),
				c.get(context.Background(), cl, "/nodes", &nodes)); err != nil {
				return []string{err.Error()}
			}
			sort.Slice(svcs, func(i, j int) bool { return svcs[i].ID < svcs[j].ID })
			sort.Slice(tasks, func(i, j int) bool { return tasks[i].ID < tasks[j].ID })
			var ns []nodeSummary
			for _, n := range nodes {
				ns = append(ns, nodeSummary{n.ID, n.Version.Index, n.Spec, n.Status.State, n.Spec.Role})
			}
			sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
			b, _ := json.Marshal([]any{svcs, tasks, ns})
			_, _, idx, _ := c.raftStatus(m)
			applied = append(applied, fmt.Sprintf("%s applied %d", m.Name, idx))
			if i == 0 {
				first = string(b)
			} else if string(b) != first {
				out = append(out, fmt.Sprintf("%s and %s differ: %s", c.managers[0].Name, m.Name, firstDiff([]byte(strings.ReplaceAll(first, "},{", "},\n{")),
					[]byte(strings.ReplaceAll(string(b), "},{", "},\n{")))))
			}
		}
		if len(out) > 0 {
			out = append(out, strings.Join(applied, ", "))
		}
		return out
	})
}

// cleanup removes the services, waits for their containers to stop, then
// kills the processes and removes whatever container of ours is left.
func (c *mpCluster) cleanup() {
	if c.net != nil {
		_ = c.net.heal()
	}
	for _, m := range c.managers {
		if c.isPaused(m) {
			m.Resume()
		}
	}
	var svcs []swarm.Service
	for _, m := range c.managers {
		if m.Running() && c.get(context.Background(), c.clients[m.Name], "/services", &svcs) == nil {
			for _, s := range svcs {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c.clients[m.Name].call(ctx, http.MethodDelete, "/services/"+s.ID, nil)
				cancel()
			}
			break
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, w := range c.workers {
			ids, _ := c.containers(w.Name)
			n += len(ids)
		}
		if n == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, n := range append(append([]*proctest.Node{}, c.workers...), c.managers...) {
		n.Kill()
	}
	for _, w := range c.workers {
		id := c.nodeIDs[w.Name]
		if id == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		list, err := c.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelNodeID+"="+id))})
		if err != nil {
			c.t.Logf("listing containers of %s: %v", w.Name, err)
		}
		for _, ct := range list {
			if err := c.docker.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true}); err != nil {
				c.t.Logf("removing container %s: %v", short(ct.ID), err)
			}
		}
		cancel()
	}
}

// runMultiProcess runs one seed of the multi-process level.
func runMultiProcess(t *testing.T, cfg mpConfig, plan []fault, np *netPartitioner) *runResult {
	docker := testimage.Client(t)
	ctx := context.Background()
	image, err := testimage.EnsureVariant(ctx, docker, testimage.NoHealthcheck)
	if err != nil {
		t.Fatal(err)
	}
	h := newHistory()
	events := &eventLog{start: h.start}
	r := &runResult{Level: "multiprocess", Seed: cfg.Seed, Config: cfg, Plan: plan, Faults: faultCounts{},
		Replay: fmt.Sprintf("go test ./robustness/ -run 'TestMultiProcess$' -mp-seed=%d -mp-duration=%v", cfg.Seed, cfg.Duration)}
	c := newMPCluster(t, cfg, docker, events, np)
	c.image = image
	events.add("cluster up: %d managers, %d workers %v; partitions: %s", cfg.Managers, cfg.Workers, c.nodeIDs, cfg.Partitions)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		c.watchLeaders(watchCtx)
	}()

	clients := c.apiClients()
	names := serviceNames(fmt.Sprintf("rb%d", cfg.Seed%100000), cfg.Names)
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	lc := loadConfig{Clients: cfg.Clients, Names: names, Image: image, MaxReplicas: cfg.MaxReplicas,
		OpTimeout: 10 * time.Second, Think: 50 * time.Millisecond, ReadEvery: 300 * time.Millisecond, MaxProbes: 8}
	go func() {
		defer close(loadDone)
		runLoad(loadCtx, cfg.Seed, lc, clients, h)
	}()
	loadStart := time.Now()
	for _, f := range plan {
		time.Sleep(time.Until(loadStart.Add(f.At)))
		desc, heal, err := c.inject(f)
		switch {
		case err != nil && strings.Contains(err.Error(), "did not stop within"):
			// SIGTERM waits for raft.Node.Shutdown, which waits for the
			// leader hooks: one stuck in Propose keeps the process up.
			regressionOf(r, "TestBugProposeHangsAfterShutdown", fmt.Sprintf("%s: %v (killed)", f.Kind, err))
		case err != nil:
			r.Problems = append(r.Problems, fmt.Sprintf("injecting %s: %v", f.Kind, err))
		}
		r.Faults[f.Kind]++
		events.add("FAULT %s: %s", f.Kind, desc)
		time.Sleep(f.Hold)
		heal()
		events.add("healed %s", f.Kind)
	}
	time.Sleep(time.Until(loadStart.Add(cfg.Duration)))
	c.healAll()
	stopLoad()
	<-loadDone
	events.add("load stopped, every fault healed")

	c.checkFreezeProbes(r)
	events.add("freeze probes checked")
	reads := finalReads(clients, names, h, 60*time.Second)
	r.History = h.records()
	checkHistory(r, reads)
	events.add("history checked: %s", r.Lin)

	problems := waitFor(60*time.Second, func() []string {
		svcs, tasks, err := c.readState()
		if err != nil {
			return []string{"reading the state: " + err.Error()}
		}
		p := convergenceProblems(svcs, tasks)
		if len(p) == 0 {
			p = c.containerProblems(tasks)
		}
		return p
	})
	for _, p := range problems {
		r.Problems = append(r.Problems, "tasks and containers did not converge within 60 s: "+p)
	}
	events.add("tasks and containers checked")
	r.Problems = append(r.Problems, c.compareStores(30*time.Second)...)
	stopWatch()
	<-watchDone
	r.Problems = append(r.Problems, c.terms.conflicts()...)
	c.terms.mu.Lock()
	for _, ids := range c.terms.leaders {
		r.Leaderships += len(ids)
	}
	c.terms.mu.Unlock()
	r.Terms = c.terms.String()
	events.add("stores compared")
	r.Events = events.all()
	r.Logs = map[string]string{}
	for _, n := range append(append([]*proctest.Node{}, c.managers...), c.workers...) {
		b, _ := os.ReadFile(n.LogPath)
		r.Logs[n.Name] = string(b)
	}
	r.count()
	if r.Acked == 0 {
		r.Problems = append(r.Problems, "no write was acknowledged: the load tested nothing")
	}
	return r
}

// TestMultiProcess runs the multi-process level once, with a fresh seed
// or the one given with -mp-seed.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process level skipped in -short mode")
	}
	seed := *flagMPSeed
	if seed == 0 {
		seed = newSeed()
	}
	kinds := multiProcessKinds
	if only := onlyFaults(); len(only) > 0 {
		kinds = only
	}
	// Partitions need root, cgroup v2 and iptables' cgroup match: without
	// them the run goes on with the other faults, and says so.
	np, why := newNetPartitioner(t)
	partitions := "iptables DROP rules matched by cgroup (chain " + partitionChainPrefix + strconv.Itoa(os.Getpid()) + ")"
	if np == nil {
		partitions = "unavailable: " + why
		var left []faultKind
		for _, k := range kinds {
			if !partitionKinds[k] {
				left = append(left, k)
			}
		}
		if len(left) < len(kinds) {
			t.Logf("network partition faults left out of the schedule: %s", why)
		}
		if len(left) == 0 {
			t.Skipf("every fault asked for needs network partitions, which this machine cannot make: %s", why)
		}
		kinds = left
	}
	cfg, plan := multiProcessConfig(seed, *flagMPDur, kinds)
	cfg.Partitions = partitions
	t.Logf("seed %d: %d managers, %d workers, %d clients on %d services, %d faults planned; partitions: %s",
		seed, cfg.Managers, cfg.Workers, cfg.Clients, cfg.Names, len(plan), partitions)
	start := time.Now()
	r := runMultiProcess(t, cfg, plan, np)
	addTotals(r, time.Since(start))
	finish(t, r)
}
