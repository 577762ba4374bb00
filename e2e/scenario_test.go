package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/testimage"
)

// The scenario's cluster: three managers (which run tasks too, as Docker's
// do) and two workers, named as their hostnames.
var (
	managerNames = []string{"m1", "m2", "m3"}
	workerNames  = []string{"w1", "w2"}
	nodeNames    = append(append([]string(nil), managerNames...), workerNames...)
)

// Deadlines: generous, for a loaded 2-core machine; what a step really
// took is in the timing table.
const (
	joinTimeout     = 90 * time.Second
	convergeTimeout = 120 * time.Second
	failoverTimeout = 60 * time.Second
)

// cluster is a running five-node cluster the scenario drives: processes on
// loopback (proctest) or containers (deploy/compose.sh).
type cluster interface {
	// Kind names the cluster in the timing table.
	Kind() string
	// Client returns an API client through the named manager.
	Client(name string) *client.Client
	// Kill kills the node with SIGKILL; Start starts it again from its
	// data dir.
	Kill(t *testing.T, name string)
	Start(t *testing.T, name string)
	// Teardown stops the cluster and removes what it made, the way its
	// users do; Leftovers lists what teardown should have removed and did
	// not, other than task containers (which the scenario checks itself).
	Teardown(t *testing.T)
	Leftovers(ctx context.Context) ([]string, error)
}

// scenario is the end-to-end scenario, run against a cluster that start
// starts: m1 creates it, the four others join with tokens.
type scenario struct {
	t      *testing.T
	start  func() cluster
	c      cluster
	docker *client.Client // the local engine, where every node runs its tasks
	tm     *timings

	ids  map[string]string // node name -> node ID
	down map[string]bool   // nodes killed and not restarted yet

	name          string // service name, unique per run
	svc           string // its ID
	image, image2 string // the demo image and a second tag of it, the "new version"
}

func newScenario(t *testing.T, start func() cluster, docker *client.Client, tm *timings) *scenario {
	return &scenario{
		t: t, start: start, docker: docker, tm: tm,
		ids:  map[string]string{},
		down: map[string]bool{},
		name: "e2e-web-" + randomSuffix(),
	}
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run runs every step.
func (s *scenario) run() {
	t := s.t
	ctx := context.Background()
	img, err := testimage.Ensure(ctx, s.docker)
	if err != nil {
		t.Fatal(err)
	}
	s.image = img
	s.image2 = "shoal/demoapp:e2e-v2-" + randomSuffix()
	if err := s.docker.ImageTag(ctx, s.image, s.image2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.docker.ImageRemove(context.Background(), s.image2, image.RemoveOptions{})
	})

	s.tm.step(t, "1 start, four nodes join with tokens", s.stepJoin)
	s.tm.step(t, "2 6 replicas converge, answer HTTP", s.stepCreate)
	s.tm.step(t, "3 drain a worker, activate it", s.stepDrain)
	s.tm.step(t, "4 kill -9 the leader, restart it", s.stepKillLeader)
	s.tm.step(t, "5 kill -9 a worker, restart it", s.stepKillWorker)
	s.tm.step(t, "6 scale 12 and 3, update, rollback", s.stepScaleUpdateRollback)
	s.tm.step(t, "7 tear down, nothing left", s.stepTeardown)
}

// manager returns a client through a live manager, m1 first.
func (s *scenario) manager() *client.Client {
	for _, n := range managerNames {
		if !s.down[n] {
			return s.c.Client(n)
		}
	}
	s.t.Fatal("no manager left running")
	return nil
}

func (s *scenario) nodeName(id string) string {
	for n, nid := range s.ids {
		if nid == id {
			return n
		}
	}
	return id
}

// clusterView checks, through one manager, that the nodes it should see
// as ready are, and returns the name of the leader it names.
func clusterView(ctx context.Context, cl *client.Client, ready []string) (leader string, nodes []swarm.Node, err error) {
	nodes, err = cl.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return "", nil, err
	}
	status := map[string]swarm.Node{}
	leaders := 0
	for _, n := range nodes {
		status[n.Description.Hostname] = n
		if n.ManagerStatus != nil && n.ManagerStatus.Leader {
			leader = n.Description.Hostname
			leaders++
		}
	}
	if len(nodes) != len(nodeNames) {
		return "", nodes, fmt.Errorf("%d nodes, want %d", len(nodes), len(nodeNames))
	}
	for _, name := range ready {
		n, ok := status[name]
		switch {
		case !ok:
			return "", nodes, fmt.Errorf("node %s missing", name)
		case n.Status.State != swarm.NodeStateReady:
			return "", nodes, fmt.Errorf("node %s is %s", name, n.Status.State)
		case slices.Contains(managerNames, name) && (n.ManagerStatus == nil || n.ManagerStatus.Reachability != swarm.ReachabilityReachable):
			return "", nodes, fmt.Errorf("manager %s is not reachable: %+v", name, n.ManagerStatus)
		}
	}
	if leaders != 1 {
		return "", nodes, fmt.Errorf("%d leaders", leaders)
	}
	return leader, nodes, nil
}

func (s *scenario) stepJoin() {
	t := s.t
	start := time.Now()
	s.c = s.start()
	s.tm.add("  start the nodes ("+s.c.Kind()+")", time.Since(start))
	var leader string
	d := eventually(t, joinTimeout, "five ready nodes and one leader", func(ctx context.Context) error {
		// Every manager must tell the same story.
		leaders := map[string]bool{}
		for _, m := range managerNames {
			l, nodes, err := clusterView(ctx, s.c.Client(m), nodeNames)
			if err != nil {
				return fmt.Errorf("through %s: %w", m, err)
			}
			leaders[l] = true
			leader = l
			for _, n := range nodes {
				s.ids[n.Description.Hostname] = n.ID
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("the managers name different leaders: %v", leaders)
		}
		return nil
	})
	s.tm.add("  then five nodes ready, one leader", d)
	t.Logf("nodes %v, leader %s", s.ids, leader)
}

func replicated(n uint64) swarm.ServiceMode {
	return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
}

func (s *scenario) stepCreate() {
	t := s.t
	ctx := context.Background()
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: s.name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: s.image}},
		Mode:         replicated(6),
		UpdateConfig: &swarm.UpdateConfig{
			Parallelism: 2, FailureAction: swarm.UpdateFailureActionPause,
			Monitor: time.Second, Order: swarm.UpdateOrderStopFirst,
		},
		RollbackConfig: &swarm.UpdateConfig{
			Parallelism: 2, FailureAction: swarm.UpdateFailureActionPause,
			Monitor: time.Second, Order: swarm.UpdateOrderStopFirst,
		},
	}
	resp, err := s.manager().ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.svc = resp.ID
	d := s.waitConverged("6 replicas running and answering HTTP", want{replicas: 6, image: s.image, http: true})
	s.tm.add("  create -> 6/6 running, HTTP ok", d)
}

// want is what a converged service looks like.
type want struct {
	replicas int
	image    string
	avoid    []string // nodes that must run none of its tasks (drained, down)
	http     bool     // ask every container over HTTP too
	update   swarm.UpdateState
}

func (s *scenario) waitConverged(what string, w want) time.Duration {
	s.t.Helper()
	return eventually(s.t, convergeTimeout, what, func(ctx context.Context) error { return s.converged(ctx, w) })
}

// converged checks a service through the API and on the engine: w.replicas
// tasks desired and observed running, each slot once, none on the avoided
// nodes, with the wanted image; and on the engine, for the nodes that are
// up, exactly those tasks' containers running (a stale container still
// running on a node that came back fails the check).
func (s *scenario) converged(ctx context.Context, w want) error {
	cl := s.manager()
	tasks, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", s.svc), filters.Arg("desired-state", "running"))})
	if err != nil {
		return err
	}
	bySlot := map[int]swarm.Task{}
	running := map[string]bool{}
	for _, tk := range tasks {
		node := s.nodeName(tk.NodeID)
		switch {
		case tk.DesiredState != swarm.TaskStateRunning:
			continue
		case tk.Status.State != swarm.TaskStateRunning:
			return fmt.Errorf("task %s (slot %d) on %q is %s %s", tk.ID, tk.Slot, node, tk.Status.State, tk.Status.Err)
		case slices.Contains(w.avoid, node):
			return fmt.Errorf("task %s (slot %d) runs on %s", tk.ID, tk.Slot, node)
		case tk.Spec.ContainerSpec == nil || tk.Spec.ContainerSpec.Image != w.image:
			return fmt.Errorf("task %s (slot %d) runs an image other than %s", tk.ID, tk.Slot, w.image)
		}
		if other, dup := bySlot[tk.Slot]; dup {
			return fmt.Errorf("slot %d runs twice: tasks %s on %s and %s on %s", tk.Slot, other.ID, s.nodeName(other.NodeID), tk.ID, node)
		}
		bySlot[tk.Slot] = tk
		running[tk.ID] = true
	}
	if len(bySlot) != w.replicas {
		return fmt.Errorf("%d tasks running, want %d", len(bySlot), w.replicas)
	}
	for slot := 1; slot <= w.replicas; slot++ {
		if _, ok := bySlot[slot]; !ok {
			return fmt.Errorf("slot %d has no running task (slots %v)", slot, slices.Sorted(maps.Keys(bySlot)))
		}
	}
	if w.update != "" {
		svc, _, err := cl.ServiceInspectWithRaw(ctx, s.svc, swarm.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		if svc.UpdateStatus == nil || svc.UpdateStatus.State != w.update {
			return fmt.Errorf("update status %+v, want %s", svc.UpdateStatus, w.update)
		}
	}

	cs, err := serviceContainers(ctx, s.docker, s.svc)
	if err != nil {
		return err
	}
	var live []taskContainer
	slots := map[int]string{}
	for _, c := range cs {
		node := s.nodeName(c.NodeID)
		if !c.Running || s.down[node] {
			continue
		}
		if other, dup := slots[c.Slot]; dup {
			return fmt.Errorf("slot %d has two running containers: %s and %s (on %s)", c.Slot, other, c.TaskName, node)
		}
		slots[c.Slot] = c.TaskName
		if !running[c.TaskID] {
			return fmt.Errorf("container %s of task %s still runs on %s; the task is not running there", c.ID[:12], c.TaskName, node)
		}
		live = append(live, c)
	}
	if len(live) != w.replicas {
		return fmt.Errorf("%d running containers on the live nodes, want %d", len(live), w.replicas)
	}
	if w.http {
		for _, c := range live {
			if err := askContainer(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// tasksPerNode counts the service's running tasks on each node.
func (s *scenario) tasksPerNode(ctx context.Context) map[string]int {
	s.t.Helper()
	tasks, err := s.manager().TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", s.svc), filters.Arg("desired-state", "running"))})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]int{}
	for _, tk := range tasks {
		out[s.nodeName(tk.NodeID)]++
	}
	return out
}

func (s *scenario) setAvailability(name string, a swarm.NodeAvailability) {
	s.t.Helper()
	eventually(s.t, 30*time.Second, fmt.Sprintf("node %s %s", name, a), func(ctx context.Context) error {
		cl := s.manager()
		n, _, err := cl.NodeInspectWithRaw(ctx, s.ids[name])
		if err != nil {
			return err
		}
		n.Spec.Availability = a
		return cl.NodeUpdate(ctx, n.ID, n.Version, n.Spec)
	})
}

func (s *scenario) stepDrain() {
	t := s.t
	ctx := context.Background()
	per := s.tasksPerNode(ctx)
	target := busiest(per, workerNames)
	if per[target] == 0 {
		t.Fatalf("no worker runs a task (%v): draining one would prove nothing; spread placement should have put some there", per)
	}
	t.Logf("tasks per node %v; draining %s", per, target)
	start := time.Now()
	s.setAvailability(target, swarm.NodeAvailabilityDrain)
	s.waitConverged("tasks moved off the drained "+target, want{replicas: 6, image: s.image, avoid: []string{target}, http: true})
	s.tm.add(fmt.Sprintf("  drain %s (%d tasks) -> 6/6 elsewhere", target, per[target]), time.Since(start))
	s.setAvailability(target, swarm.NodeAvailabilityActive)
	// Activating moves nothing back (no rebalancing asked for): still 6.
	s.waitConverged("6 running after activating "+target, want{replicas: 6, image: s.image})
}

// busiest returns the candidate running the most tasks (the first on a tie).
func busiest(per map[string]int, candidates []string) string {
	best := candidates[0]
	for _, n := range candidates[1:] {
		if per[n] > per[best] {
			best = n
		}
	}
	return best
}

// leader asks every live manager at once and returns the first live leader
// one of them names.
func (s *scenario) leader(ctx context.Context) (string, error) {
	type answer struct {
		leader string
		err    error
	}
	var live []*client.Client
	for _, m := range managerNames {
		if !s.down[m] {
			live = append(live, s.c.Client(m))
		}
	}
	down := maps.Clone(s.down) // the goroutines may outlive this call
	answers := make(chan answer, len(live))
	for _, cl := range live {
		go func() {
			nodes, err := cl.NodeList(ctx, swarm.NodeListOptions{})
			for _, n := range nodes {
				if n.ManagerStatus != nil && n.ManagerStatus.Leader && !down[n.Description.Hostname] {
					answers <- answer{leader: n.Description.Hostname}
					return
				}
			}
			if err == nil {
				err = errors.New("names no live leader")
			}
			answers <- answer{err: err}
		}()
	}
	var errs []error
	for range live {
		a := <-answers
		if a.err == nil {
			return a.leader, nil
		}
		errs = append(errs, a.err)
	}
	return "", fmt.Errorf("no live manager names a live leader: %w", errors.Join(errs...))
}

func (s *scenario) stepKillLeader() {
	t := s.t
	var old string
	eventually(t, failoverTimeout, "the leader", func(ctx context.Context) (err error) {
		old, err = s.leader(ctx)
		return err
	})
	per := s.tasksPerNode(context.Background())
	t.Logf("killing the leader %s (running %d tasks)", old, per[old])
	s.c.Kill(t, old)
	killed := time.Now()
	s.down[old] = true

	// Calls cut short after a second: a read a follower forwards to the
	// dead leader waits for the connection to fail, which says nothing
	// about when the new leader was elected. The first write below, given
	// 10 s, shows what a client waits.
	var newLeader string
	d := poll(t, failoverTimeout, time.Second, "a new leader", func(ctx context.Context) (err error) {
		newLeader, err = s.leader(ctx)
		return err
	})
	s.tm.add("  leader kill -> new leader", d)
	t.Logf("new leader %s after %v", newLeader, d)

	probe := s.name + "-probe"
	eventually(t, failoverTimeout, "a write through another manager", func(ctx context.Context) error {
		// Through a follower when there is one: the write is forwarded.
		cl := s.manager()
		for _, m := range managerNames {
			if !s.down[m] && m != newLeader {
				cl = s.c.Client(m)
				break
			}
		}
		_, err := cl.ServiceCreate(ctx, swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: probe},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: s.image}},
			Mode:         replicated(0),
		}, swarm.ServiceCreateOptions{})
		if err != nil && strings.Contains(err.Error(), "already") {
			return nil // an earlier attempt went through after its deadline
		}
		return err
	})
	s.tm.add("  leader kill -> first write ok", time.Since(killed))

	poll(t, failoverTimeout, time.Second, old+" marked down", func(ctx context.Context) error {
		return s.nodeDown(ctx, old)
	})
	s.tm.add("  leader kill -> it is marked down", time.Since(killed))
	s.waitConverged("6 running without the old leader", want{replicas: 6, image: s.image, avoid: []string{old}, http: true})
	s.tm.add("  leader kill -> 6/6 running elsewhere", time.Since(killed))

	restarted := time.Now()
	s.c.Start(t, old)
	s.down[old] = false
	d = eventually(t, failoverTimeout, old+" back as a follower", func(ctx context.Context) error {
		// Through the restarted manager itself: it serves, sees the
		// write made while it was down, and names the new leader.
		cl := s.c.Client(old)
		l, _, err := clusterView(ctx, cl, nodeNames)
		if err != nil {
			return err
		}
		if l == old {
			return fmt.Errorf("%s is the leader again", old)
		}
		_, _, err = cl.ServiceInspectWithRaw(ctx, probe, swarm.ServiceInspectOptions{})
		return err
	})
	s.tm.add("  old leader restart -> follower, caught up", d)
	// Its stale containers (tasks replaced while it was down) stop: one
	// container per slot again across every node.
	s.waitConverged("no slot running twice after "+old+" came back", want{replicas: 6, image: s.image})
	s.tm.add("  old leader restart -> stale containers stopped", time.Since(restarted))
	l, err := s.leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l != newLeader {
		t.Errorf("leadership moved from %s to %s when %s restarted", newLeader, l, old)
	}
}

func (s *scenario) nodeDown(ctx context.Context, name string) error {
	n, _, err := s.manager().NodeInspectWithRaw(ctx, s.ids[name])
	if err != nil {
		return err
	}
	if n.Status.State != swarm.NodeStateDown {
		return fmt.Errorf("%s is %s", name, n.Status.State)
	}
	return nil
}

func (s *scenario) stepKillWorker() {
	t := s.t
	per := s.tasksPerNode(context.Background())
	victim := busiest(per, workerNames)
	if per[victim] == 0 {
		t.Fatalf("no worker runs a task (%v): killing one would prove nothing", per)
	}
	t.Logf("tasks per node %v; killing %s", per, victim)
	s.c.Kill(t, victim)
	killed := time.Now()
	s.down[victim] = true

	d := poll(t, failoverTimeout, time.Second, victim+" marked down", func(ctx context.Context) error {
		return s.nodeDown(ctx, victim)
	})
	s.tm.add("  worker kill -> node down", d)
	s.waitConverged("replacements for "+victim+"'s tasks", want{replicas: 6, image: s.image, avoid: []string{victim}, http: true})
	s.tm.add(fmt.Sprintf("  worker kill -> replacements running (%d tasks)", per[victim]), time.Since(killed))

	restarted := time.Now()
	s.c.Start(t, victim)
	s.down[victim] = false
	d = eventually(t, joinTimeout, victim+" ready again", func(ctx context.Context) error {
		_, _, err := clusterView(ctx, s.manager(), nodeNames)
		return err
	})
	s.tm.add("  worker restart -> ready", d)
	s.waitConverged("no slot running twice after "+victim+" came back", want{replicas: 6, image: s.image})
	s.tm.add("  worker restart -> stale containers stopped", time.Since(restarted))
}

func (s *scenario) updateService(what string, rollback bool, change func(*swarm.ServiceSpec)) {
	s.t.Helper()
	eventually(s.t, 30*time.Second, what, func(ctx context.Context) error {
		cl := s.manager()
		svc, _, err := cl.ServiceInspectWithRaw(ctx, s.svc, swarm.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		opts := swarm.ServiceUpdateOptions{}
		if rollback {
			opts.Rollback = "previous"
		}
		change(&svc.Spec)
		_, err = cl.ServiceUpdate(ctx, s.svc, svc.Version, svc.Spec, opts)
		return err
	})
}

func (s *scenario) scale(n uint64) {
	s.updateService(fmt.Sprintf("scale to %d", n), false, func(sp *swarm.ServiceSpec) { sp.Mode = replicated(n) })
}

func (s *scenario) stepScaleUpdateRollback() {
	start := time.Now()
	s.scale(12)
	s.waitConverged("12 replicas", want{replicas: 12, image: s.image, http: true})
	s.tm.add("  scale 6 -> 12", time.Since(start))

	start = time.Now()
	s.scale(3)
	s.waitConverged("3 replicas", want{replicas: 3, image: s.image})
	s.tm.add("  scale 12 -> 3", time.Since(start))

	start = time.Now()
	s.updateService("rolling update to "+s.image2, false, func(sp *swarm.ServiceSpec) { sp.TaskTemplate.ContainerSpec.Image = s.image2 })
	s.waitConverged("rolling update to "+s.image2, want{replicas: 3, image: s.image2, http: true, update: swarm.UpdateStateCompleted})
	s.tm.add("  rolling update (3 tasks)", time.Since(start))

	start = time.Now()
	s.updateService("rollback", true, func(*swarm.ServiceSpec) {})
	s.waitConverged("rollback to "+s.image, want{replicas: 3, image: s.image, http: true, update: swarm.UpdateStateRollbackCompleted})
	s.tm.add("  rollback (3 tasks)", time.Since(start))
}

func (s *scenario) stepTeardown() {
	t := s.t
	ctx := context.Background()
	for _, name := range []string{s.name, s.name + "-probe"} {
		if err := s.manager().ServiceRemove(ctx, name); err != nil {
			t.Fatalf("service rm %s: %v", name, err)
		}
	}
	d := eventually(t, convergeTimeout, "the service's containers removed by the agents", func(ctx context.Context) error {
		cs, err := serviceContainers(ctx, s.docker, s.svc)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			var names []string
			for _, c := range cs {
				names = append(names, fmt.Sprintf("%s on %s (running %v)", c.TaskName, s.nodeName(c.NodeID), c.Running))
			}
			return fmt.Errorf("%d containers left: %s", len(cs), strings.Join(names, ", "))
		}
		return nil
	})
	s.tm.add("  service rm -> containers removed", d)

	start := time.Now()
	s.c.Teardown(t)
	s.tm.add("  cluster teardown", time.Since(start))
	ids := make([]string, 0, len(s.ids))
	for _, id := range s.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	cs, err := nodeContainers(ctx, s.docker, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Errorf("left behind: container %s %v (%s)", c.ID[:12], c.Names, c.State)
	}
	left, err := s.c.Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		t.Errorf("left behind: %s", l)
	}
}
