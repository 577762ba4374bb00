package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// agents plays the scheduler and the agents of every node against the real
// store, as those components will: it assigns pending tasks to ready,
// active nodes (spreading them), and reports assigned tasks running and
// stopped tasks shut down. The orchestrator creating the tasks is the
// real one.
type agents struct {
	t      *testing.T
	m      *rafttest.Member
	cancel context.CancelFunc
	done   chan struct{}
}

func startAgents(t *testing.T, m *rafttest.Member) *agents {
	ctx, cancel := context.WithCancel(context.Background())
	a := &agents{t: t, m: m, cancel: cancel, done: make(chan struct{})}
	go a.run(ctx)
	t.Cleanup(func() {
		a.cancel()
		<-a.done
	})
	return a
}

func (a *agents) run(ctx context.Context) {
	defer close(a.done)
	watch := a.m.Store.Watch()
	defer func() { watch.Close() }()
	for {
		if ops := a.step(); len(ops) > 0 {
			pctx, cancel := context.WithTimeout(ctx, waitTimeout)
			_, err := a.m.Node.Propose(pctx, state.NewCommand(ops...))
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				a.t.Logf("agents: %v", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-watch.Ready():
			if _, err := watch.Drain(); err != nil {
				watch.Close()
				watch = a.m.Store.Watch()
			}
		case <-time.After(time.Second):
		}
	}
}

func (a *agents) step() []state.Op {
	var assign []state.Assignment
	reports := map[string][]model.TaskStatusUpdate{}
	now := time.Now().UTC()
	_ = a.m.Store.View(func(tx state.ReadTx) error {
		nodes, _ := tx.FindNodes(state.All)
		byID := map[string]*model.Node{}
		load := map[string]int{}
		var eligible []*model.Node
		for _, n := range nodes {
			byID[n.ID] = n
			if n.Status.State == model.NodeStateReady && n.Spec.Availability == model.AvailabilityActive {
				eligible = append(eligible, n)
			}
		}
		tasks, _ := tx.FindTasks(state.All)
		for _, t := range tasks {
			if t.NodeID != "" && t.DesiredState.Wanted() {
				load[t.NodeID]++
			}
		}
		for _, t := range tasks {
			switch n := byID[t.NodeID]; {
			case t.Status.State == model.TaskStatePending && t.DesiredState.Wanted():
				target := t.NodeID
				if target == "" && len(eligible) > 0 {
					best := slices.MinFunc(eligible, func(x, y *model.Node) int { return load[x.ID] - load[y.ID] })
					target = best.ID
					load[target]++
				}
				if target != "" {
					assign = append(assign, state.Assignment{TaskID: t.ID, NodeID: target})
				}
			case n == nil || n.Status.State != model.NodeStateReady:
			case t.Status.State < model.TaskStateAssigned || t.Status.State > model.TaskStateRunning:
			case !t.DesiredState.Wanted():
				reports[n.ID] = append(reports[n.ID], model.TaskStatusUpdate{TaskID: t.ID,
					Status: model.TaskStatus{Timestamp: now, State: model.TaskStateShutdown, Message: "shutdown",
						Container: t.Status.Container}})
			case t.Status.State == model.TaskStateRunning && t.DesiredState == model.TaskStateComplete:
				// A job's container exits: 0, or 1 for the images named
				// fail*.
				st := model.TaskStatus{Timestamp: now, State: model.TaskStateComplete, Message: "finished",
					Container: &model.ContainerStatus{ContainerID: "c-" + t.ID}}
				if strings.HasPrefix(t.Spec.Container.Image, "fail") {
					st = model.TaskStatus{Timestamp: now, State: model.TaskStateFailed, Message: "started",
						Err: "task: non-zero exit (1)", Container: &model.ContainerStatus{ContainerID: "c-" + t.ID, ExitCode: 1}}
				}
				reports[n.ID] = append(reports[n.ID], model.TaskStatusUpdate{TaskID: t.ID, Status: st})
			case t.Status.State < model.TaskStateRunning:
				reports[n.ID] = append(reports[n.ID], model.TaskStatusUpdate{TaskID: t.ID,
					Status: model.TaskStatus{Timestamp: now, State: model.TaskStateRunning, Message: "started",
						Container: &model.ContainerStatus{ContainerID: "c-" + t.ID, PID: 42}}})
			}
		}
		return nil
	})
	var ops []state.Op
	if len(assign) > 0 {
		ops = append(ops, state.Op{Type: state.OpAssignTasks, Assignments: assign})
	}
	for id, r := range reports {
		ops = append(ops, state.Op{Type: state.OpTaskStatus, ID: id, TaskStatuses: r})
	}
	return ops
}

// dockerCLI runs the stock docker CLI against a server on a unix socket.
type dockerCLI struct {
	t      *testing.T
	docker string
	sock   string
	env    []string
	// printed is everything the CLI printed, on both streams.
	printed strings.Builder
	// stdin, if set, is the next command's standard input.
	stdin string
}

// run runs one docker command and logs it with its output, which is the
// record of what the CLI printed.
func (d *dockerCLI) run(args ...string) (stdout, stderr string, err error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.docker, append([]string{"-H", "unix://" + d.sock}, args...)...)
	cmd.Env = d.env
	if d.stdin != "" {
		cmd.Stdin, d.stdin = strings.NewReader(d.stdin), ""
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	d.t.Logf("$ docker %s  (exit: %v)\n%s%s", strings.Join(args, " "), exitStatus(err), indent(o.String(), "> "), indent(e.String(), "! "))
	d.printed.WriteString(o.String())
	d.printed.WriteString(e.String())
	return o.String(), e.String(), err
}

// ok runs a command that must succeed and returns its standard output.
func (d *dockerCLI) ok(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.run(args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fails runs a command that must fail and returns its error output.
func (d *dockerCLI) fails(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.run(args...)
	if err == nil {
		d.t.Errorf("docker %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	if err != nil {
		return err.Error()
	}
	return "0"
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func wantContains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// startDockerCLI starts a one-manager cluster with a second node, the
// real orchestrator, simulated agents and the API on a unix socket, and
// returns the docker CLI to drive it. It skips the test if there is no
// docker CLI.
func startDockerCLI(t *testing.T) (*env, *dockerCLI) {
	t.Helper()
	docker := dockerBinary(t)
	e := newEnv(t, 1, orchestrated(t))
	e.addWorker("wrk0000000000000000000002", "node-2", func(n *model.Node) { n.Status.Addr = "10.0.0.2" })
	startAgents(t, e.b.m)
	return e, serveDockerCLI(t, e.srv, docker)
}

// TestDockerCLI drives the server with the stock docker CLI over a unix
// socket, the way users will: a real Raft store, the real orchestrator on
// the leader, simulated scheduler and agents.
func TestDockerCLI(t *testing.T) {
	e, d := startDockerCLI(t)
	version, _, _ := d.run("version", "--format", "{{.Client.Version}} API {{.Client.APIVersion}} against {{.Server.Version}} API {{.Server.APIVersion}}")
	t.Logf("CLI: %s", strings.TrimSpace(version))

	out := d.ok("info")
	wantContains(t, "docker info", out, "Swarm: active", "NodeID: node1", "Is Manager: true", "ClusterID: "+e.clusterObject().ID,
		"Managers: 1", "Nodes: 2", "Node Address: 10.0.0.1", "10.0.0.1:2377", "Task History Retention Limit: 5")

	out = d.ok("node", "ls")
	wantContains(t, "node ls", out, "node1 *", "manager-1", "node-2", "Ready", "Active", "Leader", "28.5.2")

	// Create, list, inspect, ps.
	created := strings.TrimSpace(d.ok("service", "create", "-d", "--name", "web", "--replicas", "3", "nginx:1.27"))
	svc := e.service("web")
	if created != svc.ID {
		t.Errorf("service create printed %q, the service is %s", created, svc.ID)
	}
	waitRunning(t, e, "web", 3)
	out = d.ok("service", "ls")
	wantContains(t, "service ls", out, "web", "replicated", "3/3", "nginx:1.27")
	out = d.ok("service", "ps", "web")
	wantContains(t, "service ps", out, "web.1", "web.2", "web.3", "manager-1", "node-2", "Running")
	// Logs, as the dispatcher will relay them: the CLI reads the details
	// of each line to name its task.
	var webTasks []*model.Task
	e.read(func(tx state.ReadTx) { webTasks, _ = tx.FindTasks(state.ByServiceID(svc.ID)) })
	slices.SortFunc(webTasks, func(a, b *model.Task) int { return int(a.Slot) - int(b.Slot) })
	for i, task := range webTasks {
		e.b.logs.add(api.LogMessage{Context: api.LogContext{NodeID: task.NodeID, ServiceID: svc.ID, TaskID: task.ID},
			Timestamp: time.Now(), Stream: api.LogStream(1 + i%2), Data: []byte("hello from slot " + itoa(task.Slot))})
	}
	out = d.ok("service", "logs", "--no-trunc", "web")
	t1 := webTasks[0]
	wantContains(t, "service logs", out, "web.1."+t1.ID+"@"+map[string]string{"node1": "manager-1", "wrk0000000000000000000002": "node-2"}[t1.NodeID]+"    | hello from slot 1")
	var inspected []swarm.Service
	if err := json.Unmarshal([]byte(d.ok("service", "inspect", "web")), &inspected); err != nil || len(inspected) != 1 ||
		inspected[0].ID != svc.ID || inspected[0].Spec.UpdateConfig == nil {
		t.Errorf("service inspect: %v %+v", err, inspected)
	}
	out = d.ok("service", "inspect", "--pretty", "web")
	wantContains(t, "service inspect --pretty", out, "Name:\t\tweb", "Replicas:\t3", "nginx:1.27")

	// Scale, update, rollback.
	out = d.ok("service", "scale", "-d", "web=5")
	wantContains(t, "service scale", out, "web scaled to 5")
	if s := e.service("web"); s.Spec.Replicas() != 5 || s.UpdateStatus != nil {
		t.Errorf("after scale: replicas %d, update status %+v", s.Spec.Replicas(), s.UpdateStatus)
	}
	d.ok("service", "update", "-d", "--image", "nginx:1.28", "web")
	if img := e.service("web").Spec.Task.Container.Image; img != "nginx:1.28" {
		t.Errorf("image after update: %s", img)
	}
	out = d.ok("service", "rollback", "-d", "web")
	wantContains(t, "service rollback", out, "web")
	if s := e.service("web"); s.Spec.Task.Container.Image != "nginx:1.27" || s.UpdateStatus == nil ||
		s.UpdateStatus.Message != api.ManualRollbackMessage {
		t.Errorf("after rollback: %s %+v", s.Spec.Task.Container.Image, s.UpdateStatus)
	}

	// Errors as the CLI shows them.
	errOut := d.fails("service", "create", "-d", "--name", "mesh", "--endpoint-mode", "dnsrr", "--publish", "8080:80", "nginx:1.27")
	wantContains(t, "refused ingress port with dnsrr", errOut, "EndpointSpec.Ports[0].PublishMode: port published with ingress mode can't be used with dnsrr mode")
	errOut = d.fails("service", "create", "-d", "--name", "web", "nginx:1.27")
	wantContains(t, "duplicate name", errOut, "Error response from daemon: service name web is already in use")
	errOut = d.fails("service", "update", "-d", "--image", "nginx:1.29", "nope")
	wantContains(t, "missing service", errOut, "service nope not found")
	// Issue 21: these were accepted, and the first one panicked every
	// manager for good.
	errOut = d.fails("service", "create", "-d", "--name", "huge", "--replicas", "9223372036854775808", "nginx:1.27")
	wantContains(t, "2^63 replicas", errOut, "Mode.Replicated.Replicas: 9223372036854775808 is more than 1000000")
	errOut = d.fails("service", "scale", "-d", "web=10000000")
	wantContains(t, "scale to ten million", errOut, "Mode.Replicated.Replicas: 10000000 is more than 1000000")
	errOut = d.fails("service", "update", "-d", "--replicas", "100001", "web")
	wantContains(t, "update over the cluster's limit", errOut, "replicas 100001 is more than the cluster's limit of 100000", "--max-replicas")

	d.ok("service", "rm", "web")
	if out := d.ok("service", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("service ls after rm: %q", out)
	}

	// Nodes.
	var nodes []swarm.Node
	if err := json.Unmarshal([]byte(d.ok("node", "inspect", "node-2")), &nodes); err != nil || len(nodes) != 1 ||
		nodes[0].Description.Hostname != "node-2" {
		t.Errorf("node inspect: %v %+v", err, nodes)
	}
	out = d.ok("node", "inspect", "--pretty", "self")
	wantContains(t, "node inspect --pretty self", out, "Hostname:", "manager-1", "Leader:", "BEGIN CERTIFICATE")
	d.ok("node", "update", "--availability", "drain", "node-2")
	if n := e.node("wrk0000000000000000000002"); n.Spec.Availability != model.AvailabilityDrain {
		t.Errorf("after drain: %s", n.Spec.Availability)
	}
	d.ok("node", "update", "--availability", "active", "node-2")
	out = d.ok("node", "promote", "node-2")
	wantContains(t, "node promote", out, "Node node-2 promoted to a manager in the swarm.")
	if n := e.node("wrk0000000000000000000002"); n.Spec.DesiredRole != model.RoleManager {
		t.Errorf("after promote: %s", n.Spec.DesiredRole)
	}
	out = d.ok("node", "demote", "node-2")
	wantContains(t, "node demote", out, "Manager node-2 demoted in the swarm.")
	errOut = d.fails("node", "demote", "manager-1")
	wantContains(t, "demote the last manager", errOut, "attempting to demote the last manager of the swarm")

	// Join tokens.
	out = d.ok("swarm", "join-token", "worker")
	wantContains(t, "join-token worker", out, "docker swarm join --token "+e.clusterObject().RootCA.JoinTokens.Worker+" 10.0.0.1:2377")
	old := e.clusterObject().RootCA.JoinTokens.Worker
	rotated := strings.TrimSpace(d.ok("swarm", "join-token", "-q", "--rotate", "worker"))
	if now := e.clusterObject().RootCA.JoinTokens.Worker; rotated != now || now == old || !strings.HasPrefix(now, "SWMTKN-1-") {
		t.Errorf("rotated token %q, stored %q, old %q", rotated, now, old)
	}

	// A create without -d follows the progress until the service
	// converged: the orchestrator makes the tasks, the agents run them,
	// and the CLI waits the update monitor period (5 s) before it says so.
	start := time.Now()
	stdout, stderr, err := d.run("service", "create", "--name", "api", "--replicas", "2", "nginx:1.27")
	if err != nil {
		t.Fatalf("service create without -d: %v\n%s%s", err, stdout, stderr)
	}
	// Without a terminal the CLI prints each progress line once, without
	// the per-slot state bars.
	wantContains(t, "service create progress", stdout, firstLine(stdout), "overall progress: 0 out of 2 tasks", "1/2:", "2/2:",
		"overall progress: 2 out of 2 tasks", "verify: Waiting 5 seconds to verify that tasks are stable...",
		"verify: Service "+e.service("api").ID+" converged")
	if s := e.service("api"); s.UpdateStatus != nil {
		t.Errorf("update status after create: %+v", s.UpdateStatus)
	}
	t.Logf("service create converged after %v", time.Since(start).Round(time.Millisecond))
}

// orchestrated runs the real orchestrator on the leader of an env's
// cluster.
func orchestrated(t *testing.T) func(c *rafttest.Cluster) {
	return func(c *rafttest.Cluster) {
		c.OnStart = func(m *rafttest.Member) {
			cfg := orchestrator.DefaultConfig()
			cfg.Logger = testLogger(t).With("component", "orchestrator")
			o := orchestrator.New(m.Store, m.Node, cfg)
			m.Node.OnLeader(func(ctx context.Context) {
				if err := o.Run(ctx); err != nil {
					t.Errorf("orchestrator: %v", err)
				}
			})
			t.Cleanup(o.Stop)
		}
	}
}

// dockerBinary returns the docker CLI's path, or skips the test.
func dockerBinary(t *testing.T) string {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("skipping: no docker CLI binary on PATH; the stock-CLI tests need one (no engine is needed)")
	}
	return docker
}

// serveDockerCLI serves srv on a unix socket until the test ends and
// returns the docker CLI pointed at it.
func serveDockerCLI(t *testing.T, srv *api.Server, docker string) *dockerCLI {
	t.Helper()
	// Unix socket paths are limited to about 100 bytes; t.TempDir can be
	// longer.
	dir, err := os.MkdirTemp("", "shoal-cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, api.SocketName)
	l, err := api.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &dockerCLI{t: t, docker: docker, sock: sock, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DOCKER_CONFIG=" + filepath.Join(dir, "config"),
		"DOCKER_CLI_HINTS=false",
	}}
}

// firstLine is the first line of a create's output, the service ID.
func firstLine(out string) string {
	id, _, _ := strings.Cut(out, "\n")
	return id + "\n"
}

// waitRunning waits until n tasks of a service run.
func waitRunning(t *testing.T, e *env, service string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		running := 0
		e.read(func(tx state.ReadTx) {
			ss, _ := tx.FindServices(state.ByName(service))
			if len(ss) != 1 {
				return
			}
			_ = tx.ForEachTask(state.ByServiceID(ss[0].ID), func(t *model.Task) bool {
				if t.Status.State == model.TaskStateRunning && t.DesiredState == model.TaskStateRunning {
					running++
				}
				return true
			})
		})
		if running == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks of %s running after %v", running, n, service, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
