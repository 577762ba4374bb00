package dockerexec_test

// These tests run real containers of the demo image on the local Docker
// engine; they skip, saying why, when no engine answers. Every test uses
// its own node ID and removes every container labelled with it when it
// ends, whatever the outcome. Tests run in parallel: most of their time is
// spent waiting for health checks and grace periods.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/agent/exec/dockerexec"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
)

// harness is one node's executor on the shared engine.
type harness struct {
	t      *testing.T
	ctx    context.Context
	cli    *client.Client
	nodeID string
	exec   *dockerexec.Executor
	// image has the Dockerfile's healthcheck, plain has none.
	image, plain string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cli := testimage.Client(t)
	// Generous: a cold build of the image compiles demoapp first.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	image, err := testimage.Ensure(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := testimage.EnsureVariant(ctx, cli, testimage.NoHealthcheck)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, cli: cli, image: image, plain: plain}
	h.nodeID = "node-" + model.NewID()[:12]
	h.exec = h.executor(h.nodeID)
	t.Cleanup(func() { removeNode(t, cli, h.nodeID) })
	return h
}

// executor returns another executor of the same engine.
func (h *harness) executor(nodeID string, opts ...dockerexec.Option) *dockerexec.Executor {
	e, err := dockerexec.New(h.cli, nodeID, append([]dockerexec.Option{dockerexec.WithLogger(testLogger(h.t))}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// removeNode force-removes every container of a node: the cleanup, run
// with a fresh context so that it works after a timeout too.
func removeNode(t *testing.T, cli *client.Client, nodeID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", dockerexec.LabelNodeID+"="+nodeID)),
	})
	if err != nil {
		t.Errorf("cleanup: list containers of %s: %v", nodeID, err)
		return
	}
	for _, c := range list {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("cleanup: remove %s: %v", c.ID, err)
		}
	}
}

func testLogger(t *testing.T) *slog.Logger { return testutil.Logger(t, slog.LevelDebug) }

// task returns a new task of this node, assigned and desired running.
func (h *harness) task(service, image string, args ...string) *model.Task {
	return &model.Task{
		ID:           model.NewID(),
		ServiceID:    model.NewID(),
		ServiceName:  service,
		Slot:         1,
		NodeID:       h.nodeID,
		DesiredState: model.TaskStateRunning,
		Status:       model.TaskStatus{State: model.TaskStateAssigned},
		Spec:         model.TaskSpec{Container: model.ContainerSpec{Image: image, Args: args}},
	}
}

func (h *harness) controller(task *model.Task) exec.Controller {
	h.t.Helper()
	ctlr, err := h.exec.Controller(task)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = ctlr.Close() })
	return ctlr
}

// drive calls exec.Do as an agent would until the task reaches `until` or
// stops moving, and returns the states it went through.
func (h *harness) drive(task *model.Task, ctlr exec.Controller, until model.TaskState) []model.TaskState {
	h.t.Helper()
	var seen []model.TaskState
	ctx := exec.WithLogger(h.ctx, testLogger(h.t))
	for task.Status.State < until {
		status, err := exec.Do(ctx, task, ctlr)
		if status.State < task.Status.State {
			h.t.Fatalf("state moved backwards: %v -> %v", task.Status.State, status.State)
		}
		if status.State != task.Status.State {
			seen = append(seen, status.State)
		}
		task.Status = *status
		if errors.Is(err, exec.ErrTaskNoop) {
			break
		}
		if err != nil {
			h.t.Fatalf("Do in %v: %v", task.Status.State, err)
		}
	}
	return seen
}

func (h *harness) inspect(task *model.Task) container.InspectResponse {
	h.t.Helper()
	ctr, err := h.cli.ContainerInspect(h.ctx, dockerexec.ContainerName(task))
	if err != nil {
		h.t.Fatal(err)
	}
	return ctr
}

// get fetches a URL, retrying while the server starts.
func (h *harness) get(url string) []byte {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := func() ([]byte, error) {
			resp, err := http.Get(url)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s", resp.Status)
			}
			return io.ReadAll(resp.Body)
		}()
		if err == nil {
			return body
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func containerIP(ctr container.InspectResponse) string {
	for _, n := range ctr.NetworkSettings.Networks {
		if n.IPAddress != "" {
			return n.IPAddress
		}
	}
	return ""
}

func TestRunServeShutdownRemove(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	task := h.task("web", h.plain)
	grace := 3 * time.Second
	task.Spec.Container.StopGracePeriod = &grace
	task.Spec.Container.Labels = map[string]string{"team": "blue"}
	task.Spec.Container.Env = []string{"EXTRA=1"}
	task.Spec.Container.Mounts = []model.Mount{
		{Type: model.MountTypeTmpfs, Target: "/scratch"},
		{Type: model.MountTypeBind, Source: t.TempDir(), Target: "/data", ReadOnly: true},
	}
	task.Spec.Resources = model.ResourceRequirements{
		Limits:    model.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
		PidsLimit: 64,
	}
	task.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishMode: "host"}}}
	ctlr := h.controller(task)

	seen := h.drive(task, ctlr, model.TaskStateRunning)
	want := []model.TaskState{model.TaskStateAccepted, model.TaskStatePreparing, model.TaskStateReady,
		model.TaskStateStarting, model.TaskStateRunning}
	if !slices.Equal(seen, want) {
		t.Fatalf("states = %v, want %v", seen, want)
	}
	ctr := h.inspect(task)
	if task.Status.Container == nil || task.Status.Container.ContainerID != ctr.ID || task.Status.Container.PID == 0 {
		t.Fatalf("container status = %+v, container %s", task.Status.Container, ctr.ID)
	}

	// What the engine was told.
	if ctr.Name != "/web.1."+task.ID {
		t.Errorf("name = %s", ctr.Name)
	}
	for k, v := range map[string]string{
		"team": "blue", dockerexec.LabelNodeID: h.nodeID, dockerexec.LabelTaskID: task.ID,
		dockerexec.LabelServiceID: task.ServiceID, dockerexec.LabelServiceName: "web",
		dockerexec.LabelTaskSlot: "1", dockerexec.LabelTaskName: "web.1",
	} {
		if ctr.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, ctr.Config.Labels[k], v)
		}
	}
	if !slices.Contains(ctr.Config.Env, "EXTRA=1") {
		t.Errorf("env = %v", ctr.Config.Env)
	}
	hc := ctr.HostConfig
	if hc.RestartPolicy.Name != container.RestartPolicyDisabled && hc.RestartPolicy.Name != "" {
		t.Errorf("restart policy %q: the orchestrator restarts, not the engine", hc.RestartPolicy.Name)
	}
	if hc.NanoCPUs != 5e8 || hc.Memory != 64<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 64 || len(hc.Mounts) != 2 {
		t.Errorf("host config: cpus %d memory %d pids %v mounts %+v", hc.NanoCPUs, hc.Memory, hc.PidsLimit, hc.Mounts)
	}
	if ctr.Config.StopTimeout == nil || *ctr.Config.StopTimeout != 3 {
		t.Errorf("stop timeout = %v, want 3", ctr.Config.StopTimeout)
	}

	// It serves, on the container's IP and on the published port.
	var id struct {
		TaskName    string `json:"task_name"`
		TaskID      string `json:"task_id"`
		NodeID      string `json:"node_id"`
		ServiceName string `json:"service_name"`
		Hostname    string `json:"hostname"`
	}
	body := h.get("http://" + net.JoinHostPort(containerIP(ctr), "8080") + "/")
	if err := json.Unmarshal(body, &id); err != nil {
		t.Fatalf("GET /: %v: %s", err, body)
	}
	if id.TaskName != "web.1" || id.TaskID != task.ID || id.NodeID != h.nodeID || id.ServiceName != "web" || id.Hostname == "" {
		t.Fatalf("GET / = %+v", id)
	}
	if len(task.Status.Ports) != 1 || task.Status.Ports[0].PublishedPort == 0 || task.Status.Ports[0].TargetPort != 8080 {
		t.Fatalf("published ports = %+v", task.Status.Ports)
	}
	h.get(fmt.Sprintf("http://127.0.0.1:%d/health", task.Status.Ports[0].PublishedPort))

	// Shutdown: demoapp exits 0 on SIGTERM, well within the grace period.
	task.DesiredState = model.TaskStateShutdown
	if seen := h.drive(task, ctlr, model.TaskStateShutdown); !slices.Equal(seen, []model.TaskState{model.TaskStateShutdown}) {
		t.Fatalf("states = %v, want [shutdown]", seen)
	}
	if ctr := h.inspect(task); ctr.State.Running || ctr.State.ExitCode != 0 {
		t.Fatalf("after shutdown: running %v exit %d", ctr.State.Running, ctr.State.ExitCode)
	}
	if status, err := exec.Do(h.ctx, task, ctlr); !errors.Is(err, exec.ErrTaskNoop) || status.State != model.TaskStateShutdown {
		t.Fatalf("Do on a shut down task = %v, %v; want noop", status.State, err)
	}

	if err := ctlr.Remove(h.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ContainerInspect(h.ctx, ctr.ID); !client.IsErrNotFound(err) {
		t.Fatalf("container still there after Remove: %v", err)
	}
	if err := ctlr.Remove(h.ctx); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		code int
		want model.TaskState
	}{{1, model.TaskStateFailed}, {0, model.TaskStateComplete}} {
		task := h.task(fmt.Sprintf("exit%d", tc.code), h.plain, "--exit-after", "1s", "--exit-code", fmt.Sprint(tc.code))
		ctlr := h.controller(task)
		seen := h.drive(task, ctlr, model.TaskStateComplete)
		if !slices.Equal(seen[len(seen)-2:], []model.TaskState{model.TaskStateRunning, tc.want}) {
			t.Fatalf("exit %d: states = %v, want ... running, %v", tc.code, seen, tc.want)
		}
		if task.Status.Container == nil || task.Status.Container.ExitCode != tc.code {
			t.Fatalf("exit %d: container status = %+v", tc.code, task.Status.Container)
		}
		if tc.code != 0 && !strings.Contains(task.Status.Err, "non-zero exit (1)") {
			t.Fatalf("exit %d: status err = %q", tc.code, task.Status.Err)
		}
		if tc.code == 0 && task.Status.Err != "" {
			t.Fatalf("completed task has an error: %q", task.Status.Err)
		}
	}
}

func TestStopGracePeriod(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	grace := time.Second
	run := func(args ...string) (*model.Task, time.Duration) {
		task := h.task("grace", h.plain, args...)
		task.Spec.Container.StopGracePeriod = &grace
		ctlr := h.controller(task)
		h.drive(task, ctlr, model.TaskStateRunning)
		// Wait until the process has installed its signal handler.
		h.waitLog(task, "msg=listening")
		task.DesiredState = model.TaskStateShutdown
		start := time.Now()
		h.drive(task, ctlr, model.TaskStateShutdown)
		return task, time.Since(start)
	}

	stubborn, took := run("--ignore-sigterm")
	if stubborn.Status.State != model.TaskStateShutdown {
		t.Fatalf("state = %v, want shutdown", stubborn.Status.State)
	}
	// Killed by the engine once the grace period was over, not before.
	if code := stubborn.Status.Container.ExitCode; code != 137 {
		t.Fatalf("exit code = %d, want 137 (SIGKILL after the grace period)", code)
	}
	if took < grace {
		t.Fatalf("shutdown took %v, less than the %v grace period", took, grace)
	}
	logs := h.waitLog(stubborn, "ignoring signal")
	if !strings.Contains(logs, "signal=terminated") {
		t.Fatalf("logs do not show SIGTERM being ignored:\n%s", logs)
	}

	polite, _ := run()
	if code := polite.Status.Container.ExitCode; code != 0 {
		t.Fatalf("exit code = %d, want 0 (stopped by SIGTERM within the grace period)", code)
	}
}

// waitLog waits for a container's logs to contain s and returns them.
func (h *harness) waitLog(task *model.Task, s string) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc, err := h.exec.Logs(h.ctx, dockerexec.ContainerName(task), exec.LogsOptions{})
		if err != nil {
			h.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			h.t.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			return string(b)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("logs never contained %q:\n%s", s, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHealthyBeforeRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A slow start: the first health checks fail, within the start period.
	task := h.task("slow", h.image, "--sleep-before-listen", "2s")
	ctlr := h.controller(task)
	h.drive(task, ctlr, model.TaskStateStarting)

	start := time.Now()
	h.drive(task, ctlr, model.TaskStateRunning)
	if task.Status.State != model.TaskStateRunning {
		t.Fatalf("state = %v (%s), want running", task.Status.State, task.Status.Err)
	}
	ctr := h.inspect(task)
	if ctr.State.Health == nil || ctr.State.Health.Status != container.Healthy {
		t.Fatalf("RUNNING reported while health is %+v", ctr.State.Health)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("Start returned after %v, before the server could listen", took)
	}
}

func TestUnhealthyFails(t *testing.T) {
	t.Parallel()
	t.Run("while running", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		task := h.task("sick", h.image, "--unhealthy-after", "2s")
		ctlr := h.controller(task)
		seen := h.drive(task, ctlr, model.TaskStateComplete)
		if !slices.Equal(seen[len(seen)-2:], []model.TaskState{model.TaskStateRunning, model.TaskStateFailed}) {
			t.Fatalf("states = %v, want ... running, failed", seen)
		}
		if !strings.Contains(task.Status.Err, "unhealthy") || !strings.Contains(task.Status.Err, "503") {
			t.Fatalf("status err %q should say unhealthy and show the check's output", task.Status.Err)
		}
		if ctr := h.inspect(task); ctr.State.Running {
			t.Fatal("the unhealthy container was left running")
		}
	})
	t.Run("never healthy", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		task := h.task("neverwell", h.image)
		// The spec's healthcheck overrides the image's: probe a port
		// nothing listens on.
		task.Spec.Container.Healthcheck = &model.HealthConfig{
			Test:     []string{"CMD", "/demoapp", "health", "--addr", ":9999"},
			Interval: 200 * time.Millisecond, Timeout: time.Second, Retries: 2,
			// Zero would inherit the image's 5 s. The start interval
			// needs API 1.44: on older engines it must be dropped, not
			// make the create fail.
			StartPeriod: 100 * time.Millisecond, StartInterval: 100 * time.Millisecond,
		}
		ctlr := h.controller(task)
		seen := h.drive(task, ctlr, model.TaskStateComplete)
		if slices.Contains(seen, model.TaskStateRunning) || task.Status.State != model.TaskStateFailed {
			t.Fatalf("states = %v, want failed without ever running", seen)
		}
		if !strings.Contains(task.Status.Err, exec.ErrContainerUnhealthy.Error()) {
			t.Fatalf("status err = %q", task.Status.Err)
		}
		if ctr := h.inspect(task); ctr.State.Running {
			t.Fatal("the unhealthy container was left running")
		}
	})
}

func TestMissingImageRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const image = "shoal/does-not-exist:never"
	task := h.task("ghost", image)
	ctlr := h.controller(task)
	seen := h.drive(task, ctlr, model.TaskStateRunning)
	if task.Status.State != model.TaskStateRejected || slices.Contains(seen, model.TaskStateReady) {
		t.Fatalf("states = %v, want rejected while preparing", seen)
	}
	if !strings.Contains(task.Status.Err, image) || !strings.Contains(task.Status.Err, "pull") {
		t.Fatalf("status err %q should name the image and the failed pull", task.Status.Err)
	}
	t.Logf("rejection: %s", task.Status.Err)
}

func TestAdoption(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	running := h.task("adopt", h.plain)
	h.drive(running, h.controller(running), model.TaskStateRunning)
	exited := h.task("adopt", h.plain, "--exit-after", "10ms", "--exit-code", "3")
	exited.Slot = 2
	h.drive(exited, h.controller(exited), model.TaskStateComplete)
	created := h.task("adopt", h.plain)
	created.Slot = 3
	h.drive(created, h.controller(created), model.TaskStateReady)

	// The agent restarts: a new executor, same node.
	e := h.executor(h.nodeID)
	list, err := e.Containers(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	byTask := map[string]exec.Container{}
	for _, c := range list {
		byTask[c.TaskID] = c
	}
	if len(list) != 3 {
		t.Fatalf("Containers = %+v, want 3", list)
	}
	for task, want := range map[*model.Task]model.TaskState{
		running: model.TaskStateRunning, exited: model.TaskStateFailed, created: model.TaskStateReady,
	} {
		c, ok := byTask[task.ID]
		if !ok || c.State != want || c.ServiceName != "adopt" || c.Slot != task.Slot ||
			c.Name != dockerexec.ContainerName(task) || c.CreatedAt.IsZero() {
			t.Errorf("task %s (slot %d): container %+v, want state %v", task.ID, task.Slot, c, want)
		}
	}
	if c := byTask[exited.ID]; c.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3", c.ExitCode)
	}

	// The running task is picked up where it is: the manager last heard
	// PREPARING, the container already runs.
	running.Status = model.TaskStatus{State: model.TaskStatePreparing}
	ctlr, err := e.Controller(running)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlr.Close()
	status, err := exec.Do(h.ctx, running, ctlr)
	if err != nil || status.State != model.TaskStateRunning || status.Message != "already started" {
		t.Fatalf("adopting a running container: %+v, %v", status, err)
	}
	// A prepared-only one goes on from READY.
	created.Status = model.TaskStatus{State: model.TaskStatePreparing}
	ctlr2, err := e.Controller(created)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlr2.Close()
	if status, err := exec.Do(h.ctx, created, ctlr2); err != nil || status.State != model.TaskStateReady {
		t.Fatalf("adopting a created container: %+v, %v", status, err)
	}

	// An exited container whose task is gone is removed by ID.
	if err := e.RemoveContainer(h.ctx, byTask[exited.ID].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveContainer(h.ctx, byTask[exited.ID].ID); err != nil {
		t.Fatalf("removing a removed container: %v", err)
	}
	if list, _ := e.Containers(h.ctx); len(list) != 2 {
		t.Fatalf("after removal: %+v", list)
	}
}

func TestNodesSharingAnEngine(t *testing.T) {
	t.Parallel()
	a := newHarness(t)
	b := newHarness(t) // another node ID, same engine
	task := a.task("mine", a.plain)
	a.drive(task, a.controller(task), model.TaskStateRunning)
	id := a.inspect(task).ID

	if list, err := b.exec.Containers(b.ctx); err != nil || len(list) != 0 {
		t.Fatalf("node B lists %+v, %v; want nothing of node A", list, err)
	}
	if err := b.exec.RemoveContainer(b.ctx, id); !errors.Is(err, dockerexec.ErrNotOwned) {
		t.Fatalf("node B removing A's container: %v, want ErrNotOwned", err)
	}
	if _, err := b.exec.Logs(b.ctx, id, exec.LogsOptions{}); !errors.Is(err, dockerexec.ErrNotOwned) {
		t.Fatalf("node B reading A's logs: %v, want ErrNotOwned", err)
	}
	if _, err := b.exec.Controller(task); !errors.Is(err, exec.ErrInvalidTask) {
		t.Fatalf("node B making a controller for A's task: %v, want ErrInvalidTask", err)
	}
	if ctr := a.inspect(task); !ctr.State.Running {
		t.Fatal("node B stopped node A's container")
	}
}

func TestNodeCannotTouchForeignContainerByName(t *testing.T) {
	t.Parallel()
	a := newHarness(t)
	b := newHarness(t)
	task := a.task("shared", a.plain)
	a.drive(task, a.controller(task), model.TaskStateRunning)

	// Forge a task for node B whose container name is the one node A
	// created: B must refuse to adopt or stop it.
	forged := *task
	forged.NodeID = b.nodeID
	forged.Status = model.TaskStatus{State: model.TaskStatePreparing}
	ctlr, err := b.exec.Controller(&forged)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlr.Close()
	// Slot-named tasks have the same container name on every node.
	if dockerexec.ContainerName(&forged) != dockerexec.ContainerName(task) {
		t.Fatal("test assumption: same name")
	}
	status, err := exec.Do(b.ctx, &forged, ctlr)
	if err != nil || status.State != model.TaskStateRejected || !strings.Contains(status.Err, "another node") {
		t.Fatalf("Do on a foreign container = %+v, %v; want rejected", status, err)
	}
	for _, op := range []func(context.Context) error{ctlr.Shutdown, ctlr.Terminate, ctlr.Remove} {
		if err := op(b.ctx); !errors.Is(err, dockerexec.ErrNotOwned) {
			t.Fatalf("operation on a foreign container: %v, want ErrNotOwned", err)
		}
	}
	if ctr := a.inspect(task); !ctr.State.Running {
		t.Fatal("node B touched node A's container")
	}
}

func TestTerminate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	task := h.task("kill", h.plain, "--ignore-sigterm")
	ctlr := h.controller(task)
	// Before anything exists, every stop and removal is a no-op.
	for _, op := range []func(context.Context) error{ctlr.Shutdown, ctlr.Terminate, ctlr.Remove} {
		if err := op(h.ctx); err != nil {
			t.Fatalf("on a task without container: %v", err)
		}
	}
	h.drive(task, ctlr, model.TaskStateRunning)
	if err := ctlr.Terminate(h.ctx); err != nil {
		t.Fatal(err)
	}
	if status, err := exec.Do(h.ctx, task, ctlr); err != nil || status.State != model.TaskStateFailed ||
		status.Container.ExitCode != 137 {
		t.Fatalf("after Terminate, Do = %+v, %v; want failed with 137", status, err)
	}
	if err := ctlr.Terminate(h.ctx); err != nil {
		t.Fatalf("terminating a dead container: %v", err)
	}
	if err := ctlr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ctlr.Remove(h.ctx); !errors.Is(err, exec.ErrControllerClosed) {
		t.Fatalf("Remove after Close: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d, err := h.exec.Describe(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname == "" || d.Platform.OS != "linux" || d.Platform.Architecture == "" ||
		d.Resources.NanoCPUs < 1e9 || d.Resources.NanoCPUs%1e9 != 0 || d.Resources.MemoryBytes <= 0 ||
		d.Engine.EngineVersion == "" {
		t.Fatalf("Describe = %+v", d)
	}
	d2, err := h.executor(h.nodeID, dockerexec.WithHostname("worker-7")).Describe(h.ctx)
	if err != nil || d2.Hostname != "worker-7" {
		t.Fatalf("WithHostname: %+v, %v", d2, err)
	}
	t.Logf("%+v", d)
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	task := h.task("chatty", h.plain, "--tick", "100ms")
	h.drive(task, h.controller(task), model.TaskStateRunning)
	name := dockerexec.ContainerName(task)
	h.waitLog(task, "n=5 ")

	read := func(opts exec.LogsOptions) []exec.LogLine {
		rc, err := h.exec.Logs(h.ctx, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var lines []exec.LogLine
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			l, err := exec.ParseLogLine(sc.Text(), opts.Timestamps)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return lines
	}

	all := read(exec.LogsOptions{Timestamps: true})
	if all[0].Stream != exec.Stderr || !strings.Contains(all[0].Text, "msg=starting") || all[0].Timestamp.IsZero() {
		t.Fatalf("first line = %+v, want the stderr start line with a timestamp", all[0])
	}
	ticks := 0
	for _, l := range all {
		if strings.Contains(l.Text, "msg=tick") {
			ticks++
			if l.Stream != exec.Stdout {
				t.Fatalf("tick on %s", l.Stream)
			}
		}
	}
	if ticks < 5 {
		t.Fatalf("%d ticks in %d lines", ticks, len(all))
	}
	if tail := read(exec.LogsOptions{Tail: 2}); len(tail) != 2 || !strings.Contains(tail[1].Text, "msg=tick") {
		t.Fatalf("tail 2 = %+v", tail)
	}
	since := all[len(all)-1].Timestamp.Add(time.Nanosecond)
	for _, l := range read(exec.LogsOptions{Since: since, Timestamps: true}) {
		if l.Timestamp.Before(since) {
			t.Fatalf("line %+v before since %v", l, since)
		}
	}

	// Follow from now on: new ticks arrive, and closing the reader ends
	// the stream.
	rc, err := h.exec.Logs(h.ctx, name, exec.LogsOptions{Follow: true, Tail: exec.TailNone})
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(rc)
	got := 0
	for got < 3 && sc.Scan() {
		if strings.Contains(sc.Text(), "msg=tick") {
			got++
		}
	}
	if got < 3 {
		t.Fatalf("followed %d ticks: %v", got, sc.Err())
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}

	// Following ends by itself when the container stops.
	rc, err = h.exec.Logs(h.ctx, name, exec.LogsOptions{Follow: true, Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	task.DesiredState = model.TaskStateShutdown
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rc)
		done <- err
	}()
	ctlr, err := h.exec.Controller(task)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlr.Close()
	h.drive(task, ctlr, model.TaskStateShutdown)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("following did not end when the container stopped")
	}
}
