// Command failover measures how long writes stop when the Raft leader of
// three manager processes on loopback is killed with SIGKILL: the time from
// the kill to the first write that succeeds through another manager.
//
//	go run ./bench/failover                 # 10 runs
//	go run ./bench/failover -runs 1         # smoke test
//	go run ./bench/failover -raft-profile wan
//
// Per run: find the leader, kill -9 it, and from that instant start a
// write (POST /services/create of a service with no replicas, as
// `docker service create` sends it) every -interval through the surviving
// managers in turn, each with its own timeout, so a write that hangs on
// the dead leader does not hold the next one back. The first write that
// succeeds ends the run; its answer time is the failover time. The run
// also reports when the new leader was elected, from the timestamp of
// "entering leader state" in its log. The killed
// manager is then restarted with `manager run` and the next run waits until
// all three are reachable again.
//
// With -freeze the leader is stopped with SIGSTOP instead, as a VM pause, a
// long GC or a stuck disk stops it: its connections stay open and nothing
// answers on them. One client then writes through a follower, one write at
// a time as a user or a script does, each with a 60 s timeout: the first
// write is forwarded to the frozen leader. The run reports when that write
// is answered and how (ok, or 503 "write outcome unknown"), and when the
// first write succeeds, both from the SIGSTOP and from the new leader's
// election. The frozen manager gets SIGCONT at the end of the run.
//
//	go run ./bench/failover -freeze -runs 5
//	go run ./bench/failover -freeze -freeze-op rm -runs 5
//
// Anchor: SwarmKit elects a new leader after about 10 s (etcd/raft with a
// 1 s tick and an election after 10 ticks), quoted from its defaults; a
// three-daemon Swarm cannot run on this one-daemon machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/proctest"
)

func main() {
	runs := flag.Int("runs", 10, "leader kills")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between write attempts after the kill")
	raftProfile := flag.String("raft-profile", "lan", "the managers' --raft-profile")
	maxMedian := flag.Duration("max-median", 0, "fail if the median failover is longer (0: no check)")
	freeze := flag.Bool("freeze", false, "stop the leader with SIGSTOP (and SIGCONT it after the run) instead of kill -9, and write through one follower one write at a time")
	freezeOp := flag.String("freeze-op", "create", "with -freeze, the first write: create, or rm (a removal by name: its read barrier meets the frozen leader)")
	flag.Parse()
	if *freezeOp != "create" && *freezeOp != "rm" {
		fmt.Fprintf(os.Stderr, "-freeze-op %q: want create or rm\n", *freezeOp)
		os.Exit(2)
	}

	r := benchmain.Start("failover")
	defer r.Close()
	c := cluster.Start(r, cluster.Options{Managers: 3, NoAgent: true, ExtraArgs: []string{"--raft-profile", *raftProfile}})
	benchmain.Logf("cluster up")

	if *freeze {
		freezeRuns(r, c, *runs, *raftProfile, *freezeOp)
		return
	}
	var sWrite, sLeader stats.Sample
	for run := range *runs {
		c.WaitReachable(60 * time.Second)
		old := c.Leader()
		survivors := c.Followers(old)
		// A write before the kill, so connections to survivors are warm
		// and the cluster is known to accept writes.
		if err := create(c, survivors[0], fmt.Sprintf("before-%d", run), 10*time.Second); err != nil {
			r.Fatalf("run %d: write before the kill: %v", run+1, err)
		}
		time.Sleep(500 * time.Millisecond)

		old.Kill()
		killed := time.Now()
		write, via := firstWrite(c, survivors, run, killed, *interval)
		if write == 0 {
			r.Fatalf("run %d: no write succeeded within 60 s of killing the leader %s", run+1, old.Name)
		}
		leaderAt := electedAfter(survivors, killed)
		sWrite.AddDur(write)
		if leaderAt > 0 {
			sLeader.AddDur(leaderAt)
		}
		benchmain.Logf("run %d: killed leader %s; new leader elected after %v; first write through %s after %v",
			run+1, old.Name, leaderAt.Round(time.Millisecond), via, write.Round(time.Millisecond))

		old.Restart(c.RestartArgs()...)
	}
	c.WaitReachable(60 * time.Second)

	fmt.Printf("\n## failover: kill -9 of the leader of 3 managers, %d runs, --raft-profile %s\n\n", *runs, *raftProfile)
	t := stats.NewTable("metric", "median", "min..max", "p90", "target", "anchor")
	p90 := func(s *stats.Sample) string { return stats.Dur(stats.Seconds(s.Quantile(0.9))) }
	t.Row("kill -> first successful write", stats.Dur(sWrite.MedianDur()), sWrite.SpreadDur(), p90(&sWrite), "< 1.5 s", "SwarmKit ~10 s (quoted)")
	t.Row("kill -> new leader elected (its log)", stats.Dur(sLeader.MedianDur()), sLeader.SpreadDur(), p90(&sLeader), "", "")
	t.Print(os.Stdout)
	if *maxMedian > 0 && sWrite.MedianDur() > *maxMedian {
		fmt.Printf("FAIL: median %v over -max-median %v\n", sWrite.MedianDur(), *maxMedian)
		r.Close()
		os.Exit(1)
	}
}

func create(c *cluster.Cluster, n *proctest.Node, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	zero := uint64(0)
	_, err := c.Client(n).ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "shoal/demoapp:latest"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
	}, swarm.ServiceCreateOptions{})
	return err
}

// firstWrite starts a write every interval, alternating between the
// survivors, until one succeeds; it returns the time from killed to that
// success and the manager it went through.
func firstWrite(c *cluster.Cluster, survivors []*proctest.Node, run int, killed time.Time, interval time.Duration) (time.Duration, string) {
	type success struct {
		at  time.Duration
		via string
	}
	done := make(chan success, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := killed.Add(60 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case s := <-done:
			close(stop)
			wg.Wait()
			return s.at, s.via
		default:
		}
		n := survivors[i%len(survivors)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := create(c, n, fmt.Sprintf("after-%d-%d", run, i), 5*time.Second)
			if err != nil {
				return
			}
			at := time.Since(killed)
			select {
			case done <- success{at, n.Name}:
			case <-stop:
			default:
			}
		}()
		time.Sleep(interval)
	}
	close(stop)
	wg.Wait()
	return 0, ""
}

// electedAfter returns how long after killed a survivor entered the
// leader state, from the timestamp of that line in its log; zero if no
// survivor logged it.
func electedAfter(survivors []*proctest.Node, killed time.Time) time.Duration {
	for _, n := range survivors {
		if at, ok := leaderSince(n, killed); ok {
			return at
		}
	}
	return 0
}
