// Command nodeloss measures how long the tasks of a worker that dies take
// to run again elsewhere: real processes (one manager that runs tasks and
// two workers, on loopback with internal/proctest), real containers of the
// demo image on the local Docker daemon.
//
//	go run ./bench/nodeloss                         # 10 runs per image
//	go run ./bench/nodeloss -runs 1 -images nohealth  # smoke test
//
// Per run: a service of -replicas tasks is created and spread over the
// three nodes (two per node with the default 6); once all run, one worker
// (w1 and w2 in turn) is killed with SIGKILL. The run ends when the
// manager's task list shows -replicas tasks RUNNING, with desired state
// running, none of them on the dead node: the dead node's tasks were
// replaced and their containers run (for the health-checked image: are
// healthy, since a task with a health check is RUNNING only once healthy).
// The run also reports when the manager first showed the node DOWN. Then
// the service is removed, the worker restarted (it removes the containers
// it left) and the next run waits until no container of the service is
// left.
//
// Both demo images are measured: shoal/demoapp:latest, whose HEALTHCHECK
// probes every second (so a replacement is RUNNING a probe after it
// started), and shoal/demoapp:nohealth.
//
// The killed worker's containers keep running on the shared daemon until
// it restarts (a real lost machine takes them with it); they do not count,
// being on the dead node. Every container the benchmark's nodes made is
// removed at the end, also on failure or Ctrl-C.
//
// Anchors: Docker Swarm and Nomad take about 20 s (SwarmKit: DOWN after
// three missed 5 s heartbeats, then the 5 s restart delay), quoted; they
// cannot be run on this one-daemon machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/engine"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/proctest"
)

func main() {
	runs := flag.Int("runs", 10, "worker kills per image")
	replicas := flag.Int("replicas", 6, "tasks of the service, spread over the manager and two workers")
	images := flag.String("images", "health,nohealth", "images to measure: health (shoal/demoapp:latest), nohealth")
	maxMedian := flag.Duration("max-median", 0, "fail if a median is longer (0: no check)")
	flag.Parse()

	r := benchmain.Start("nodeloss")
	defer r.Close()
	ctx := context.Background()
	dcli, err := engine.Connect()
	if err != nil {
		r.Fatal(err)
	}
	if err := engine.EnsureImages(ctx, dcli); err != nil {
		r.Fatal(err)
	}
	// Registered before the processes, so it runs after they are killed.
	var nodeIDs []string
	r.Cleanup(func() {
		for _, id := range nodeIDs {
			if n, err := engine.RemoveByLabel(context.Background(), dcli, "io.shoal.node.id="+id); err != nil || n > 0 {
				benchmain.Logf("cleanup: removed %d containers of node %s (err %v)", n, id, err)
			}
		}
		dcli.Close()
	})

	c := cluster.Start(r, cluster.Options{Managers: 1})
	m1 := c.Managers[0]
	workers := []*proctest.Node{
		c.Procs.JoinWorker("w1", c.WorkerToken, m1),
		c.Procs.JoinWorker("w2", c.WorkerToken, m1),
	}
	cl := c.Client(m1)
	ids := map[string]string{} // hostname -> node ID
	for _, n := range proctest.WaitNodesReady(r, cl, 3, 60*time.Second) {
		ids[n.Description.Hostname] = n.ID
	}
	for _, id := range ids {
		nodeIDs = append(nodeIDs, id)
	}
	benchmain.Logf("cluster up: m1 (manager, runs tasks), w1, w2")

	type result struct {
		image                             string
		down, replaced, assigned, running stats.Sample
	}
	var results []*result
	failed := false
	for _, which := range strings.Split(*images, ",") {
		image := map[string]string{"health": engine.HealthImage, "nohealth": engine.NoHealthImage}[strings.TrimSpace(which)]
		if image == "" {
			r.Fatalf("-images: unknown image %q", which)
		}
		res := &result{image: image}
		results = append(results, res)
		for run := range *runs {
			victim := workers[run%len(workers)]
			tl := measure(r, c, dcli, image, *replicas, victim, ids[victim.Name], fmt.Sprintf("nl-%s-%d", which, run))
			res.down.AddDur(tl.down)
			res.replaced.AddDur(tl.replaced)
			res.assigned.AddDur(tl.assigned)
			res.running.AddDur(tl.running)
			benchmain.Logf("%s run %d: killed %s; DOWN after %v, replacements created after %v, assigned after %v; all %d tasks RUNNING again after %v",
				image, run+1, victim.Name, tl.down.Round(time.Millisecond), tl.replaced.Round(time.Millisecond),
				tl.assigned.Round(time.Millisecond), *replicas, tl.running.Round(time.Millisecond))
		}
		if *maxMedian > 0 && res.running.MedianDur() > *maxMedian {
			failed = true
		}
	}

	fmt.Printf("\n## nodeloss: kill -9 of a worker, %d tasks over manager + 2 workers, %d runs per image\n\n", *replicas, *runs)
	t := stats.NewTable("image", "kill -> all tasks RUNNING elsewhere", "min..max", "p90", "target", "anchor")
	for _, res := range results {
		t.Row(res.image, stats.Dur(res.running.MedianDur()), res.running.SpreadDur(), stats.Dur(stats.Seconds(res.running.Quantile(0.9))),
			"< 3 s", "Swarm, Nomad ~20 s (quoted)")
	}
	t.Print(os.Stdout)
	fmt.Printf("\nTimeline (medians, from the kill; as the manager's task list shows it, polled every 20 ms):\n\n")
	tl := stats.NewTable("image", "node DOWN", "replacements created", "replacements assigned", "all RUNNING")
	for _, res := range results {
		tl.Row(res.image, stats.Dur(res.down.MedianDur()), stats.Dur(res.replaced.MedianDur()),
			stats.Dur(res.assigned.MedianDur()), stats.Dur(res.running.MedianDur()))
	}
	tl.Print(os.Stdout)
	if failed {
		fmt.Printf("FAIL: a median over -max-median %v\n", *maxMedian)
		r.Close()
		os.Exit(1)
	}
}

// timeline holds, from the kill, when the manager showed the dead node
// DOWN, every replacement task created and assigned to a live node, and
// all tasks RUNNING again.
type timeline struct {
	down, replaced, assigned, running time.Duration
}

// measure runs one kill.
func measure(r *proctest.Runner, c *cluster.Cluster, dcli *client.Client, image string, replicas int,
	victim *proctest.Node, victimID, name string) (tl timeline) {
	ctx := context.Background()
	cl := c.Client(c.Managers[0])
	n := uint64(replicas)
	resp, err := cl.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		r.Fatalf("service create: %v", err)
	}
	svcLabel := "io.shoal.service.id=" + resp.ID
	proctest.Eventually(r, 2*time.Minute, name+" running on all nodes", func() error {
		counts, err := runningTasks(cl, resp.ID)
		if err != nil {
			return err
		}
		if all := sumExcept(counts, ""); all != replicas || counts[victimID] == 0 {
			return fmt.Errorf("%d of %d running, %d on %s", all, replicas, counts[victimID], victim.Name)
		}
		return nil
	})

	before, err := taskIDs(cl, resp.ID)
	if err != nil {
		r.Fatal(err)
	}
	lost := 0
	if counts, err := runningTasks(cl, resp.ID); err == nil {
		lost = counts[victimID]
	}
	victim.Kill()
	killed := time.Now()
	for {
		if tl.down == 0 {
			if nd, _, err := cl.NodeInspectWithRaw(ctx, victimID); err == nil && nd.Status.State == swarm.NodeStateDown {
				tl.down = time.Since(killed)
			}
		}
		if tl.assigned == 0 {
			created, assigned, err := replacements(cl, resp.ID, before)
			if err == nil && created >= lost && tl.replaced == 0 {
				tl.replaced = time.Since(killed)
			}
			if err == nil && assigned >= lost {
				tl.assigned = time.Since(killed)
			}
		}
		counts, err := runningTasks(cl, resp.ID)
		ok := sumExcept(counts, victimID)
		if err == nil && ok == replicas {
			tl.running = time.Since(killed)
			break
		}
		if time.Since(killed) > 2*time.Minute {
			r.Fatalf("%s: %d of %d tasks running 2 min after killing %s", name, ok, replicas, victim.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := cl.ServiceRemove(ctx, resp.ID); err != nil {
		r.Fatalf("service rm: %v", err)
	}
	victim.Restart()
	if err := engine.WaitNone(ctx, dcli, svcLabel, 2*time.Minute); err != nil {
		r.Fatalf("%s: %v", name, err)
	}
	proctest.Eventually(r, time.Minute, victim.Name+" READY again", func() error {
		nd, _, err := cl.NodeInspectWithRaw(ctx, victimID)
		if err != nil {
			return err
		}
		if nd.Status.State != swarm.NodeStateReady {
			return fmt.Errorf("%s is %s", victim.Name, nd.Status.State)
		}
		return nil
	})
	return tl
}

// taskIDs returns the IDs of the service's tasks.
func taskIDs(cl *client.Client, serviceID string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, t := range ts {
		out[t.ID] = true
	}
	return out, nil
}

// replacements counts the service's tasks that are not in before: created,
// and of those assigned to a node.
func replacements(cl *client.Client, serviceID string, before map[string]bool) (created, assigned int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
	if err != nil {
		return 0, 0, err
	}
	for _, t := range ts {
		if before[t.ID] {
			continue
		}
		created++
		if t.NodeID != "" {
			assigned++
		}
	}
	return created, assigned, nil
}

// runningTasks counts, per node, the service's tasks that are meant to
// run and run.
func runningTasks(cl *client.Client, serviceID string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range ts {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			out[t.NodeID]++
		}
	}
	return out, nil
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
