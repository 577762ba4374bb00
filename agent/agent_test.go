package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/agent/exec/dockerexec"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// TestFailoverKeepsTasksRunning runs tasks through an agent that joined
// through a follower, kills the leader, and checks that the containers
// keep running, the agent finds the new leader and its statuses keep
// flowing.
func TestFailoverKeepsTasksRunning(t *testing.T) {
	w := dockerWorld(t, 3)
	nodeID := newNodeID("failover")
	w.addNode(nodeID)
	old := w.leader()
	var follower string
	for _, m := range w.c.Followers() {
		follower = m.ID
		break
	}
	dataDir := t.TempDir()
	ra := w.startAgent(nodeID, dataDir, []string{w.manager(follower).addr}, nil, nil)
	_, tasks := w.addService("web", nil, nodeID, nodeID)

	ready := w.waitNode(nodeID, model.NodeStateReady)
	if ready.Description.Hostname != "host-"+nodeID || ready.Description.Engine.Labels["zone"] != "test" {
		t.Fatalf("description %+v", ready.Description)
	}
	containers := map[string]string{}
	for _, id := range tasks {
		task := w.waitTask(id, model.TaskStateRunning)
		if task.Status.Container == nil {
			t.Fatalf("running task without container: %+v", task.Status)
		}
		containers[id] = task.Status.Container.ContainerID
	}
	started := map[string]string{}
	for id, c := range containers {
		ins, err := w.inspect(c)
		if err != nil {
			t.Fatal(err)
		}
		started[id] = ins.State.StartedAt
	}
	// The agent saved the three managers it learnt from the session.
	waitFor(t, waitTimeout, "managers.json with 3 managers", func() bool {
		b, err := os.ReadFile(filepath.Join(dataDir, "managers.json"))
		if err != nil {
			return false
		}
		var s struct{ Managers []protocol.Manager }
		return json.Unmarshal(b, &s) == nil && len(s.Managers) == 3
	})

	w.kill(old)
	killed := time.Now()
	leader := w.c.Leader(waitTimeout)
	waitFor(t, waitTimeout, "the agent's session with the new leader", func() bool {
		return w.manager(leader.ID).d.Sessions() == 1
	})
	t.Logf("leader %s killed; the agent had a session with the new leader %s after %v", old.ID, leader.ID, time.Since(killed).Round(time.Millisecond))

	for id, c := range containers {
		ins, err := w.inspect(c)
		if err != nil {
			t.Fatal(err)
		}
		if !ins.State.Running || ins.State.StartedAt != started[id] {
			t.Fatalf("container of %s was touched by the failover: running %v, started %s (was %s)", id, ins.State.Running, ins.State.StartedAt, started[id])
		}
	}
	// Statuses flow to the new leader: one task is shut down.
	w.propose(state.Op{Type: state.OpSetTasksDesired, IDs: tasks[:1], DesiredState: model.TaskStateShutdown})
	w.waitTask(tasks[0], model.TaskStateShutdown)
	ins, err := w.inspect(containers[tasks[0]])
	if err != nil {
		t.Fatalf("a SHUTDOWN task's container is kept for its history: %v", err)
	}
	if ins.State.Running {
		t.Fatal("SHUTDOWN task's container still runs")
	}
	if st := w.task(tasks[1]).Status.State; st != model.TaskStateRunning {
		t.Fatalf("other task is %v", st)
	}
	if st := w.node(nodeID).Status.State; st != model.NodeStateReady {
		t.Fatalf("node is %s after the failover", st)
	}
	// A restarted agent configured with the dead manager's address only
	// finds the others through the list it saved.
	ra.stop()
	waitFor(t, waitTimeout, "the session's end", func() bool { return w.manager(leader.ID).d.Sessions() == 0 })
	w.startAgent(nodeID, dataDir, []string{w.manager(old.ID).addr}, nil, nil)
	waitFor(t, waitTimeout, "the restarted agent's session", func() bool {
		return w.manager(leader.ID).d.Sessions() == 1
	})
	if ins, err := w.inspect(containers[tasks[1]]); err != nil || !ins.State.Running || ins.State.StartedAt != started[tasks[1]] {
		t.Fatalf("container after the agent's restart: %v", err)
	}
	// A removed service's containers are removed.
	w.propose(state.Op{Type: state.OpDeleteService, ID: w.task(tasks[0]).ServiceID})
	waitFor(t, waitTimeout, "containers removed", func() bool { return len(w.nodeContainers(nodeID)) == 0 })
}

// TestRestartAdoptsContainersBesideAnotherAgent stops an agent, changes its assignments
// while it is away, and starts a new one: it adopts the containers of its
// tasks, removes those of tasks no longer assigned, and leaves another
// node's containers on the same engine alone.
func TestRestartAdoptsContainersBesideAnotherAgent(t *testing.T) {
	w := dockerWorld(t, 1)
	a, b := newNodeID("restart"), newNodeID("neighbour")
	w.addNode(a)
	w.addNode(b)
	addr := w.manager(w.leader().ID).addr
	dirA := t.TempDir()
	ra := w.startAgent(a, dirA, []string{addr}, nil, nil)
	w.startAgent(b, t.TempDir(), []string{addr}, nil, nil)
	_, tasks := w.addService("web", nil, a, a, b)
	containers := map[string]string{}
	for _, id := range tasks {
		containers[id] = w.waitTask(id, model.TaskStateRunning).Status.Container.ContainerID
	}
	// Two agents with different node IDs share the engine.
	if n := len(w.nodeContainers(a)); n != 2 {
		t.Fatalf("node A has %d containers", n)
	}
	if n := len(w.nodeContainers(b)); n != 1 {
		t.Fatalf("node B has %d containers", n)
	}

	// A's agent stops (as a killed process would, its connection closes):
	// DOWN about a second later; its containers keep running.
	ra.stop()
	stopped := time.Now()
	w.waitNode(a, model.NodeStateDown)
	t.Logf("agent stopped -> node DOWN in the store after %v", time.Since(stopped).Round(time.Millisecond))
	for _, id := range tasks[:2] {
		if ins, err := w.inspect(containers[id]); err != nil || !ins.State.Running {
			t.Fatalf("container of %s after the agent stopped: %v", id, err)
		}
	}
	// While it is away, one of its tasks is deleted.
	w.propose(state.Op{Type: state.OpDeleteTasks, IDs: tasks[1:2]})

	w.startAgent(a, dirA, []string{addr}, nil, nil)
	w.waitNode(a, model.NodeStateReady)
	waitFor(t, waitTimeout, "the deleted task's container removed", func() bool {
		_, err := w.inspect(containers[tasks[1]])
		return err != nil
	})
	ins, err := w.inspect(containers[tasks[0]])
	if err != nil || !ins.State.Running {
		t.Fatalf("adopted container: %v", err)
	}
	task := w.task(tasks[0])
	if task.Status.State != model.TaskStateRunning || task.Status.Container.ContainerID != containers[tasks[0]] {
		t.Fatalf("adopted task: %+v", task.Status)
	}
	// The neighbour's container was not touched.
	if ins, err := w.inspect(containers[tasks[2]]); err != nil || !ins.State.Running {
		t.Fatalf("the other node's container: %v", err)
	}
	if st := w.task(tasks[2]).Status.State; st != model.TaskStateRunning {
		t.Fatalf("the other node's task: %v", st)
	}
	// The adopted task is still driven: it shuts down on demand.
	w.propose(state.Op{Type: state.OpSetTasksDesired, IDs: tasks[:1], DesiredState: model.TaskStateShutdown})
	w.waitTask(tasks[0], model.TaskStateShutdown)
}

// TestLogs reads the logs of a running task through the dispatcher: a
// tail, then a follow.
func TestLogs(t *testing.T) {
	w := dockerWorld(t, 1)
	nodeID := newNodeID("logs")
	w.addNode(nodeID)
	leader := w.leader()
	w.startAgent(nodeID, t.TempDir(), []string{w.manager(leader.ID).addr}, nil, nil)
	svc, tasks := w.addService("logger", []string{"--tick", "100ms"}, nodeID)
	w.waitTask(tasks[0], model.TaskStateRunning)
	d := w.manager(leader.ID).d
	time.Sleep(500 * time.Millisecond) // a few ticks

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ch, err := d.SubscribeLogs(ctx, dispatcher.LogSelector{ServiceIDs: []string{svc}}, dispatcher.LogOptions{Tail: 3})
	if err != nil {
		t.Fatal(err)
	}
	var tail []dispatcher.LogMessage
	for m := range ch {
		if m.Err != "" {
			t.Fatalf("error message: %+v", m)
		}
		tail = append(tail, m)
	}
	if len(tail) != 3 {
		t.Fatalf("tail 3 gave %d lines: %+v", len(tail), tail)
	}
	for _, m := range tail {
		if m.Context.TaskID != tasks[0] || m.Context.NodeID != nodeID || m.Context.ServiceID != svc || m.Timestamp.IsZero() {
			t.Fatalf("line %+v", m)
		}
	}
	if !strings.Contains(tail[2].Text, "tick") {
		t.Fatalf("last line %q", tail[2].Text)
	}

	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	ch, err = d.SubscribeLogs(fctx, dispatcher.LogSelector{TaskIDs: tasks}, dispatcher.LogOptions{Follow: true, Tail: protocol.TailNone})
	if err != nil {
		t.Fatal(err)
	}
	subscribed := time.Now()
	var follow []dispatcher.LogMessage
	for m := range ch {
		if m.Err != "" {
			t.Fatalf("error message: %+v", m)
		}
		follow = append(follow, m)
		if len(follow) == 5 {
			fcancel()
		}
	}
	if len(follow) < 5 {
		t.Fatalf("follow gave %d lines", len(follow))
	}
	if follow[0].Timestamp.Before(subscribed.Add(-time.Second)) {
		t.Fatalf("follow without tail sent an old line: %+v", follow[0])
	}
	if !slices.IsSortedFunc(follow[:5], func(a, b dispatcher.LogMessage) int { return a.Timestamp.Compare(b.Timestamp) }) {
		t.Fatalf("lines out of order: %+v", follow)
	}
	t.Logf("tail: %q; follow: %d lines", tail[2].Text, len(follow))
}

// TestSecretAndConfigFilesInTheContainer: a task's secret and config are
// files in its container with their content, owner and mode, on a
// read-only tmpfs of the task's own; the secret's data is in no docker
// inspect output and nowhere in the data dir; once the task stops, its
// tmpfs is gone.
func TestSecretAndConfigFilesInTheContainer(t *testing.T) {
	w := dockerWorld(t, 1)
	node := newNodeID("secret")
	w.addNode(node)
	w.propose(state.Op{Type: state.OpCreateSecret, Secret: &model.Secret{ID: "sec1",
		Spec: model.SecretSpec{Annotations: model.Annotations{Name: "db_password"}, Data: []byte("hunter2")}}})
	w.propose(state.Op{Type: state.OpCreateConfig, Config: &model.Config{ID: "cfg1",
		Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "app.conf"}, Data: []byte("color=blue\n")}}})
	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: "with-secret"},
		Task: model.TaskSpec{Container: model.ContainerSpec{Image: w.image,
			Secrets: []model.SecretReference{{SecretID: "sec1", SecretName: "db_password", File: model.FileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o440}}},
			Configs: []model.ConfigReference{{ConfigID: "cfg1", ConfigName: "app.conf", File: model.FileTarget{Name: "/etc/app.conf", UID: "65534", GID: "65534", Mode: 0o444}}}}},
		Mode: model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}},
	}}
	w.propose(state.Op{Type: state.OpCreateService, Service: svc})
	var sv uint64
	w.view(func(tx state.ReadTx) { sv = tx.GetService(svc.ID).SpecVersion.Index })
	taskID := model.NewID()
	w.propose(state.Op{Type: state.OpCreateTasks, ID: svc.ID, SpecVersion: sv, NewTasks: []state.NewTask{{ID: taskID, Slot: 1}}},
		state.Op{Type: state.OpAssignTasks, Assignments: []state.Assignment{{TaskID: taskID, NodeID: node}}})

	dataDir, runDir := t.TempDir(), t.TempDir()
	ex, err := dockerexec.New(w.cli, node, dockerexec.WithLogger(testutil.Logger(t, slog.LevelInfo)), dockerexec.WithRunDir(runDir))
	if err != nil {
		t.Fatal(err)
	}
	ra := w.startAgent(node, dataDir, []string{w.manager(w.leader().ID).addr}, ex, nil)
	task := w.waitTask(taskID, model.TaskStateRunning)
	ctrID := task.Status.Container.ContainerID
	ctx := context.Background()
	for _, want := range []testimage.Probe{
		{Mode: "0440", UID: 0, GID: 0, Content: "hunter2"}, // the probe runs as root
		{Mode: "0444", UID: 65534, GID: 65534, Content: "color=blue\n"},
	} {
		path := "/run/secrets/db_password"
		if want.UID != 0 {
			path = "/etc/app.conf"
		}
		got, err := testimage.RunProbe(ctx, w.cli, ctrID, "file", path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Err != "" || got.Mode != want.Mode || got.UID != want.UID || got.GID != want.GID || got.Content != want.Content {
			t.Errorf("%s: %+v, want %+v", path, got, want)
		}
	}
	// The tmpfs: mounted, read-only, nodev, nosuid, noexec; the file has the data.
	tmpfs := filepath.Join(runDir, "tasks", taskID)
	opts := mountOptions(t, tmpfs)
	for _, o := range []string{"ro", "nodev", "nosuid", "noexec"} {
		if !slices.Contains(opts, o) {
			t.Errorf("tmpfs %s options %v, want %s", tmpfs, opts, o)
		}
	}
	if b, err := os.ReadFile(filepath.Join(tmpfs, "0")); err != nil || string(b) != "hunter2" {
		t.Errorf("secret file on the tmpfs: %q, %v", b, err)
	}
	if fi, err := os.Stat(tmpfs); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("tmpfs mode: %v, %v", fi, err)
	}
	inspect, err := w.cli.ContainerInspect(ctx, ctrID)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(inspect); bytes.Contains(b, []byte("hunter2")) {
		t.Errorf("secret data in docker inspect: %s", b)
	}
	waitFor(t, waitTimeout, "the secret in memory", func() bool {
		s := ra.a.Secrets()
		return s != nil && len(s.Secrets) == 1 && string(s.Secrets[0].Spec.Data) == "hunter2"
	})
	// Stopped: the tmpfs is gone.
	w.propose(state.Op{Type: state.OpSetTasksDesired, IDs: []string{taskID}, DesiredState: model.TaskStateShutdown})
	w.waitTask(taskID, model.TaskStateShutdown)
	waitFor(t, waitTimeout, "the tmpfs unmounted", func() bool { return mountOptions(t, tmpfs) == nil })
	if _, err := os.Stat(tmpfs); !os.IsNotExist(err) {
		t.Errorf("tmpfs mount point still there: %v", err)
	}
	// Nothing of it on disk.
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("hunter2")) {
			t.Errorf("secret data in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mountOptions returns the options of the mount at dir (from
// /proc/self/mountinfo), nil if nothing is mounted there.
func mountOptions(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == dir {
			return strings.Split(f[5], ",")
		}
	}
	return nil
}
