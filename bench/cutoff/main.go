// Command cutoff measures how long a worker host that is cut off the
// network (its link down: no TCP reset reaches anyone) or whose node
// process is killed takes to be marked DOWN and to have its tasks running
// elsewhere. Three hosts of internal/hostbed (network namespaces, each
// with its own dockerd): h1 runs the manager (which runs tasks too), h2
// and h3 a worker each. Needs root, iproute2, nsenter, iptables, dockerd.
//
//	go run ./bench/cutoff                      # 10 partitions and 10 kills
//	go run ./bench/cutoff -runs 1 -modes partition
//
// Per run: a service of -replicas tasks (shoal/demoapp:nohealth) is spread
// over the three hosts; once all run, the victim (h2 and h3 in turn) is cut
// off (`ip link set VETH down`) or its worker gets SIGKILL. The manager's
// node and task lists, read over its API socket every 20 ms, give when the
// victim was first shown DOWN and when -replicas tasks ran again on the
// other hosts. Then the service is removed, the victim healed (or its
// worker restarted), and the next run waits for it to be READY again.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/engine"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/hostbed"
	"github.com/shoal-dev/shoal/internal/proctest"
)

func main() {
	runs := flag.Int("runs", 10, "runs per mode")
	replicas := flag.Int("replicas", 6, "tasks of the service, spread over the three hosts")
	modes := flag.String("modes", "partition,kill", "what happens to the victim: partition (link down), kill (kill -9 of its worker)")
	keepLogs := flag.String("keep-logs", "", "copy the nodes' logs into this directory at the end")
	flag.Parse()

	r := benchmain.Start("cutoff")
	defer r.Close()
	ctx := context.Background()
	if err := hostbed.Check(); err != nil {
		r.Fatal(err)
	}
	dcli, err := engine.Connect()
	if err != nil {
		r.Fatal(err)
	}
	if err := engine.EnsureImages(ctx, dcli); err != nil {
		r.Fatal(err)
	}
	dcli.Close()
	// The bed is registered first, so it is torn down after the
	// processes are killed.
	bed, err := hostbed.Start(hostbed.Config{Hosts: 3, Images: []string{engine.NoHealthImage}, Logf: benchmain.Logf})
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() {
		if err := bed.Close(); err != nil {
			benchmain.Logf("closing the host bed: %v", err)
		}
	})

	procs := proctest.New(r)
	procs.Place = bed.Place
	if *keepLogs != "" {
		r.Cleanup(func() {
			_ = os.MkdirAll(*keepLogs, 0o755)
			for _, n := range procs.Nodes {
				if b, err := os.ReadFile(n.LogPath); err == nil {
					_ = os.WriteFile(filepath.Join(*keepLogs, n.Name+".log"), b, 0o644)
				}
			}
		})
	}
	m := procs.InitManager("h1")
	sw := m.WaitReady(30 * time.Second)
	workers := []*proctest.Node{
		procs.JoinWorker("h2", sw.JoinTokens.Worker, m),
		procs.JoinWorker("h3", sw.JoinTokens.Worker, m),
	}
	cl := m.Client()
	ids := map[string]string{} // hostname -> node ID
	for _, n := range proctest.WaitNodesReady(r, cl, 3, 60*time.Second) {
		ids[n.Description.Hostname] = n.ID
	}
	benchmain.Logf("cluster up: h1 (manager, runs tasks), h2, h3")

	type result struct {
		mode                    string
		down, assigned, running stats.Sample
	}
	var results []*result
	for _, mode := range strings.Split(*modes, ",") {
		mode = strings.TrimSpace(mode)
		if mode != "partition" && mode != "kill" {
			r.Fatalf("-modes: unknown mode %q", mode)
		}
		res := &result{mode: mode}
		results = append(results, res)
		for run := range *runs {
			victim := workers[run%len(workers)]
			down, assigned, running := measure(r, cl, bed.Host(victim.Name), victim, ids[victim.Name], mode, *replicas, fmt.Sprintf("co-%s-%d", mode, run))
			res.down.AddDur(down)
			res.assigned.AddDur(assigned)
			res.running.AddDur(running)
			benchmain.Logf("%s run %d: %s DOWN after %v, replacements assigned after %v, all %d tasks RUNNING elsewhere after %v",
				mode, run+1, victim.Name, down.Round(time.Millisecond), assigned.Round(time.Millisecond), *replicas, running.Round(time.Millisecond))
		}
	}

	fmt.Printf("\n## cutoff: a worker host cut off or killed, %d tasks over 3 hosts (own netns and dockerd each), %d runs per mode\n\n", *replicas, *runs)
	t := stats.NewTable("mode", "node DOWN (median)", "min..max", "replacements assigned", "tasks RUNNING elsewhere (median)", "min..max", "p90")
	for _, res := range results {
		t.Row(res.mode, stats.Dur(res.down.MedianDur()), res.down.SpreadDur(), stats.Dur(res.assigned.MedianDur()),
			stats.Dur(res.running.MedianDur()), res.running.SpreadDur(), stats.Dur(stats.Seconds(res.running.Quantile(0.9))))
	}
	t.Print(os.Stdout)
}

// measure runs one cut-off and returns when the victim was shown DOWN, when
// the replacements of its tasks were all assigned to other nodes, and when
// all tasks ran elsewhere, from the cut.
func measure(r *proctest.Runner, cl *client.Client, host *hostbed.Host, victim *proctest.Node, victimID, mode string,
	replicas int, name string) (down, assigned, running time.Duration) {
	ctx := context.Background()
	n := uint64(replicas)
	resp, err := cl.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: engine.NoHealthImage}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		r.Fatalf("service create: %v", err)
	}
	proctest.Eventually(r, 2*time.Minute, name+" running on all hosts", func() error {
		counts, _, err := tasks(cl, resp.ID)
		if err != nil {
			return err
		}
		if all := sumExcept(counts, ""); all != replicas || counts[victimID] == 0 {
			return fmt.Errorf("%d of %d running, %d on %s", all, replicas, counts[victimID], victim.Name)
		}
		return nil
	})
	// Let heartbeats settle into their rhythm after the burst of starts.
	time.Sleep(2 * time.Second)
	lost := 0
	if counts, _, err := tasks(cl, resp.ID); err == nil {
		lost = counts[victimID]
	}

	switch mode {
	case "partition":
		if err := host.Partition(); err != nil {
			r.Fatal(err)
		}
	case "kill":
		victim.Kill()
	}
	cut := time.Now()
	for {
		if down == 0 {
			if nd, _, err := cl.NodeInspectWithRaw(ctx, victimID); err == nil && nd.Status.State == swarm.NodeStateDown {
				down = time.Since(cut)
			}
		}
		counts, ts, err := tasks(cl, resp.ID)
		if assigned == 0 && err == nil {
			n := 0
			for _, t := range ts {
				if t.NodeID != "" && t.NodeID != victimID && t.DesiredState == swarm.TaskStateRunning && t.Status.State != swarm.TaskStateRunning {
					n++
				}
			}
			if n >= lost || sumExcept(counts, victimID) == replicas {
				assigned = time.Since(cut)
			}
		}
		if err == nil && sumExcept(counts, victimID) == replicas {
			running = time.Since(cut)
			if down == 0 {
				down = running
			}
			break
		}
		if time.Since(cut) > 2*time.Minute {
			r.Fatalf("%s: tasks not running elsewhere 2 min after cutting %s off", name, victim.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := cl.ServiceRemove(ctx, resp.ID); err != nil {
		r.Fatalf("service rm: %v", err)
	}
	switch mode {
	case "partition":
		if err := host.Heal(); err != nil {
			r.Fatal(err)
		}
	case "kill":
		victim.Restart()
	}
	proctest.Eventually(r, 2*time.Minute, victim.Name+" READY with no container left", func() error {
		nd, _, err := cl.NodeInspectWithRaw(ctx, victimID)
		if err != nil {
			return err
		}
		if nd.Status.State != swarm.NodeStateReady {
			return fmt.Errorf("%s is %s", victim.Name, nd.Status.State)
		}
		cs, err := host.Docker.ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			return fmt.Errorf("%d containers left on %s", len(cs), victim.Name)
		}
		return nil
	})
	return down, assigned, running
}

// tasks returns the service's tasks and counts, per node, those that are
// meant to run and run.
func tasks(cl *client.Client, serviceID string) (map[string]int, []swarm.Task, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]int{}
	for _, t := range ts {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			out[t.NodeID]++
		}
	}
	return out, ts, nil
}

// sumExcept adds up the counts of every node but skip.
func sumExcept(counts map[string]int, skip string) int {
	n := 0
	for node, c := range counts {
		if node != skip {
			n += c
		}
	}
	return n
}
