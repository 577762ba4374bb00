// Command restart measures how fast a manager holding a large state comes
// back: a manager of a three-manager cluster holding -tasks running tasks
// (on simulated nodes, see bench/sim) is killed with SIGKILL and started
// again with `manager run`; the time is from the process start to its
// first successful read, GET /services?status=true (`docker service ls`,
// a linearizable read that also counts the 100,000 tasks).
//
//	go run ./bench/restart                                   # 100,000 tasks on 200 nodes, 5 restarts, log and snapshot
//	go run ./bench/restart -tasks 2000 -nodes 20 -runs 1 -snapshot=false   # smoke test
//	go run ./bench/restart -who leader
//
// Two states are measured. "log": right after the tasks run, the Raft log
// holds every write since the cluster began and no snapshot exists yet
// (state/raft snapshots after 8,192 new entries): the restarted manager
// replays the whole log. "snapshot" (-snapshot): the benchmark then makes
// small writes (label changes of another service) until the restarted
// manager has taken a snapshot, so it restores the snapshot and replays
// only the entries after it. Both report the size of the Raft data on
// disk: the log (raft.db) and the snapshot.
//
// -who follower (default) restarts a follower; -who leader kills the
// leader, so the restart also includes an election among the other two
// and the killed manager comes back as a follower.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	tasks := flag.Int("tasks", 100000, "running tasks the cluster holds")
	nodes := flag.Int("nodes", 200, "simulated nodes running them")
	runs := flag.Int("runs", 5, "restarts per state")
	who := flag.String("who", "follower", "manager restarted: follower or leader")
	snapshot := flag.Bool("snapshot", true, "also measure restarts from a snapshot")
	maxRead := flag.Duration("max-read", 0, "fail if the median time to the first read is longer (0: no check)")
	flag.Parse()
	if *who != "follower" && *who != "leader" {
		fmt.Fprintln(os.Stderr, "-who: want follower or leader")
		os.Exit(2)
	}

	r := benchmain.Start("restart")
	defer r.Close()
	benchmain.RaiseFileLimit()
	c := cluster.Start(r, cluster.Options{Managers: 3, NoAgent: true})
	ctx := context.Background()
	fleet, err := simnode.Join(ctx, simnode.Config{Managers: c.Addrs(), Token: c.WorkerToken, Nodes: *nodes, DataDir: r.TempDir()})
	if err != nil {
		r.Fatal(err)
	}
	fleet.Start(ctx, time.Duration(*nodes)*time.Millisecond)
	r.Cleanup(fleet.Stop)
	leader := c.Leader()
	proctest.Eventually(r, 5*time.Minute, "simulated nodes READY", func() error {
		return cluster.WorkersReady(c.Client(leader), *nodes)
	})
	t0 := time.Now()
	resp, err := c.Client(leader).ServiceCreate(ctx, cluster.ReplicatedSpec("big", "shoal/demoapp:latest", uint64(*tasks)), swarm.ServiceCreateOptions{})
	if err != nil {
		r.Fatal(err)
	}
	if err := cluster.WaitRunning(c.Client(leader), resp.ID, uint64(*tasks), time.Second, 30*time.Minute); err != nil {
		r.Fatal(err)
	}
	benchmain.Logf("%d tasks running on %d simulated nodes after %v", *tasks, *nodes, time.Since(t0).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // the last status writes

	type phaseResult struct {
		name                 string
		first, full, rejoin  stats.Sample
		logSize, snapSize    int64
		rss                  stats.Sample
		firstComplete, count int
	}
	var phases []*phaseResult
	measurePhase := func(name string) {
		p := &phaseResult{name: name}
		phases = append(phases, p)
		for run := range *runs {
			c.WaitReachable(2 * time.Minute)
			target := pick(c, *who)
			p.logSize = fileSize(filepath.Join(target.DataDir, "raft", "raft.db"))
			p.snapSize = cluster.DirSize(filepath.Join(target.DataDir, "raft", "snapshots"))
			target.Kill()
			if *who == "leader" {
				// Let the others elect a leader first: this measures the
				// restart, not the election.
				c.Leader()
			}
			first, full, complete := restart(r, c, target, resp.ID, uint64(*tasks))
			p.first.AddDur(first)
			p.full.AddDur(full)
			p.count++
			if complete {
				p.firstComplete++
			}
			u, _ := procstat.Read(target.PID())
			p.rss.Add(float64(u.RSS))
			benchmain.Logf("%s run %d: %s restarted; first read after %v, read counting all %d tasks after %v; RSS %s",
				name, run+1, target.Name, first.Round(time.Millisecond), *tasks, full.Round(time.Millisecond), stats.Bytes(float64(u.RSS)))
		}
	}
	measurePhase("log")
	if *snapshot {
		forceSnapshots(r, c, 10*time.Minute)
		measurePhase("snapshot")
	}

	fmt.Printf("\n## restart: a %s of 3 managers holding %d running tasks (%d simulated nodes) restarts, %d runs per state\n\n", *who, *tasks, *nodes, *runs)
	t := stats.NewTable("state", "start -> first read", "min..max", "start -> read counting all tasks", "min..max", "raft.db", "snapshot", "RSS after", "target")
	for _, p := range phases {
		t.Row(p.name, stats.Dur(p.first.MedianDur()), p.first.SpreadDur(), stats.Dur(p.full.MedianDur()), p.full.SpreadDur(),
			stats.Bytes(float64(p.logSize)), stats.Bytes(float64(p.snapSize)), stats.Bytes(p.rss.Median()), "< 5 s")
	}
	t.Print(os.Stdout)
	for _, p := range phases {
		if *maxRead > 0 && p.full.MedianDur() > *maxRead {
			fmt.Printf("FAIL: %s: median %v over -max-read %v\n", p.name, p.full.MedianDur(), *maxRead)
			r.Close()
			os.Exit(1)
		}
	}
}

func pick(c *cluster.Cluster, who string) *proctest.Node {
	leader := c.Leader()
	if who == "leader" {
		return leader
	}
	return c.Followers(leader)[0]
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// restart starts the manager again and polls its API until a read
// succeeds, and until one counts want running tasks. complete says
// whether the first successful read already counted them all.
func restart(r *proctest.Runner, c *cluster.Cluster, n *proctest.Node, id string, want uint64) (first, full time.Duration, complete bool) {
	// A fresh client: the old one's connections died with the process.
	cl, err := cluster.NewClient(n)
	if err != nil {
		r.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	n.Restart(c.RestartArgs()...)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		running, err := cluster.RunningTasks(ctx, cl, id)
		cancel()
		if err == nil {
			if first == 0 {
				first = time.Since(start)
				complete = running >= want
			}
			if running >= want {
				full = time.Since(start)
				return first, full, complete
			}
		}
		if !n.Running() {
			r.Fatalf("%s exited after restart:\n%s", n.Name, n.Log())
		}
		if time.Since(start) > 5*time.Minute {
			r.Fatalf("%s: no complete read 5 min after restart (last: %d running, %v)", n.Name, running, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forceSnapshots writes small changes (labels of services of no
// replicas, from 8 writers) until every manager has a snapshot on disk.
// hashicorp/raft checks every 30 to 60 s whether 8,192 entries were added
// since the last snapshot.
func forceSnapshots(r *proctest.Runner, c *cluster.Cluster, timeout time.Duration) {
	ctx := context.Background()
	leader := c.Leader()
	have := func() bool {
		for _, m := range c.Managers {
			if cluster.DirSize(filepath.Join(m.DataDir, "raft", "snapshots")) == 0 {
				return false
			}
		}
		return true
	}
	start := time.Now()
	var writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		resp, err := c.Client(leader).ServiceCreate(ctx, cluster.ReplicatedSpec(fmt.Sprintf("snapshot-filler-%d", w), "shoal/demoapp:latest", 0), swarm.ServiceCreateOptions{})
		if err != nil {
			r.Fatal(err)
		}
		cl, err := cluster.NewClient(leader)
		if err != nil {
			r.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				svc, _, err := cl.ServiceInspectWithRaw(ctx, resp.ID, swarm.ServiceInspectOptions{})
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				spec := svc.Spec
				spec.Labels = map[string]string{"i": fmt.Sprint(i)}
				if _, err := cl.ServiceUpdate(ctx, resp.ID, svc.Version, spec, swarm.ServiceUpdateOptions{}); err == nil {
					writes.Add(1)
				}
			}
		}()
	}
	for !have() {
		if time.Since(start) > timeout {
			close(stop)
			wg.Wait()
			r.Fatalf("no snapshot on every manager after %d writes in %v", writes.Load(), timeout)
		}
		time.Sleep(time.Second)
	}
	close(stop)
	wg.Wait()
	benchmain.Logf("every manager has a snapshot after %d writes in %v", writes.Load(), time.Since(start).Round(time.Second))
}
