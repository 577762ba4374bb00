package convert_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/api/convert/internal/clirecorder"
	"github.com/shoal-dev/shoal/model"
)

// TestCLIAgainstConvert drives the real docker CLI against the fake engine
// with this package behind it: every spec the CLI sends goes through
// FromDocker, is stored as ToDocker's answer, and that answer is what the
// CLI reads back and edits on the next command. It proves the CLI accepts
// our JSON and that what it sends back after editing it is accepted.
//
// It needs the docker CLI (no engine) and skips without one.
func TestCLIAgainstConvert(t *testing.T) {
	docker, version := dockerCLI(t)
	if docker == "" || testing.Short() {
		t.Skip("needs the docker CLI")
	}
	t.Log(version)

	cluster := &model.Cluster{ID: clirecorder.ClusterID, Spec: model.DefaultClusterSpec()}
	cluster.RootCA.JoinTokens = model.JoinTokens{Worker: "SWMTKN-1-w", Manager: "SWMTKN-1-m"}
	var clusterMu sync.Mutex
	rec := clirecorder.New()
	rec.SetSwarm(convert.ClusterToDocker(cluster))
	rec.Hooks = clirecorder.Hooks{
		ServiceSpec: func(s swarm.ServiceSpec) (swarm.ServiceSpec, error) {
			st, err := convert.ServiceSpecFromDocker(s)
			return convert.ServiceSpecToDocker(st), err
		},
		NodeSpec: func(s swarm.NodeSpec) (swarm.NodeSpec, error) {
			st, err := convert.NodeSpecFromDocker(s)
			return convert.NodeToDocker(&model.Node{Spec: st}, nil).Spec, err
		},
		SwarmSpec: func(sent, _ swarm.Spec) (swarm.Spec, error) {
			// The fake serves on other goroutines.
			clusterMu.Lock()
			defer clusterMu.Unlock()
			st, err := convert.ClusterSpecFromDocker(sent, cluster.Spec)
			if err != nil {
				return swarm.Spec{}, err
			}
			cluster.Spec = st
			return convert.ClusterToDocker(cluster).Spec, nil
		},
		InsertServiceDefaults: convert.InsertServiceDefaults,
	}
	run := serveFake(t, docker, dockerConfig(t), rec)
	ok := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", shellJoin(args), err, out)
		}
		return out
	}
	refused := func(field string, args ...string) {
		t.Helper()
		out, err := run(args...)
		if err == nil || !strings.Contains(out, field+": ") {
			t.Errorf("docker %s: want an error naming %s, got %v\n%s", shellJoin(args), field, err, out)
		}
	}
	web := func() swarm.ServiceSpec {
		t.Helper()
		s := rec.Service("web")
		if s == nil {
			t.Fatal("no service web stored")
		}
		return s.Spec
	}

	ok("service", "create", "--name", "web", "-d", "--replicas", "3",
		"--constraint", "node.role==worker", "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2",
		"--env", "A=1", "--label", "team=web", "--label", "io.shoal.placement.strategy=binpack", "--container-label", "role=fe",
		"--reserve-cpu", "0.5", "--reserve-memory", "64M", "--limit-cpu", "1", "--limit-memory", "128M", "--limit-pids", "100",
		"--restart-condition", "on-failure", "--restart-delay", "3s", "--restart-max-attempts", "4", "--restart-window", "1m",
		"--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first", "--update-failure-action", "rollback",
		"--rollback-parallelism", "0", "--rollback-monitor", "10s",
		"--publish", "published=8080,target=80,mode=host", "--mount", "type=bind,source=/srv,target=/srv,readonly",
		"--mount", "type=volume,source=data,target=/data", "--mount", "type=tmpfs,target=/scratch",
		"--health-cmd", "true", "--stop-grace-period", "20s", "--stop-signal", "SIGINT",
		"--user", "1000", "--workdir", "/app", "--hostname", "web-{{.Task.Slot}}", "--init", "--read-only", "--tty",
		"--with-registry-auth", "nginx:1.27", "nginx", "-g", "daemon off;")
	if s := web(); *s.Mode.Replicated.Replicas != 3 || s.Labels[convert.LabelPlacementStrategy] != "binpack" || !strings.HasPrefix(s.TaskTemplate.ContainerSpec.Image, "nginx:1.27@sha256:") {
		t.Errorf("created: %+v", s)
	}
	// The CLI parses what we answer, with and without defaults.
	if out := ok("service", "inspect", "--pretty", "web"); !strings.Contains(out, "Replicated") || !strings.Contains(out, "start-first") {
		t.Errorf("service inspect --pretty:\n%s", out)
	}
	ok("service", "inspect", "web")

	ok("service", "update", "-d", "--image", "nginx:1.28", "web")
	if img := web().TaskTemplate.ContainerSpec.Image; !strings.HasPrefix(img, "nginx:1.28@") {
		t.Errorf("image after update: %s", img)
	}
	ok("service", "update", "-d", "--env-add", "B=2", "--publish-add", "published=9090,target=90,mode=host", "--constraint-add", "node.labels.ssd==true", "web")
	if s := web(); len(s.EndpointSpec.Ports) != 2 || len(s.TaskTemplate.ContainerSpec.Env) != 2 || len(s.TaskTemplate.Placement.Constraints) != 2 {
		t.Errorf("after update: ports %v env %v constraints %v", s.EndpointSpec.Ports, s.TaskTemplate.ContainerSpec.Env, s.TaskTemplate.Placement.Constraints)
	}
	ok("service", "scale", "-d", "web=5")
	if n := *web().Mode.Replicated.Replicas; n != 5 {
		t.Errorf("replicas after scale: %d", n)
	}
	ok("service", "update", "-d", "--force", "web")
	if n := web().TaskTemplate.ForceUpdate; n != 1 {
		t.Errorf("ForceUpdate after --force: %d", n)
	}
	ok("service", "update", "-d", "--label-add", "io.shoal.rebalance=true", "web")
	ok("service", "update", "-d", "--rollback", "web")
	if _, ok := web().Labels[convert.LabelRebalance]; ok {
		t.Errorf("rollback kept the label of the rolled-back update")
	}

	refused("EndpointSpec.Ports[0].PublishMode", "service", "create", "--name", "mesh", "-d", "--endpoint-mode", "dnsrr", "--publish", "8080:80", "nginx:1.27")
	refused(`Labels["io.shoal.rebalance"]`, "service", "update", "-d", "--label-add", "io.shoal.rebalance=yes", "web")

	ok("node", "update", "--availability", "drain", "node-2")
	ok("node", "update", "--label-add", "zone=a", "node-2")
	ok("node", "promote", "node-2")
	if n := rec.Node("node-2"); n.Spec.Role != swarm.NodeRoleManager || n.Spec.Availability != swarm.NodeAvailabilityDrain || n.Spec.Labels["zone"] != "a" {
		t.Errorf("node-2 spec: %+v", n.Spec)
	}

	// The CLI renders our nodes and tasks.
	pemCA, _ := testRootCA(t)
	now := time.Now().UTC()
	manager := &model.Node{ID: "mgr0000000000000000000001", Role: model.RoleManager,
		Spec:          model.NodeSpec{DesiredRole: model.RoleManager, Availability: model.AvailabilityActive},
		Description:   model.NodeDescription{Hostname: "alpha", Platform: model.Platform{Architecture: "x86_64", OS: "linux"}, Resources: model.Resources{NanoCPUs: 2e9, MemoryBytes: 4 << 30}, Engine: model.Engine{EngineVersion: "shoal-0.1"}},
		Status:        model.NodeStatus{State: model.NodeStateReady, Addr: "10.0.0.1"},
		ManagerStatus: &model.ManagerStatus{Addr: "10.0.0.1:2377", Leader: true, Reachability: model.ReachabilityReachable},
	}
	worker := &model.Node{ID: "wrk0000000000000000000001", Role: model.RoleWorker,
		Spec:        model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityDrain},
		Description: model.NodeDescription{Hostname: "beta"},
		Status:      model.NodeStatus{State: model.NodeStateDown, Addr: "10.0.0.2"},
	}
	rec.SetNodes(convert.NodeToDocker(manager, pemCA), convert.NodeToDocker(worker, pemCA))
	svc := rec.Service("web")
	specState, err := convert.ServiceSpecFromDocker(svc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	rec.SetTasks(
		convert.TaskToDocker(&model.Task{ID: "task00000000000000000001", ServiceID: svc.ID, ServiceName: "web", Slot: 1, NodeID: manager.ID,
			Spec: specState.Task, DesiredState: model.TaskStateRunning,
			Status: model.TaskStatus{Timestamp: now.Add(-time.Minute), State: model.TaskStateRunning, Message: "started",
				Container: &model.ContainerStatus{ContainerID: "c1", PID: 42},
				Ports:     []model.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}}, nil),
		convert.TaskToDocker(&model.Task{ID: "task00000000000000000002", ServiceID: svc.ID, ServiceName: "web", Slot: 2, NodeID: worker.ID,
			Spec: specState.Task, DesiredState: model.TaskStateShutdown,
			Status: model.TaskStatus{Timestamp: now.Add(-time.Hour), State: model.TaskStateFailed, Err: "task: non-zero exit (137)",
				Container: &model.ContainerStatus{ContainerID: "c2", ExitCode: 137}}}, nil),
	)
	out := ok("node", "ls")
	for _, want := range []string{"alpha", "beta", "Ready", "Down", "Active", "Drain", "Leader", "shoal-0.1", manager.ID + " *"} {
		if !strings.Contains(out, want) {
			t.Errorf("node ls lacks %q:\n%s", want, out)
		}
	}
	if out := ok("node", "inspect", "--pretty", "self"); !strings.Contains(out, "Hostname:") || !strings.Contains(out, "alpha") || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("node inspect --pretty self:\n%s", out)
	}
	out = ok("service", "ps", "--no-trunc", "web")
	for _, want := range []string{"web.1", "web.2", "alpha", "beta", "Running", "Failed", "task: non-zero exit (137)", "*:8080->80/tcp"} {
		if !strings.Contains(out, want) {
			t.Errorf("service ps lacks %q:\n%s", want, out)
		}
	}

	ok("swarm", "update", "--task-history-limit", "3", "--cert-expiry", "48h", "--dispatcher-heartbeat", "2s")
	clusterMu.Lock()
	s := cluster.Spec
	clusterMu.Unlock()
	if s.Orchestration.TaskHistoryRetentionLimit != 3 || s.CAConfig.NodeCertExpiry.Hours() != 48 || s.Dispatcher.HeartbeatPeriod.Seconds() != 2 || s.Raft.ElectionTick != 10 {
		t.Errorf("cluster spec: %+v", s)
	}
	if out := ok("swarm", "join-token", "--rotate", "worker"); !strings.Contains(out, "docker swarm join --token") {
		t.Errorf("join-token:\n%s", out)
	}
	refused("CAConfig.NodeCertExpiry", "swarm", "update", "--cert-expiry", "10m")
	refused("CAConfig.ForceRotate", "swarm", "ca", "--rotate", "-d")
}
