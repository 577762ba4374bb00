// Command docker measures starting real containers through shoal against
// the Docker daemon's own limit and against Docker's own Swarm mode, on
// the same daemon, in the same run.
//
//	go run ./bench/docker                              # 100 replicas, 3 rounds, both images
//	go run ./bench/docker -replicas 5 -rounds 1 -images nohealth   # smoke test
//	go run ./bench/docker -swarm=false                 # without the Swarm-mode contender
//
// The Swarm-mode contender runs only on a daemon of its own: a Swarm
// cycle (init, 100 replicas, leave --force) followed by heavy container
// churn once left this machine's Docker 20.10 daemon deadlocked in
// libnetwork, and the tests and later sessions share that daemon. Run it on
// a host of the test bed, whose dockerd is thrown away afterwards:
//
//	deploy/hosts.sh up --bare -m 1 -w 0                # one host, its dockerd, no shoal node
//	deploy/hosts.sh exec m1 go run ./bench/docker     # DOCKER_HOST: m1's dockerd
//	deploy/hosts.sh down
//
// On the machine's daemon (DOCKER_HOST unset or its default socket) the
// contender is skipped unless -swarm-on-shared-daemon is given. test.sh's
// smoke runs with -swarm=false.
//
// Contenders, in a different order each round (so none always runs on a
// daemon warmed or tired by another), each from nothing to -replicas
// containers of the demo image:
//
//	shoal        `service create --replicas N` through a one-manager
//	             cluster whose manager runs the tasks (its agent, on this
//	             daemon), until `service ls` counts N running tasks.
//	docker run   `docker run -d` of N containers, -parallel at a time,
//	             until the last command returns (the daemon's own limit).
//	engine API   the same through the Engine API (create + start) from
//	             this process, without the CLI's process start per
//	             container: what shoal's agent does.
//	swarm mode   `docker swarm init --advertise-addr 127.0.0.1`, then
//	             `docker service create --replicas N -d`, until
//	             `service ls` counts N running; then `docker swarm leave
//	             --force`. Init and leave are not timed.
//
// Health checks: shoal/demoapp:latest has a HEALTHCHECK every 1 s (start
// period 5 s). shoal and Swarm mode count a task RUNNING only once its
// container is healthy, so they wait for a probe (about 1 s) that
// `docker run -d` does not; for that image the daemon's contenders are
// also timed until every container is healthy ("healthy" rows), which is
// the fair comparison. shoal/demoapp:nohealth has no health check: all
// contenders stop at "started".
//
// Every contender's containers are removed after its run (and the Swarm
// left), also on failure or Ctrl-C; the program checks at the end that
// `docker info` shows Swarm inactive. It refuses to run the Swarm
// contender if this daemon is already part of a swarm (someone else's).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/engine"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/proctest"
)

// benchLabel marks the containers the daemon contenders create.
const benchLabel = "io.shoal.bench"

func main() {
	replicas := flag.Int("replicas", 100, "containers per contender")
	rounds := flag.Int("rounds", 3, "rounds; every contender runs once per round and image")
	parallel := flag.Int("parallel", 8, "docker run / engine API calls in flight")
	images := flag.String("images", "health,nohealth", "images: health (shoal/demoapp:latest), nohealth (shoal/demoapp:nohealth)")
	withSwarm := flag.Bool("swarm", true, "measure Docker's Swarm mode (skipped if `docker swarm` is unavailable, or on the machine's shared daemon)")
	onShared := flag.Bool("swarm-on-shared-daemon", false, "run the Swarm-mode contender even on the machine's default daemon (see the package doc: it once left Docker 20.10 deadlocked)")
	timeout := flag.Duration("timeout", 5*time.Minute, "limit for one contender's run")
	flag.Parse()

	r := benchmain.Start("docker")
	defer r.Close()
	ctx := context.Background()
	dcli, err := engine.Connect()
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { dcli.Close() })
	if err := engine.EnsureImages(ctx, dcli); err != nil {
		r.Fatal(err)
	}
	b := &bench{r: r, dcli: dcli, replicas: *replicas, parallel: *parallel, timeout: *timeout}
	// Registered before the cluster: runs after its processes are killed.
	r.Cleanup(b.cleanup)
	if *withSwarm {
		if why := swarmUnavailable(ctx, dcli, *onShared); why != "" {
			benchmain.Logf("Swarm mode contender skipped: %s", why)
			*withSwarm = false
		}
	}
	b.cluster = cluster.Start(r, cluster.Options{Managers: 1})
	b.m1 = b.cluster.Managers[0]
	proctest.Eventually(r, 30*time.Second, "the manager's node READY", func() error {
		ns, err := b.cluster.Client(b.m1).NodeList(ctx, swarm.NodeListOptions{})
		if err != nil {
			return err
		}
		if len(ns) != 1 || ns[0].Status.State != swarm.NodeStateReady {
			return fmt.Errorf("nodes %d, not READY yet", len(ns))
		}
		b.nodeID = ns[0].ID
		return nil
	})

	contenders := []contender{
		{"shoal", b.shoal},
		{"docker run", b.dockerRun},
		{"engine API", b.engineAPI},
	}
	if *withSwarm {
		contenders = append(contenders, contender{"swarm mode", b.swarmMode})
	}
	type key struct{ image, name string }
	results := map[key]*stats.Sample{}
	timedOut := map[key]int{}
	sample := func(k key) *stats.Sample {
		if results[k] == nil {
			results[k] = &stats.Sample{}
		}
		return results[k]
	}
	var imageList []string
	for _, which := range strings.Split(*images, ",") {
		image := map[string]string{"health": engine.HealthImage, "nohealth": engine.NoHealthImage}[strings.TrimSpace(which)]
		if image == "" {
			r.Fatalf("-images: unknown image %q", which)
		}
		imageList = append(imageList, image)
	}
	for round := range *rounds {
		for _, image := range imageList {
			for i := range contenders {
				ct := contenders[(i+round)%len(contenders)]
				res := ct.run(image, round)
				if res.running == 0 {
					timedOut[key{image, ct.name}]++
					continue
				}
				sample(key{image, ct.name}).AddDur(res.running)
				msg := fmt.Sprintf("round %d, %s, %s: %d running in %v", round+1, image, ct.name, *replicas, res.running.Round(time.Millisecond))
				if res.healthy > 0 {
					sample(key{image, ct.name + " (healthy)"}).AddDur(res.healthy)
					msg += fmt.Sprintf(", all healthy in %v", res.healthy.Round(time.Millisecond))
				}
				benchmain.Logf("%s; load %s", msg, loadAvg())
			}
		}
	}
	b.cleanup()
	if err := checkSwarmInactive(ctx, dcli); err != nil {
		r.Fatal(err)
	}

	fmt.Printf("\n## docker: %d containers of the demo image, %d rounds, daemon contenders %d at a time\n", *replicas, *rounds, *parallel)
	for _, image := range imageList {
		fmt.Printf("\n%s:\n\n", image)
		shoal := sample(key{image, "shoal"}).Median()
		// The fair baseline: until the containers are what shoal counts
		// as RUNNING (healthy, when the image has a health check).
		baseline := "docker run"
		if results[key{image, "docker run (healthy)"}] != nil {
			baseline = "docker run (healthy)"
		}
		t := stats.NewTable("contender", "to all running", "min..max", "containers/s", "shoal / it", "target")
		names := []string{"shoal", "docker run", "docker run (healthy)", "engine API", "engine API (healthy)", "swarm mode"}
		for _, name := range names {
			s := results[key{image, name}]
			if s == nil {
				continue
			}
			target := ""
			switch name {
			case baseline:
				target = "<= 1.25x"
			case "swarm mode":
				target = "<= 0.5x"
			}
			t.Row(name, stats.Dur(s.MedianDur()), s.SpreadDur(), stats.Num(float64(*replicas)/s.Median()), stats.Ratio(shoal, s.Median()), target)
		}
		for k, n := range timedOut {
			if k.image == image {
				fmt.Printf("%s: %d run(s) did not reach %d running within -timeout %v\n", k.name, n, *replicas, *timeout)
			}
		}
		t.Print(os.Stdout)
	}
	fmt.Println("\n(\"shoal / it\": shoal's median over the contender's; below 1 shoal is faster)")
}

type contender struct {
	name string
	run  func(image string, round int) result
}

type result struct {
	running time.Duration // all started (daemon) or RUNNING (shoal, swarm)
	healthy time.Duration // daemon contenders with a health check: all healthy
}

type bench struct {
	r                  *proctest.Runner
	dcli               *client.Client
	cluster            *cluster.Cluster
	m1                 *proctest.Node
	nodeID             string
	replicas, parallel int
	timeout            time.Duration

	mu        sync.Mutex
	swarmMine bool // this program initialised the daemon's swarm
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// cleanup removes every container of the benchmark and leaves the swarm
// it made, if any. It is safe to call more than once.
func (b *bench) cleanup() {
	ctx := context.Background()
	b.mu.Lock()
	mine := b.swarmMine
	b.swarmMine = false
	b.mu.Unlock()
	if mine {
		if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
			benchmain.Logf("docker swarm leave --force: %v: %s", err, out)
		}
	}
	if n, err := engine.RemoveByLabel(ctx, b.dcli, benchLabel); err != nil || n > 0 {
		benchmain.Logf("cleanup: removed %d benchmark containers (err %v)", n, err)
	}
	if b.nodeID != "" {
		if n, err := engine.RemoveByLabel(ctx, b.dcli, "io.shoal.node.id="+b.nodeID); err != nil || n > 0 {
			benchmain.Logf("cleanup: removed %d containers of the shoal node (err %v)", n, err)
		}
	}
}

// shoal creates the service through the manager and waits for N running.
func (b *bench) shoal(image string, round int) result {
	ctx := context.Background()
	cl := b.cluster.Client(b.m1)
	n := uint64(b.replicas)
	t0 := time.Now()
	resp, err := cl.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: fmt.Sprintf("bench-%d-%d", round, time.Now().UnixNano()%1e6)},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		b.r.Fatalf("shoal: service create: %v", err)
	}
	running := b.waitServiceRunning(cl, resp.ID, t0, "shoal")
	if failed := failedTasks(cl, resp.ID); failed > 0 {
		benchmain.Logf("shoal: %d tasks failed on the way (unhealthy or exited) and were replaced", failed)
	}
	if err := cl.ServiceRemove(ctx, resp.ID); err != nil {
		b.r.Fatalf("shoal: service rm: %v", err)
	}
	if err := engine.WaitNone(ctx, b.dcli, "io.shoal.service.id="+resp.ID, 3*time.Minute); err != nil {
		b.r.Fatalf("shoal: %v", err)
	}
	return result{running: running}
}

// failedTasks counts the service's tasks that failed.
func failedTasks(cl *client.Client, id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
	if err != nil {
		return 0
	}
	n := 0
	for _, t := range ts {
		if t.Status.State == swarm.TaskStateFailed {
			n++
		}
	}
	return n
}

// waitServiceRunning polls `service ls` until the service counts N
// running tasks and returns the time since t0.
func (b *bench) waitServiceRunning(cl *client.Client, id string, t0 time.Time, who string) time.Duration {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		svcs, err := cl.ServiceList(ctx, swarm.ServiceListOptions{Status: true, Filters: filters.NewArgs(filters.Arg("id", id))})
		cancel()
		if err == nil {
			for _, s := range svcs {
				if s.ID == id && s.ServiceStatus != nil && s.ServiceStatus.RunningTasks >= uint64(b.replicas) {
					return time.Since(t0)
				}
			}
		}
		if time.Since(t0) > b.timeout {
			// Not a failure of the program: on an overloaded machine 1 s
			// health probes time out and tasks keep being replaced.
			benchmain.Logf("%s: NOT %d running after %v (err %v; %d tasks failed, e.g. unhealthy): recorded as timed out",
				who, b.replicas, b.timeout, err, failedTasks(cl, id))
			return 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parallelDo runs f(i) for i in [0, n), b.parallel at a time, and
// returns the first error.
func (b *bench) parallelDo(n int, f func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, b.parallel)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// dockerRun starts the containers with the docker CLI.
func (b *bench) dockerRun(image string, round int) result {
	label := fmt.Sprintf("%s=run-%d-%d", benchLabel, round, time.Now().UnixNano())
	t0 := time.Now()
	err := b.parallelDo(b.replicas, func(int) error {
		out, err := exec.Command("docker", "run", "-d", "--label", label, image).CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker run: %v: %s", err, out)
		}
		return nil
	})
	if err != nil {
		b.r.Fatal(err)
	}
	return b.finishDaemonRun(image, label, t0)
}

// engineAPI starts the containers through the Engine API.
func (b *bench) engineAPI(image string, round int) result {
	label := fmt.Sprintf("%s=api-%d-%d", benchLabel, round, time.Now().UnixNano())
	k, v, _ := strings.Cut(label, "=")
	ctx := context.Background()
	t0 := time.Now()
	err := b.parallelDo(b.replicas, func(int) error {
		c, err := b.dcli.ContainerCreate(ctx, &container.Config{Image: image, Labels: map[string]string{k: v}}, nil, nil, nil, "")
		if err != nil {
			return err
		}
		return b.dcli.ContainerStart(ctx, c.ID, container.StartOptions{})
	})
	if err != nil {
		b.r.Fatal(err)
	}
	return b.finishDaemonRun(image, label, t0)
}

// finishDaemonRun records the start time, waits until every container is
// healthy if the image has a health check, and removes the containers.
func (b *bench) finishDaemonRun(image, label string, t0 time.Time) result {
	res := result{running: time.Since(t0)}
	if image == engine.HealthImage {
		ctx := context.Background()
		for {
			cs, err := b.dcli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
				filters.Arg("label", label), filters.Arg("health", "healthy"))})
			if err == nil && len(cs) >= b.replicas {
				res.healthy = time.Since(t0)
				break
			}
			if time.Since(t0) > b.timeout {
				benchmain.Logf("%s: NOT all %d healthy after %v (err %v): not counted", label, b.replicas, b.timeout, err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := engine.RemoveByLabel(context.Background(), b.dcli, label); err != nil {
		b.r.Fatal(err)
	}
	return res
}

// swarmMode runs the contender on Docker's own Swarm mode.
func (b *bench) swarmMode(image string, round int) result {
	ctx := context.Background()
	// The shared-daemon check was made at the start.
	if why := swarmUnavailable(ctx, b.dcli, true); why != "" {
		b.r.Fatalf("swarm mode: %s", why)
	}
	b.mu.Lock()
	b.swarmMine = true
	b.mu.Unlock()
	if out, err := exec.Command("docker", "swarm", "init", "--advertise-addr", "127.0.0.1").CombinedOutput(); err != nil {
		b.r.Fatalf("docker swarm init: %v: %s", err, out)
	}
	name := fmt.Sprintf("shoal-bench-%d", round)
	t0 := time.Now()
	out, err := exec.Command("docker", "service", "create", "-d", "--quiet", "--name", name,
		"--replicas", fmt.Sprint(b.replicas), "--container-label", benchLabel+"=swarm", image).CombinedOutput()
	if err != nil {
		b.r.Fatalf("docker service create: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(id, '\n'); i >= 0 { // a warning about the registry comes first
		id = id[i+1:]
	}
	running := b.waitServiceRunning(b.dcli, id, t0, "swarm mode")
	if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
		b.r.Fatalf("docker swarm leave --force: %v: %s", err, out)
	}
	b.mu.Lock()
	b.swarmMine = false
	b.mu.Unlock()
	if err := engine.WaitNone(ctx, b.dcli, benchLabel+"=swarm", 3*time.Minute); err != nil {
		if n, err := engine.RemoveByLabel(ctx, b.dcli, benchLabel+"=swarm"); err != nil {
			b.r.Fatalf("swarm mode: removing %d containers left: %v", n, err)
		}
	}
	return result{running: running}
}

// swarmUnavailable says why the Swarm contender cannot run, or "".
func swarmUnavailable(ctx context.Context, cli *client.Client, onShared bool) string {
	if _, err := exec.LookPath("docker"); err != nil {
		return "no docker CLI"
	}
	if h := cli.DaemonHost(); !onShared && (h == client.DefaultDockerHost || h == "unix:///run/docker.sock") {
		return "the daemon at " + h + " is the machine's shared one: run the Swarm contender on a test-bed host (deploy/hosts.sh up --bare -m 1 -w 0; deploy/hosts.sh exec m1 go run ./bench/docker) or pass -swarm-on-shared-daemon"
	}
	info, err := cli.Info(ctx)
	if err != nil {
		return err.Error()
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
		return fmt.Sprintf("the daemon's swarm is %q, not inactive: it is not ours to leave", info.Swarm.LocalNodeState)
	}
	if out, err := exec.Command("docker", "swarm", "--help").CombinedOutput(); err != nil {
		return fmt.Sprintf("docker swarm: %v: %s", err, out)
	}
	return ""
}

// checkSwarmInactive verifies that no swarm was left behind.
func checkSwarmInactive(ctx context.Context, cli *client.Client) error {
	info, err := cli.Info(ctx)
	if err != nil {
		return err
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
		return fmt.Errorf("docker info shows Swarm %q at the end", info.Swarm.LocalNodeState)
	}
	benchmain.Logf("docker info: Swarm inactive")
	return nil
}
