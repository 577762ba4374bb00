package e2e

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/hostbed"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

// hostCluster is a manager (running tasks) on h1 and a worker on each other
// host of a bed.
type hostCluster struct {
	bed   *hostbed.Bed
	procs *proctest.Cluster
	nodes map[string]*proctest.Node // by host name
	ids   map[string]string         // host name -> node ID
	cl    *client.Client            // the manager's API
}

// startHostCluster makes a bed of n hosts with the demo image without
// health check (and the other variants given) and a shoal node on each;
// it skips the test when the machine cannot host a bed.
func startHostCluster(t *testing.T, n int, variants ...testimage.Variant) *hostCluster {
	t.Helper()
	if err := hostbed.Check(); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	var imgs []string
	for _, v := range append([]testimage.Variant{testimage.NoHealthcheck}, variants...) {
		img, err := testimage.EnsureVariant(ctx, testimage.Client(t), v)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	bed := hostbed.New(t, hostbed.Config{Hosts: n, Images: imgs})
	hc := &hostCluster{bed: bed, procs: proctest.New(t), nodes: map[string]*proctest.Node{}, ids: map[string]string{}}
	hc.procs.Place = bed.Place
	m := hc.procs.InitManager("h1")
	sw := m.WaitReady(60 * time.Second)
	hc.nodes["h1"] = m
	for _, h := range bed.Hosts[1:] {
		hc.nodes[h.Name] = hc.procs.JoinWorker(h.Name, sw.JoinTokens.Worker, m)
	}
	hc.cl = m.Client()
	proctest.Eventually(t, 2*time.Minute, "every node READY", func() error {
		ns, err := hc.cl.NodeList(ctx, swarm.NodeListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, nd := range ns {
			hc.ids[nd.Description.Hostname] = nd.ID
			if nd.Status.State == swarm.NodeStateReady {
				ready++
			}
		}
		if ready < n {
			return fmt.Errorf("%d of %d nodes READY", ready, n)
		}
		return nil
	})
	return hc
}

// running counts the service's tasks meant to run and running, per node.
func (hc *hostCluster) running(ctx context.Context, serviceID string) (map[string]int, []swarm.Task, error) {
	ts, err := hc.cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
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

// burnCPU keeps every CPU of the machine busy until stop is closed.
func burnCPU(stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range runtime.NumCPU() * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 100000 {
					x += i
				}
			}
		}()
	}
	return &wg
}

// TestCutOffWorkerHostIsDownAndItsTasksRunElsewhere runs three hosts, each
// its own network namespace and dockerd (internal/hostbed), with a service
// spread over them. While every host is healthy, even with the machine's
// CPUs saturated, no node is marked down and no task replaced. Then a
// worker host's link goes down (no TCP reset reaches anyone): its node is
// marked DOWN and its tasks run on the other hosts; once healed, the node
// is READY again and the containers it was cut off with are stopped. How fast
// is measured by bench/cutoff (BENCHMARKS.md), not here.
func TestCutOffWorkerHostIsDownAndItsTasksRunElsewhere(t *testing.T) {
	hc := startHostCluster(t, 3)
	ctx := context.Background()
	victim := hc.bed.Host("h2")
	victimID := hc.ids["h2"]
	replicas := uint64(6)
	resp, err := hc.cl.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "cutoff"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: testimage.NoHealthcheckTag}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 2*time.Minute, "6 tasks running, some on every host", func() error {
		counts, _, err := hc.running(ctx, resp.ID)
		if err != nil {
			return err
		}
		total := 0
		for host, id := range hc.ids {
			if counts[id] == 0 {
				return fmt.Errorf("no task running on %s yet (%v)", host, counts)
			}
			total += counts[id]
		}
		if total != int(replicas) {
			return fmt.Errorf("%d of %d running", total, replicas)
		}
		return nil
	})

	// Healthy hosts on a saturated machine: nothing is marked down and no
	// task is replaced.
	stop := make(chan struct{})
	burners := burnCPU(stop)
	healthyFor := 15 * time.Second
	for end := time.Now().Add(healthyFor); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ns, err := hc.cl.NodeList(cctx, swarm.NodeListOptions{})
		var ts []swarm.Task
		if err == nil {
			_, ts, err = hc.running(cctx, resp.ID)
		}
		cancel()
		if err != nil {
			continue // a slow answer on a saturated machine is not the point
		}
		for _, nd := range ns {
			if nd.Status.State != swarm.NodeStateReady {
				close(stop)
				t.Fatalf("healthy host %s marked %s under load: %q", nd.Description.Hostname, nd.Status.State, nd.Status.Message)
			}
		}
		if len(ts) != int(replicas) {
			close(stop)
			t.Fatalf("%d tasks for a service of %d on healthy hosts under load: a task was replaced", len(ts), replicas)
		}
	}
	close(stop)
	burners.Wait()

	// Cut h2 off.
	if err := victim.Partition(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	proctest.Eventually(t, time.Minute, "h2 DOWN and 6 tasks running on h1 and h3", func() error {
		nd, _, err := hc.cl.NodeInspectWithRaw(ctx, victimID)
		if err != nil {
			return err
		}
		if nd.Status.State != swarm.NodeStateDown {
			return fmt.Errorf("h2 is %s", nd.Status.State)
		}
		counts, _, err := hc.running(ctx, resp.ID)
		if err != nil {
			return err
		}
		if n := counts[hc.ids["h1"]] + counts[hc.ids["h3"]]; n != int(replicas) {
			return fmt.Errorf("%d of %d tasks running on h1 and h3", n, replicas)
		}
		return nil
	})
	nd, _, _ := hc.cl.NodeInspectWithRaw(ctx, victimID)
	t.Logf("h2 cut off: DOWN (%q) and its tasks replaced within %v", nd.Status.Message, time.Since(cut).Round(time.Millisecond))
	for _, id := range []string{hc.ids["h1"], hc.ids["h3"]} {
		n, _, err := hc.cl.NodeInspectWithRaw(ctx, id)
		if err != nil || n.Status.State != swarm.NodeStateReady {
			t.Fatalf("node %s is %s (%v) while only h2 is cut off", n.Description.Hostname, n.Status.State, err)
		}
	}

	// Healed: READY again, and what it ran while cut off is stopped (its
	// stopped containers stay, as task history does).
	if err := victim.Heal(); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 2*time.Minute, "h2 READY with no task container running", func() error {
		nd, _, err := hc.cl.NodeInspectWithRaw(ctx, victimID)
		if err != nil {
			return err
		}
		if nd.Status.State != swarm.NodeStateReady {
			return fmt.Errorf("h2 is %s", nd.Status.State)
		}
		cs, err := victim.Docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "io.shoal.service.id="+resp.ID))})
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			return fmt.Errorf("%d containers of the service still running on h2", len(cs))
		}
		return nil
	})
}

// TestFrozenEngineIsReportedAndTheNodeRecovers freezes a worker host's
// dockerd (SIGSTOP: its socket accepts and never answers, as a deadlocked
// daemon does). The node reports its engine unavailable and is DOWN, its
// tasks run on the other host; once the daemon is continued, the node is
// READY again and runs new tasks.
func TestFrozenEngineIsReportedAndTheNodeRecovers(t *testing.T) {
	hc := startHostCluster(t, 2)
	ctx := context.Background()
	h2 := hc.bed.Host("h2")
	h2ID := hc.ids["h2"]
	replicas := uint64(4)
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "frozen"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: testimage.NoHealthcheckTag}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	resp, err := hc.cl.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitSpread := func(want int) {
		t.Helper()
		proctest.Eventually(t, 2*time.Minute, fmt.Sprintf("%d tasks running, some on each host", want), func() error {
			counts, _, err := hc.running(ctx, resp.ID)
			if err != nil {
				return err
			}
			if counts[hc.ids["h1"]] == 0 || counts[h2ID] == 0 || counts[hc.ids["h1"]]+counts[h2ID] != want {
				return fmt.Errorf("running per node: %v", counts)
			}
			return nil
		})
	}
	waitSpread(int(replicas))

	if err := h2.FreezeDocker(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = h2.ThawDocker()
		}
	}()
	proctest.Eventually(t, 2*time.Minute, "h2 DOWN, engine unavailable, its tasks on h1", func() error {
		nd, _, err := hc.cl.NodeInspectWithRaw(ctx, h2ID)
		if err != nil {
			return err
		}
		if nd.Status.State != swarm.NodeStateDown || !strings.Contains(nd.Status.Message, "engine unavailable") {
			return fmt.Errorf("h2 is %s: %q", nd.Status.State, nd.Status.Message)
		}
		counts, _, err := hc.running(ctx, resp.ID)
		if err != nil {
			return err
		}
		if counts[hc.ids["h1"]] != int(replicas) {
			return fmt.Errorf("running per node: %v", counts)
		}
		return nil
	})
	nd, _, _ := hc.cl.NodeInspectWithRaw(ctx, h2ID)
	t.Logf("frozen engine reported: %q", nd.Status.Message)

	if err := h2.ThawDocker(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	proctest.Eventually(t, 2*time.Minute, "h2 READY again", func() error {
		nd, _, err := hc.cl.NodeInspectWithRaw(ctx, h2ID)
		if err != nil {
			return err
		}
		if nd.Status.State != swarm.NodeStateReady {
			return fmt.Errorf("h2 is %s: %q", nd.Status.State, nd.Status.Message)
		}
		return nil
	})
	// It runs new tasks: scaled up, the service spreads onto it again.
	svc, _, err := hc.cl.ServiceInspectWithRaw(ctx, resp.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	more := 2 * replicas
	svc.Spec.Mode.Replicated.Replicas = &more
	if _, err := hc.cl.ServiceUpdate(ctx, resp.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSpread(int(more))
}
