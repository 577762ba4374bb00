package state

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// The golden files in testdata were written by the store as it was before
// snapshot format 2 and the binary command encoding (commit 2954e14, with
// go-memdb and JSON throughout), from goldenCommands: a snapshot in
// format 1 and the JSON log entries of the commands. The tests check that
// they still restore and decode to the state the same commands give today.
//
// To write them again (only ever from a build of that older store):
//
//	SHOAL_WRITE_GOLDEN=1 go test -run TestWriteGolden ./state/

// goldenCommands are commands that fill every field the encodings carry.
func goldenCommands() []*Command {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	grace := 15 * time.Second
	delay := 3 * time.Second
	init := true
	started := t0.Add(time.Minute)
	svc := &model.Service{ID: "svc1", Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: "Web", Labels: map[string]string{"team": "a"}},
		Task: model.TaskSpec{
			Container: model.ContainerSpec{
				Image: "demo:1", Labels: map[string]string{"l": "v"}, Command: []string{"/bin/app"}, Args: []string{"-x", "é"},
				Hostname: "h", Env: []string{"A=1"}, Dir: "/d", User: "u", TTY: true, ReadOnly: true, Init: &init,
				Mounts:     []model.Mount{{Type: model.MountTypeBind, Source: "/s", Target: "/t", ReadOnly: true}},
				StopSignal: "SIGINT", StopGracePeriod: &grace,
				Healthcheck: &model.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3, StartInterval: 4, Retries: 5},
			},
			Resources:   model.ResourceRequirements{Limits: model.Resources{NanoCPUs: 1, MemoryBytes: 2}, PidsLimit: 3, Reservations: model.Resources{NanoCPUs: 4, MemoryBytes: 5}},
			Restart:     model.RestartPolicy{Condition: model.RestartOnFailure, Delay: &delay, MaxAttempts: 3, Window: time.Minute},
			Placement:   model.Placement{Constraints: []string{"node.role==worker"}, Preferences: []model.PlacementPreference{{Spread: "node.labels.zone"}}, MaxReplicas: 2, Platforms: []model.Platform{{Architecture: "amd64", OS: "linux"}}},
			ForceUpdate: 1,
		},
		Mode:      model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 3}},
		Update:    &model.UpdateConfig{Parallelism: 2, Delay: time.Second, FailureAction: model.FailureActionRollback, Monitor: time.Second, MaxFailureRatio: 0.25, Order: model.UpdateOrderStartFirst},
		Rollback:  &model.UpdateConfig{Parallelism: 1},
		Endpoint:  &model.EndpointSpec{Ports: []model.PortConfig{{Name: "http", Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}},
		Rebalance: true,
		Strategy:  model.StrategyBinpack,
	}}
	global := &model.Service{ID: "svc2", Spec: model.ServiceSpec{Annotations: model.Annotations{Name: "agent"}, Task: model.TaskSpec{Container: model.ContainerSpec{Image: "agent"}}, Mode: model.ServiceMode{Global: &model.GlobalService{}}}}
	node := func(id string, role model.NodeRole) *model.Node {
		n := &model.Node{ID: id, Spec: model.NodeSpec{Annotations: model.Annotations{Labels: map[string]string{"zone": "z1"}}, DesiredRole: role, Availability: model.AvailabilityActive}, Role: role,
			Description: model.NodeDescription{Hostname: "Host-" + id, Platform: model.Platform{Architecture: "amd64", OS: "linux"}, Resources: model.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}, Engine: model.Engine{EngineVersion: "28", Labels: map[string]string{"ssd": "1"}}},
			Certificate: model.NodeCertificate{Role: role, Serial: "01", NotAfter: at(1000), IssuedAt: at(1), CertPEM: []byte("PEM")}}
		if role == model.RoleManager {
			n.ManagerStatus = &model.ManagerStatus{Addr: "10.0.0.1:2377", APIAddr: "10.0.0.1:2376", GossipAddr: "10.0.0.1:7946"}
		}
		return n
	}
	// The golden files predate the address pool settings.
	spec := model.DefaultClusterSpec()
	spec.DefaultAddrPool, spec.SubnetSize = nil, 0
	cluster := &model.Cluster{ID: "c1", Spec: spec, RootCA: model.RootCA{CACert: []byte("CA"), CAKey: []byte("KEY"), CACertDigest: "abc", JoinTokens: model.JoinTokens{Worker: "w", Manager: "m"}},
		GossipKeys: []model.GossipKey{{Key: []byte("0123456789abcdef"), CreatedAt: at(2)}}, UnlockKey: "unlock"}
	cmds := []*Command{
		{Ops: []Op{{Type: OpCreateCluster, Cluster: cluster}, {Type: OpCreateNode, Node: node("n1", model.RoleManager)}, {Type: OpCreateNode, Node: node("n2", model.RoleWorker)}, {Type: OpCreateNode, Node: node("n3", model.RoleWorker)}}},
		{Ops: []Op{{Type: OpCreateService, Service: svc}, {Type: OpCreateService, Service: global}}},
		{Ops: []Op{{Type: OpCreateTasks, ID: "svc1", SpecVersion: 2, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}, {ID: "t3", Slot: 3}, {ID: "t4", Slot: 4}}},
			{Type: OpCreateTasks, ID: "svc2", SpecVersion: 2, NewTasks: []NewTask{{ID: "g1", NodeID: "n1"}, {ID: "g2", NodeID: "n2"}}}}},
		{Ops: []Op{{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "n2"}, {TaskID: "t2", NodeID: "n3"}, {TaskID: "t3", NodeID: "n2"}, {TaskID: "g1", NodeID: "n1"}, {TaskID: "g2", NodeID: "n2"}}},
			{Type: OpTaskPending, Pending: []PendingReason{{TaskID: "t4", Message: "no suitable node (2 nodes not available)"}}}}},
		{Ops: []Op{{Type: OpTaskStatus, ID: "n2", TaskStatuses: []model.TaskStatusUpdate{
			{TaskID: "t1", Status: model.TaskStatus{Timestamp: at(10), State: model.TaskStateRunning, Message: "started", Container: &model.ContainerStatus{ContainerID: "c1", PID: 42}, Ports: []model.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}},
			{TaskID: "t3", Status: model.TaskStatus{Timestamp: at(11).In(time.FixedZone("", 3600)), State: model.TaskStateFailed, Message: "task: non-zero exit (1)", Err: "exit 1", Container: &model.ContainerStatus{ContainerID: "c3", ExitCode: 1}}},
			{TaskID: "g2", Status: model.TaskStatus{Timestamp: at(12), State: model.TaskStateAccepted, Message: "accepted"}},
		}}}},
		{Ops: []Op{{Type: OpNodeStatus, NodeStatuses: []NodeStatusUpdate{{ID: "n2", Status: model.NodeStatus{State: model.NodeStateReady, Message: "up", Addr: "10.0.0.2"}, Description: &model.NodeDescription{Hostname: "host-n2b"}}, {ID: "n3", Status: model.NodeStatus{State: model.NodeStateDown}}}},
			{Type: OpSetTasksDesired, IDs: []string{"t2"}, DesiredState: model.TaskStateShutdown},
			{Type: OpServiceUpdateStatus, ID: "svc1", SpecVersion: 2, UpdateStatus: &model.UpdateStatus{State: model.UpdateStateUpdating, StartedAt: &started, Message: "update in progress"}}}},
		{Ops: []Op{{Type: OpDeleteTasks, IDs: []string{"t4"}}, {Type: OpNoop}}},
	}
	for i, c := range cmds {
		c.Time = at(100 + i)
	}
	return cmds
}

// goldenStore applies goldenCommands to a new store, at indexes from 1.
func goldenStore(t *testing.T) *Store {
	s := NewStore()
	for i, c := range goldenCommands() {
		res := s.Apply(Entry{Index: uint64(i + 1), Cmd: c})[0]
		if err := res.Err(); err != nil {
			t.Fatalf("golden command %d: %v", i, err)
		}
	}
	return s
}

// TestWriteGolden writes the golden files; see the comment above.
func TestWriteGolden(t *testing.T) {
	if os.Getenv("SHOAL_WRITE_GOLDEN") == "" {
		t.Skip("SHOAL_WRITE_GOLDEN is not set")
	}
	s := goldenStore(t)
	var buf bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "snapshot-format1.jsonl"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	for _, c := range goldenCommands() {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, b)
	}
	b, _ := json.MarshalIndent(entries, "", " ")
	if err := os.WriteFile(filepath.Join("testdata", "commands-json.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
