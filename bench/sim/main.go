// Command sim is the scale simulator: N simulated worker nodes in this
// process against a real cluster of three manager processes on loopback,
// measuring how fast a service of T replicas goes from `service create`
// to every task RUNNING, and what that costs the managers.
//
//	go run ./bench/sim -nodes 1000 -tasks 100000 -runs 3
//	go run ./bench/sim -nodes 10000 -tasks 10000 -runs 1
//	go run ./bench/sim -nodes 20 -tasks 200 -runs 1        # smoke test
//	go run ./bench/sim -nodes 1000 -tasks 100000 -runs 1 -pprof /tmp/simprof
//
// Each simulated node joins with the worker token through the CA join
// flow (its own key and certificate) and runs the real agent package: a
// mutual-TLS HTTP/2 session with the leader's dispatcher, heartbeats every
// second, batched status reports. Only the container engine is simulated
// (package internal/simnode): a task is running once Start has
// waited -start-delay. The managers are the real binaries, started with
// --no-agent by internal/proctest.
//
// Per run: the service is created through the leader's API; the run ends
// when a follower's `service ls` (GET /services?status=true, a
// linearizable read) counts T running tasks. Reported per run: that
// time, tasks/s, when the first task reached a node and when the last one
// started there, the CPU each manager used during the run (from
// /proc/PID/stat) and its RSS at the end (VmRSS, and the peak VmHWM from
// /proc/PID/status). The service is then removed and the next run starts
// once every simulated task has stopped.
//
// The program exits non-zero if any run fails or times out; -max-seconds
// and -max-rss make it fail when a target is missed (off by default).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/procstat"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/simnode"
)

func main() {
	nodes := flag.Int("nodes", 1000, "simulated worker nodes")
	tasks := flag.Int("tasks", 100000, "replicas of the service")
	runs := flag.Int("runs", 3, "runs (service create to all RUNNING) on the same cluster")
	startDelay := flag.Duration("start-delay", 0, "simulated container start time")
	joinPar := flag.Int("join-parallelism", 32, "joins in flight")
	timeout := flag.Duration("timeout", 10*time.Minute, "limit for one run")
	pprofDir := flag.String("pprof", "", "write CPU and heap profiles of the leader and a follower during the first run to this directory")
	profileSeconds := flag.Int("profile-seconds", 30, "length of the CPU profiles")
	maxSeconds := flag.Float64("max-seconds", 0, "fail if the median run takes longer (0: no check)")
	maxRSS := flag.Float64("max-rss-gib", 0, "fail if a manager's RSS exceeds this (0: no check)")
	raftProfile := flag.String("raft-profile", "lan", "the managers' --raft-profile (lan or wan)")
	watch := flag.Bool("events", false, "follow GET /events on a follower throughout and report the events' lag behind their commands")
	flag.Parse()

	r := benchmain.Start("sim")
	defer r.Close()
	benchmain.Logf("RLIMIT_NOFILE %d", benchmain.RaiseFileLimit())

	c := cluster.Start(r, cluster.Options{Managers: 3, NoAgent: true, Profile: *pprofDir != "",
		ExtraArgs: []string{"--raft-profile", *raftProfile}})
	leader := c.Leader()
	follower := c.Followers(leader)[0]
	benchmain.Logf("cluster up: leader %s, reading through %s", leader.Name, follower.Name)
	var ev *eventWatch
	if *watch {
		ev = watchEvents(c.Client(follower))
		ev.setPhase("join")
	}

	ctx := context.Background()
	dataDir := r.TempDir()
	t0 := time.Now()
	fleet, err := simnode.Join(ctx, simnode.Config{
		Managers: c.Addrs(), Token: c.WorkerToken, Nodes: *nodes,
		JoinParallelism: *joinPar, StartDelay: *startDelay, DataDir: dataDir,
	})
	if err != nil {
		r.Fatal(err)
	}
	joinTime := time.Since(t0)
	benchmain.Logf("%d nodes joined in %v (%.0f joins/s)", *nodes, joinTime.Round(time.Millisecond), float64(*nodes)/joinTime.Seconds())

	t0 = time.Now()
	fleet.Start(ctx, time.Duration(*nodes)*time.Millisecond)
	r.Cleanup(fleet.Stop)
	readCl := c.Client(follower)
	proctest.Eventually(r, 5*time.Minute, "every simulated node READY", func() error {
		return cluster.WorkersReady(readCl, *nodes)
	})
	readyTime := time.Since(t0)
	benchmain.Logf("%d sessions open, nodes READY in %v", *nodes, readyTime.Round(time.Millisecond))

	// Idle cost of the sessions: heartbeats only.
	idleFor := 5 * time.Second
	if *nodes < 100 {
		idleFor = time.Second
	}
	var idleProf chan struct{}
	if *pprofDir != "" {
		idleProf = make(chan struct{})
		go func() {
			defer close(idleProf)
			profileAs(c, leader, *pprofDir, "sim-idle-cpu-leader.pprof", idleFor)
		}()
	}
	idle := measureIdle(c, idleFor)
	if idleProf != nil {
		<-idleProf
	}
	self0, _ := procstat.Self()

	var sRun, sRate, sFirst, sLast, sRemove stats.Sample
	var sCPU, sRSS, sPeak [3]stats.Sample
	var sSelf, sOthers, sElections stats.Sample
	for i := range *runs {
		if ev != nil {
			ev.setPhase(fmt.Sprintf("run %d", i+1))
		}
		res := runOnce(r, c, leader, follower, fleet, *tasks, *timeout, i, *pprofDir, *profileSeconds, i == *runs-1)
		sRun.AddDur(res.total)
		sRate.Add(float64(*tasks) / res.total.Seconds())
		sFirst.AddDur(res.firstPrepare)
		sLast.AddDur(res.lastStart)
		sRemove.AddDur(res.remove)
		sElections.Add(float64(res.elections))
		sSelf.Add(res.self.Seconds() / res.total.Seconds())
		sOthers.Add(res.others.Seconds() / res.total.Seconds())
		for j := range 3 {
			sCPU[j].AddDur(res.cpu[j])
			sRSS[j].Add(float64(res.usage[j].RSS))
			sPeak[j].Add(float64(res.usage[j].PeakRSS))
		}
		benchmain.Logf("run %d: all %d RUNNING in %v (%.0f tasks/s); %d elections; first leader CPU %v; RSS %s / %s / %s; removed in %v",
			i+1, *tasks, res.total.Round(time.Millisecond), float64(*tasks)/res.total.Seconds(), res.elections, res.cpu[0].Round(10*time.Millisecond),
			stats.Bytes(float64(res.usage[0].RSS)), stats.Bytes(float64(res.usage[1].RSS)), stats.Bytes(float64(res.usage[2].RSS)),
			res.remove.Round(time.Millisecond))
	}
	self1, _ := procstat.Self()
	if ev != nil {
		ev.setPhase("end")
		time.Sleep(time.Second)
		ev.stop()
	}

	fmt.Printf("\n## sim: %d nodes x %d tasks, %d runs, start delay %v\n\n", *nodes, *tasks, *runs, *startDelay)
	fmt.Printf("setup: %d joins in %v (%.0f/s), all READY %v after the agents started; idle (heartbeats only) CPU: leader %.0f%%, followers %.0f%% and %.0f%% of a core\n\n",
		*nodes, joinTime.Round(time.Millisecond), float64(*nodes)/joinTime.Seconds(), readyTime.Round(time.Millisecond),
		idle[0]*100, idle[1]*100, idle[2]*100)
	t := stats.NewTable("metric", "median", "min..max", "target")
	t.Row("create -> all RUNNING", stats.Dur(sRun.MedianDur()), sRun.SpreadDur(), targetTime(*nodes, *tasks))
	t.Row("tasks/s", stats.Num(sRate.Median()), sRate.Spread(stats.Num), "")
	t.Row("create -> first task on a node", stats.Dur(sFirst.MedianDur()), sFirst.SpreadDur(), "")
	t.Row("create -> last task started on its node", stats.Dur(sLast.MedianDur()), sLast.SpreadDur(), "")
	t.Row("service rm -> all stopped", stats.Dur(sRemove.MedianDur()), sRemove.SpreadDur(), "")
	t.Row("leader elections during the run", stats.Num(sElections.Median()), sElections.Spread(stats.Num), "0")
	for j, name := range []string{"first leader", "follower 1", "follower 2"} {
		t.Row(name+" CPU during the run", stats.Dur(sCPU[j].MedianDur()), sCPU[j].SpreadDur(), "")
		t.Row(name+" RSS at the end", stats.Bytes(sRSS[j].Median()), sRSS[j].Spread(stats.Bytes), "< 1.5 GiB")
		t.Row(name+" peak RSS", stats.Bytes(sPeak[j].Median()), sPeak[j].Spread(stats.Bytes), "")
	}
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
	t.Row("simulator process CPU (of one core)", pct(sSelf.Median()), sSelf.Spread(pct), "")
	t.Row("other processes' CPU (of one core)", pct(sOthers.Median()), sOthers.Spread(pct), "")
	t.Print(os.Stdout)
	fmt.Printf("\nsimulator process: CPU %v over the runs, RSS %s (peak %s)\n",
		(self1.CPU - self0.CPU).Round(10*time.Millisecond), stats.Bytes(float64(self1.RSS)), stats.Bytes(float64(self1.PeakRSS)))
	if ev != nil {
		t, peak, err := ev.table()
		fmt.Printf("\nGET /events on a follower (lag: arrival minus the command's time; each run covers create, all RUNNING and rm):\n\n")
		t.Print(os.Stdout)
		fmt.Printf("\npeak: %d events in one second; stream error: %v\n", peak, err)
	}

	failed := false
	if *maxSeconds > 0 && sRun.Median() > *maxSeconds {
		fmt.Printf("FAIL: median %v over -max-seconds %v\n", sRun.MedianDur(), *maxSeconds)
		failed = true
	}
	for j := range 3 {
		if *maxRSS > 0 && sPeak[j].Max() > *maxRSS*(1<<30) {
			fmt.Printf("FAIL: manager %d peak RSS %s over -max-rss-gib %v\n", j+1, stats.Bytes(sPeak[j].Max()), *maxRSS)
			failed = true
		}
	}
	if failed {
		r.Close()
		os.Exit(1)
	}
}

func targetTime(nodes, tasks int) string {
	if nodes == 1000 && tasks == 100000 {
		return "< 30 s"
	}
	return ""
}

// measureIdle returns each manager's CPU use, in cores, over d.
func measureIdle(c *cluster.Cluster, d time.Duration) [3]float64 {
	before := c.ManagerUsage()
	time.Sleep(d)
	after := c.ManagerUsage()
	var out [3]float64
	for i := range min(3, len(before)) {
		out[i] = (after[i].CPU - before[i].CPU).Seconds() / d.Seconds()
	}
	return out
}

type result struct {
	total, firstPrepare, lastStart, remove time.Duration
	// self is this process's CPU during the run, others that of every
	// process but the managers and this one (the machine is shared).
	self, others time.Duration
	// elections counts the managers that became leader during the run.
	elections int
	cpu       [3]time.Duration
	usage     [3]procstat.Usage
}

func runOnce(r *proctest.Runner, c *cluster.Cluster, leader, follower *proctest.Node, fleet *simnode.Fleet,
	tasks int, timeout time.Duration, run int, pprofDir string, profileSeconds int, last bool) result {
	// Managers in leader, follower, other-follower order.
	order := []*proctest.Node{leader, follower}
	for _, m := range c.Managers {
		if m != leader && m != follower {
			order = append(order, m)
		}
	}
	ctx := context.Background()
	readCl := c.Client(follower)
	name := fmt.Sprintf("sim%d", run)
	spec := cluster.ReplicatedSpec(name, "shoal/demoapp:latest", uint64(tasks))
	var before [3]procstat.Usage
	for i, m := range order {
		before[i] = cluster.Usage(m)
	}
	self0, _ := procstat.Self()
	sys0, _ := procstat.ReadSystem()
	elections0 := elections(c)
	startedBefore := fleet.Counters.Started.Load()
	fleet.Counters.Reset()

	profDone := make(chan struct{})
	if pprofDir != "" && run == 0 {
		go func() {
			defer close(profDone)
			profile(c, order[:2], pprofDir, time.Duration(profileSeconds)*time.Second)
		}()
	} else {
		close(profDone)
	}

	t0 := time.Now()
	resp, err := c.Client(leader).ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		r.Fatalf("service create: %v", err)
	}
	deadline := t0.Add(timeout)
	// Wait on the simulated engines first (free), then on the cluster's
	// own view, so the polling does not load the managers for long.
	for fleet.Counters.Started.Load()-startedBefore < int64(tasks) {
		if time.Now().After(deadline) {
			r.Fatalf("run %d: after %v only %d of %d tasks started on their nodes", run+1, timeout, fleet.Counters.Started.Load()-startedBefore, tasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var total time.Duration
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		running, err := cluster.RunningTasks(ctx, readCl, resp.ID)
		cancel()
		if err == nil && running >= uint64(tasks) {
			total = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			r.Fatalf("run %d: after %v the cluster shows %d of %d tasks running (err %v)", run+1, timeout, running, tasks, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var res result
	res.total = total
	res.firstPrepare = fleet.Counters.FirstPrepare().Sub(t0)
	res.lastStart = fleet.Counters.LastStart().Sub(t0)
	self1, _ := procstat.Self()
	sys1, _ := procstat.ReadSystem()
	res.elections = elections(c) - elections0
	res.self = self1.CPU - self0.CPU
	res.others = sys1.Busy - sys0.Busy - res.self
	for i, m := range order {
		res.usage[i] = cluster.Usage(m)
		res.cpu[i] = res.usage[i].CPU - before[i].CPU
		res.others -= res.cpu[i]
	}
	<-profDone

	t1 := time.Now()
	if err := c.Client(leader).ServiceRemove(ctx, resp.ID); err != nil {
		r.Fatalf("service rm: %v", err)
	}
	for fleet.Counters.Live() > 0 {
		if time.Since(t1) > timeout {
			r.Fatalf("run %d: %d simulated tasks still running %v after service rm", run+1, fleet.Counters.Live(), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.remove = time.Since(t1)
	if !last {
		// Let the reaper and the last status writes finish before the
		// next run.
		time.Sleep(3 * time.Second)
	}
	return res
}

// elections counts "entering leader state" in the managers' logs.
func elections(c *cluster.Cluster) int {
	n := 0
	for _, m := range c.Managers {
		n += strings.Count(m.Log(), "entering leader state")
	}
	return n
}

// profileAs takes one CPU profile of m into dir/name and prints its top.
func profileAs(c *cluster.Cluster, m *proctest.Node, dir, name string, d time.Duration) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		benchmain.Logf("pprof: %v", err)
		return
	}
	p := filepath.Join(dir, name)
	if err := c.Profile(m, "profile", d, p); err != nil {
		benchmain.Logf("pprof %s: %v", m.Name, err)
		return
	}
	out, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", p).CombinedOutput()
	fmt.Fprintf(os.Stderr, "==== %s\n%s\n", p, out)
}

// profile takes CPU profiles of the managers during the run, then heap
// profiles, and prints the top of each CPU profile.
func profile(c *cluster.Cluster, ms []*proctest.Node, dir string, d time.Duration) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		benchmain.Logf("pprof: %v", err)
		return
	}
	done := make(chan string, len(ms))
	for i, m := range ms {
		role := []string{"leader", "follower"}[i]
		go func() {
			p := filepath.Join(dir, "sim-cpu-"+role+".pprof")
			if err := c.Profile(m, "profile", d, p); err != nil {
				benchmain.Logf("pprof %s: %v", m.Name, err)
				done <- ""
				return
			}
			_ = c.Profile(m, "heap", 0, filepath.Join(dir, "sim-heap-"+role+".pprof"))
			done <- p
		}()
	}
	for range ms {
		if p := <-done; p != "" {
			out, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", p).CombinedOutput()
			fmt.Fprintf(os.Stderr, "==== %s\n%s\n", p, out)
		}
	}
}
