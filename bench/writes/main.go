// Command writes measures the write path: service updates through the
// Docker API of three manager processes on loopback, from one client and
// from many concurrent clients spread over the managers.
//
//	go run ./bench/writes                                 # 1 and 64 clients, 10 s, 3 runs each
//	go run ./bench/writes -clients 1,8,64 -duration 5s
//	go run ./bench/writes -mode label                     # a label change: no orchestrator work
//	go run ./bench/writes -pprof /tmp/writesprof          # CPU profiles of the managers
//	go run ./bench/writes -clients 1,4 -duration 2s -runs 1   # smoke test
//
// Each client owns a service (replicas 0) and loops: GET /services/{id}
// for its version, then POST /services/{id}/update?version=N with the
// replica count toggled between 0 and 1 (-mode scale, what `docker service
// scale` sends) or a label changed (-mode label). The update's latency is
// measured from the request to the answer: the API has proposed the write,
// Raft has committed it on a quorum (fsync on the leader and a follower)
// and the leader's store has applied it. Client i talks to manager
// i mod 3, so two thirds of the writes of a many-client run are forwarded
// by a follower to the leader; the single client talks to the leader
// (-single-via follower to go through a follower).
//
// Besides writes/s and the p50/p99 latency, each phase reports the CPU
// each manager used per write (/proc/PID/stat), the managers' own view of
// the Raft commit time (swarm_raft_commit_seconds from GET /metrics) and
// the fsync latency of the disk the Raft logs are on, measured in the
// same run, the floor of any durable write.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/procstat"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/proctest"
)

func main() {
	clientList := flag.String("clients", "1,64", "comma-separated client counts, one phase each")
	duration := flag.Duration("duration", 10*time.Second, "length of one run")
	runs := flag.Int("runs", 3, "runs per phase")
	mode := flag.String("mode", "scale", "scale (toggle replicas 0/1) or label (change a label)")
	singleVia := flag.String("single-via", "leader", "manager a single client writes through: leader or follower")
	pprofDir := flag.String("pprof", "", "write CPU and allocation profiles of the leader and a follower during the first run of the last phase to this directory")
	flag.Parse()

	var phases []int
	for _, s := range strings.Split(*clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "-clients: bad count %q\n", s)
			os.Exit(2)
		}
		phases = append(phases, n)
	}
	if *mode != "scale" && *mode != "label" {
		fmt.Fprintf(os.Stderr, "-mode: want scale or label\n")
		os.Exit(2)
	}

	r := benchmain.Start("writes")
	defer r.Close()
	c := cluster.Start(r, cluster.Options{Managers: 3, NoAgent: true, Profile: *pprofDir != ""})
	leader := c.Leader()
	follower := c.Followers(leader)[0]
	order := append([]*proctest.Node{leader}, c.Followers(leader)...)
	benchmain.Logf("cluster up: leader %s", leader.Name)

	fsync := measureFsync(r, c.Managers[0].DataDir, 300)

	maxClients := 0
	for _, p := range phases {
		maxClients = max(maxClients, p)
	}
	ids := make([]string, maxClients)
	zero := uint64(0)
	for i := range ids {
		resp, err := c.Client(leader).ServiceCreate(context.Background(), swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: fmt.Sprintf("w%d", i)},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "shoal/demoapp:latest"}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
		}, swarm.ServiceCreateOptions{})
		if err != nil {
			r.Fatalf("creating service %d: %v", i, err)
		}
		ids[i] = resp.ID
	}

	idle0 := usage(order)
	time.Sleep(3 * time.Second)
	idle1 := usage(order)

	fmt.Printf("\n## writes: mode %s, %v per run, %d runs per phase\n\n", *mode, *duration, *runs)
	fmt.Printf("disk fsync (4 KiB write + fdatasync in the managers' data dir, %d times): p50 %s, p99 %s\n\n",
		fsync.N(), stats.Dur(stats.Seconds(fsync.Quantile(0.5))), stats.Dur(stats.Seconds(fsync.Quantile(0.99))))
	fmt.Printf("idle managers (no writes, 3 s): leader %.0f%%, followers %.0f%% and %.0f%% of a core\n\n",
		100*(idle1[0].CPU-idle0[0].CPU).Seconds()/3, 100*(idle1[1].CPU-idle0[1].CPU).Seconds()/3, 100*(idle1[2].CPU-idle0[2].CPU).Seconds()/3)
	t := stats.NewTable("clients", "writes/s", "min..max", "p50", "min..max", "p99", "min..max", "conflicts")
	bd := stats.NewTable("clients", "API mean (leader)", "raft commit mean (leader)", "raft commit p99", "CPU/write: leader", "each follower", "bench", "run-queue wait/write: leader", "each follower", "others' CPU (cores)")
	failed := false
	for pi, k := range phases {
		var sRate, sP50, sP99, sCommit, sCommit99, sAPI, sCPUL, sCPUF, sCPUB, sWaitL, sWaitF, sOthers stats.Sample
		conflicts := 0
		for run := range *runs {
			var targets []*proctest.Node
			if k == 1 {
				if *singleVia == "follower" {
					targets = []*proctest.Node{follower}
				} else {
					targets = []*proctest.Node{leader}
				}
			} else {
				for i := range k {
					targets = append(targets, order[i%len(order)])
				}
			}
			var prof chan struct{}
			if *pprofDir != "" && pi == len(phases)-1 && run == 0 {
				prof = make(chan struct{})
				go func() {
					defer close(prof)
					profile(c, []*proctest.Node{leader, follower}, *pprofDir, fmt.Sprintf("writes-%d", k), *duration)
				}()
			}
			before := usage(order)
			sys0, _ := procstat.ReadSystem()
			mBefore, _ := cluster.Scrape(leader)
			res, err := phase(targets, ids[:k], *mode, *duration)
			if err != nil {
				fmt.Printf("FAIL: %d clients: %v\n", k, err)
				failed = true
				break
			}
			after := usage(order)
			sys1, _ := procstat.ReadSystem()
			mAfter, _ := cluster.Scrape(leader)
			if prof != nil {
				<-prof
			}
			n := float64(res.lat.N())
			if n == 0 {
				fmt.Printf("FAIL: %d clients: no write succeeded\n", k)
				failed = true
				break
			}
			sRate.Add(n / res.elapsed.Seconds())
			sP50.Add(res.lat.Quantile(0.5))
			sP99.Add(res.lat.Quantile(0.99))
			conflicts += res.conflicts
			commit := cluster.HistogramDelta(mBefore, mAfter, "swarm_raft_commit_seconds", "")
			sCommit.Add(commit.Mean())
			sCommit99.Add(commit.Quantile(0.99))
			api := cluster.HistogramDelta(mBefore, mAfter, "shoal_api_request_duration_seconds", "/update")
			sAPI.Add(api.Mean())
			sCPUL.Add((after[0].CPU - before[0].CPU).Seconds() / n)
			sWaitL.Add((after[0].RunDelay - before[0].RunDelay).Seconds() / n)
			var fcpu, fwait, ours time.Duration
			for i := 1; i < len(order); i++ {
				fcpu += after[i].CPU - before[i].CPU
				fwait += after[i].RunDelay - before[i].RunDelay
			}
			for i := range after {
				ours += after[i].CPU - before[i].CPU
			}
			sCPUF.Add(fcpu.Seconds() / n / float64(len(order)-1))
			sWaitF.Add(fwait.Seconds() / n / float64(len(order)-1))
			sCPUB.Add((after[len(after)-1].CPU - before[len(before)-1].CPU).Seconds() / n)
			sOthers.Add((sys1.Busy - sys0.Busy - ours).Seconds() / res.elapsed.Seconds())
			benchmain.Logf("%d clients run %d: %.0f writes/s, p50 %s, p99 %s, %d conflicts, load %s",
				k, run+1, n/res.elapsed.Seconds(), stats.Dur(stats.Seconds(res.lat.Quantile(0.5))),
				stats.Dur(stats.Seconds(res.lat.Quantile(0.99))), res.conflicts, loadAvg())
		}
		if sRate.N() == 0 {
			continue
		}
		d := func(x float64) string { return stats.Dur(stats.Seconds(x)) }
		t.Row(k, stats.Num(sRate.Median()), sRate.Spread(stats.Num), d(sP50.Median()), sP50.Spread(d), d(sP99.Median()), sP99.Spread(d), conflicts)
		bd.Row(k, d(sAPI.Median()), d(sCommit.Median()), d(sCommit99.Median()), d(sCPUL.Median()), d(sCPUF.Median()), d(sCPUB.Median()),
			d(sWaitL.Median()), d(sWaitF.Median()), fmt.Sprintf("%.2f", sOthers.Median()))
	}
	t.Print(os.Stdout)
	fmt.Println("\n(p50/p99: update request to answer, as the client sees it)")
	fmt.Println("\nWhere the time goes (medians over the runs):")
	fmt.Println()
	bd.Print(os.Stdout)
	fmt.Println(`
(API mean: the leader's own histogram of its update handler, shoal_api_request_duration_seconds,
sum over count; raft commit: swarm_raft_commit_seconds on the leader, propose to applied, mean
and p99 interpolated in its buckets (0.5 ms doubling); CPU/write: CPU time
per successful write of the leader, of each follower and of this benchmark process; run-queue
wait/write: time their threads were runnable but had no CPU, /proc/PID/task/*/schedstat; others'
CPU: cores used by every other process on the machine during the run)`)
	if failed {
		r.Close()
		os.Exit(1)
	}
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// usage reads the managers' usage, and this process's last.
func usage(ms []*proctest.Node) []procstat.Usage {
	out := make([]procstat.Usage, 0, len(ms)+1)
	for _, m := range ms {
		out = append(out, cluster.Usage(m))
	}
	self, _ := procstat.Self()
	return append(out, self)
}

type phaseResult struct {
	lat       stats.Sample // seconds, successful updates
	conflicts int
	elapsed   time.Duration
}

// phase runs one client per service against the managers in targets
// (round robin) for d.
func phase(targets []*proctest.Node, ids []string, mode string, d time.Duration) (phaseResult, error) {
	var (
		mu       sync.Mutex
		res      phaseResult
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for i, id := range ids {
		m := targets[i%len(targets)]
		cl, err := cluster.NewClient(m)
		if err != nil {
			return res, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			lats, conflicts, err := client1(cl, id, mode, deadline)
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lats {
				res.lat.Add(l)
			}
			res.conflicts += conflicts
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("client %d via %s: %w", i, m.Name, err)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, firstErr
}

// client1 is one client's loop: read the service, update it.
func client1(cl *client.Client, id, mode string, deadline time.Time) (lats []float64, conflicts int, err error) {
	ctx := context.Background()
	for i := 0; time.Now().Before(deadline); i++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		svc, _, err := cl.ServiceInspectWithRaw(rctx, id, swarm.ServiceInspectOptions{})
		cancel()
		if err != nil {
			return lats, conflicts, fmt.Errorf("inspect: %w", err)
		}
		spec := svc.Spec
		switch mode {
		case "scale":
			n := uint64(0)
			if spec.Mode.Replicated.Replicas != nil && *spec.Mode.Replicated.Replicas == 0 {
				n = 1
			}
			spec.Mode.Replicated.Replicas = &n
		case "label":
			if spec.Labels == nil {
				spec.Labels = map[string]string{}
			}
			spec.Labels["bench.iteration"] = strconv.Itoa(i)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t0 := time.Now()
		_, err = cl.ServiceUpdate(wctx, id, svc.Version, spec, swarm.ServiceUpdateOptions{})
		lat := time.Since(t0)
		cancel()
		if err != nil {
			if strings.Contains(err.Error(), "update out of sequence") {
				// The orchestrator wrote the service in between: read again.
				conflicts++
				continue
			}
			return lats, conflicts, fmt.Errorf("update: %w", err)
		}
		lats = append(lats, lat.Seconds())
	}
	return lats, conflicts, nil
}

// measureFsync times n 4 KiB writes each followed by fdatasync in dir:
// the disk's durable-write floor, which every Raft commit pays at least
// once (on the leader and, in parallel, on a follower).
func measureFsync(r *proctest.Runner, dir string, n int) *stats.Sample {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		r.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var s stats.Sample
	for i := range n {
		if _, err := f.WriteAt(buf, int64(i%64)*4096); err != nil {
			r.Fatal(err)
		}
		t0 := time.Now()
		if err := fdatasync(f); err != nil {
			r.Fatal(err)
		}
		s.AddDur(time.Since(t0))
	}
	return &s
}

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// profile takes CPU and allocation profiles of the managers for d and
// prints the CPU profiles' tops.
func profile(c *cluster.Cluster, ms []*proctest.Node, dir, name string, d time.Duration) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		benchmain.Logf("pprof: %v", err)
		return
	}
	var wg sync.WaitGroup
	for i, m := range ms {
		role := []string{"leader", "follower"}[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(dir, name+"-cpu-"+role+".pprof")
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := filepath.Join(dir, name+"-allocs-"+role+".pprof")
				if err := c.Profile(m, "allocs", d-time.Second, a); err != nil {
					benchmain.Logf("pprof allocs %s: %v", m.Name, err)
				}
			}()
			if err := c.Profile(m, "profile", d-time.Second, p); err != nil {
				benchmain.Logf("pprof %s: %v", m.Name, err)
				return
			}
			out, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", p).CombinedOutput()
			fmt.Fprintf(os.Stderr, "==== %s\n%s\n", p, out)
		}()
	}
	wg.Wait()
}
