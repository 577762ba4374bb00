package state

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	svc := &Service{ID: "svc1", Spec: ServiceSpec{
		Annotations: Annotations{Name: "Web", Labels: map[string]string{"team": "a"}},
		Task: TaskSpec{
			Container: ContainerSpec{
				Image: "demo:1", Labels: map[string]string{"l": "v"}, Command: []string{"/bin/app"}, Args: []string{"-x", "é"},
				Hostname: "h", Env: []string{"A=1"}, Dir: "/d", User: "u", TTY: true, ReadOnly: true, Init: &init,
				Mounts:     []Mount{{Type: MountTypeBind, Source: "/s", Target: "/t", ReadOnly: true}},
				StopSignal: "SIGINT", StopGracePeriod: &grace,
				Healthcheck: &HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3, StartInterval: 4, Retries: 5},
			},
			Resources:   ResourceRequirements{Limits: Resources{NanoCPUs: 1, MemoryBytes: 2}, PidsLimit: 3, Reservations: Resources{NanoCPUs: 4, MemoryBytes: 5}},
			Restart:     RestartPolicy{Condition: RestartOnFailure, Delay: &delay, MaxAttempts: 3, Window: time.Minute},
			Placement:   Placement{Constraints: []string{"node.role==worker"}, Preferences: []PlacementPreference{{Spread: "node.labels.zone"}}, MaxReplicas: 2, Platforms: []Platform{{Architecture: "amd64", OS: "linux"}}},
			ForceUpdate: 1,
		},
		Mode:      ServiceMode{Replicated: &ReplicatedService{Replicas: 3}},
		Update:    &UpdateConfig{Parallelism: 2, Delay: time.Second, FailureAction: FailureActionRollback, Monitor: time.Second, MaxFailureRatio: 0.25, Order: UpdateOrderStartFirst},
		Rollback:  &UpdateConfig{Parallelism: 1},
		Endpoint:  &EndpointSpec{Ports: []PortConfig{{Name: "http", Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}},
		Rebalance: true,
		Strategy:  StrategyBinpack,
	}}
	global := &Service{ID: "svc2", Spec: ServiceSpec{Annotations: Annotations{Name: "agent"}, Task: TaskSpec{Container: ContainerSpec{Image: "agent"}}, Mode: ServiceMode{Global: &GlobalService{}}}}
	node := func(id string, role NodeRole) *Node {
		n := &Node{ID: id, Spec: NodeSpec{Annotations: Annotations{Labels: map[string]string{"zone": "z1"}}, DesiredRole: role, Availability: AvailabilityActive}, Role: role,
			Description: NodeDescription{Hostname: "Host-" + id, Platform: Platform{Architecture: "amd64", OS: "linux"}, Resources: Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}, Engine: Engine{EngineVersion: "28", Labels: map[string]string{"ssd": "1"}}},
			Certificate: NodeCertificate{Role: role, Serial: "01", NotAfter: at(1000), IssuedAt: at(1), CertPEM: []byte("PEM")}}
		if role == RoleManager {
			n.ManagerStatus = &ManagerStatus{Addr: "10.0.0.1:2377", APIAddr: "10.0.0.1:2376", GossipAddr: "10.0.0.1:7946"}
		}
		return n
	}
	cluster := &Cluster{ID: "c1", Spec: DefaultClusterSpec(), RootCA: RootCA{CACert: []byte("CA"), CAKey: []byte("KEY"), CACertDigest: "abc", JoinTokens: JoinTokens{Worker: "w", Manager: "m"}},
		GossipKeys: []GossipKey{{Key: []byte("0123456789abcdef"), CreatedAt: at(2)}}, UnlockKey: "unlock"}
	cmds := []*Command{
		{Ops: []Op{{Type: OpCreateCluster, Cluster: cluster}, {Type: OpCreateNode, Node: node("n1", RoleManager)}, {Type: OpCreateNode, Node: node("n2", RoleWorker)}, {Type: OpCreateNode, Node: node("n3", RoleWorker)}}},
		{Ops: []Op{{Type: OpCreateService, Service: svc}, {Type: OpCreateService, Service: global}}},
		{Ops: []Op{{Type: OpCreateTasks, ID: "svc1", SpecVersion: 2, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}, {ID: "t3", Slot: 3}, {ID: "t4", Slot: 4}}},
			{Type: OpCreateTasks, ID: "svc2", SpecVersion: 2, NewTasks: []NewTask{{ID: "g1", NodeID: "n1"}, {ID: "g2", NodeID: "n2"}}}}},
		{Ops: []Op{{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "n2"}, {TaskID: "t2", NodeID: "n3"}, {TaskID: "t3", NodeID: "n2"}, {TaskID: "g1", NodeID: "n1"}, {TaskID: "g2", NodeID: "n2"}}},
			{Type: OpTaskPending, Pending: []PendingReason{{TaskID: "t4", Message: "no suitable node (2 nodes not available)"}}}}},
		{Ops: []Op{{Type: OpTaskStatus, ID: "n2", TaskStatuses: []TaskStatusUpdate{
			{TaskID: "t1", Status: TaskStatus{Timestamp: at(10), State: TaskStateRunning, Message: "started", Container: &ContainerStatus{ContainerID: "c1", PID: 42}, Ports: []PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}},
			{TaskID: "t3", Status: TaskStatus{Timestamp: at(11).In(time.FixedZone("", 3600)), State: TaskStateFailed, Message: "task: non-zero exit (1)", Err: "exit 1", Container: &ContainerStatus{ContainerID: "c3", ExitCode: 1}}},
			{TaskID: "g2", Status: TaskStatus{Timestamp: at(12), State: TaskStateAccepted, Message: "accepted"}},
		}}}},
		{Ops: []Op{{Type: OpNodeStatus, NodeStatuses: []NodeStatusUpdate{{ID: "n2", Status: NodeStatus{State: NodeStateReady, Message: "up", Addr: "10.0.0.2"}, Description: &NodeDescription{Hostname: "host-n2b"}}, {ID: "n3", Status: NodeStatus{State: NodeStateDown}}}},
			{Type: OpSetTasksDesired, IDs: []string{"t2"}, DesiredState: TaskStateShutdown},
			{Type: OpServiceUpdateStatus, ID: "svc1", SpecVersion: 2, UpdateStatus: &UpdateStatus{State: UpdateStateUpdating, StartedAt: &started, Message: "update in progress"}}}},
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
