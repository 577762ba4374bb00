package state

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// applier applies commands at increasing indexes, as the FSM does.
type applier struct {
	t     *testing.T
	s     *Store
	index uint64
	// legacyJSON encodes commands as EncodeJSON does, not Encode.
	legacyJSON bool
}

func newApplier(t *testing.T) *applier { return &applier{t: t, s: NewStore()} }

func (a *applier) apply(ops ...Op) Results {
	a.t.Helper()
	a.index++
	cmd := &Command{Time: time.Unix(1700000000, int64(a.index)).UTC(), Ops: ops}
	// Round-trip through the log encoding, as every manager sees it.
	encode := cmd.Encode
	if a.legacyJSON {
		encode = cmd.EncodeJSON
	}
	b, err := encode()
	if err != nil {
		a.t.Fatal(err)
	}
	cmd, err = DecodeCommand(b)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.s.Apply(Entry{Index: a.index, Cmd: cmd})[0]
}

func (a *applier) mustApply(ops ...Op) {
	a.t.Helper()
	if err := a.apply(ops...).Err(); err != nil {
		a.t.Fatalf("apply: %v", err)
	}
}

func testService(id, name string, replicas uint64) *model.Service {
	return &model.Service{ID: id, Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demo"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
	}}
}

func (a *applier) service(id string) *model.Service {
	var s *model.Service
	_ = a.s.View(func(tx ReadTx) error { s = tx.GetService(id); return nil })
	return s
}

func (a *applier) task(id string) *model.Task {
	var t *model.Task
	_ = a.s.View(func(tx ReadTx) error { t = tx.GetTask(id); return nil })
	return t
}

func TestServiceLifecycle(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateService, Service: testService("s1", "web", 3)})
	s := a.service("s1")
	if s.Version.Index != 1 || s.SpecVersion.Index != 1 || s.CreatedAt.IsZero() {
		t.Fatalf("bad meta after create: %+v spec version %d", s.Meta, s.SpecVersion.Index)
	}

	tests := []struct {
		name    string
		op      func() Op
		wantErr error
	}{
		{"duplicate ID", func() Op { return Op{Type: OpCreateService, Service: testService("s1", "other", 1)} }, ErrExists},
		{"duplicate name, other case", func() Op { return Op{Type: OpCreateService, Service: testService("s2", "WEB", 1)} }, ErrNameConflict},
		{"stale version", func() Op {
			return Op{Type: OpUpdateService, Service: testService("s1", "web", 5), Version: 0}
		}, ErrSequence},
		{"unknown service", func() Op { return Op{Type: OpUpdateService, Service: testService("nope", "x", 1), Version: 1} }, ErrNotFound},
		{"delete unknown", func() Op { return Op{Type: OpDeleteService, ID: "nope"} }, ErrNotFound},
		{"delete stale", func() Op { return Op{Type: OpDeleteService, ID: "s1", Version: 99} }, ErrSequence},
		{"unknown op", func() Op { return Op{Type: "bogus"} }, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.service("s1")
			err := a.apply(tc.op()).Err()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if after := a.service("s1"); after.Version != before.Version {
				t.Fatalf("failed op changed the service: %d -> %d", before.Version.Index, after.Version.Index)
			}
		})
	}
	if err := a.apply(Op{Type: OpUpdateService, Service: testService("s1", "web", 5), Version: 0}).Err(); err.Error() != "update out of sequence" {
		t.Fatalf("sequence error text is %q, want Docker's", err)
	}

	// A pure scale keeps the spec version; an image change bumps it.
	cur := a.service("s1")
	scaled := testService("s1", "web", 5)
	a.mustApply(Op{Type: OpUpdateService, Service: scaled, Version: cur.Version.Index})
	if got := a.service("s1"); got.SpecVersion != cur.SpecVersion || got.Spec.Replicas() != 5 {
		t.Fatalf("scale changed spec version or did not apply: %+v", got)
	}
	cur = a.service("s1")
	img := testService("s1", "web", 5)
	img.Spec.Task.Container.Image = "demo:2"
	a.mustApply(Op{Type: OpUpdateService, Service: img, Version: cur.Version.Index})
	if got := a.service("s1"); got.SpecVersion.Index != a.index {
		t.Fatalf("image change kept spec version %d", got.SpecVersion.Index)
	}
}

func TestCreateTasksFollowsSpecVersion(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateService, Service: testService("s1", "web", 2)})
	res := a.apply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}}})
	if res.Err() != nil || res[0].Applied != 2 {
		t.Fatalf("create tasks: %+v", res)
	}
	tk := a.task("t1")
	if tk.Spec.Container.Image != "demo" || tk.Status.State != model.TaskStatePending || tk.DesiredState != model.TaskStateRunning || tk.ServiceName != "web" {
		t.Fatalf("bad task: %+v", tk)
	}
	if tk.Name() != "web.1" {
		t.Fatalf("name %q", tk.Name())
	}
	// Made from a stale spec version: refused.
	if err := a.apply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 7, NewTasks: []NewTask{{ID: "t3", Slot: 3}}}).Err(); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale spec: %v", err)
	}
	if a.task("t3") != nil {
		t.Fatal("task made from a stale spec was created")
	}
}

func TestTaskStatesOnlyMoveForward(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1", Role: model.RoleWorker}},
		Op{Type: OpCreateNode, Node: &model.Node{ID: "n2", Role: model.RoleWorker}},
		Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}}})

	steps := []struct {
		name    string
		op      Op
		applied int
		state   model.TaskState
		node    string
	}{
		{"assign to unknown node", Op{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "ghost"}}}, 0, model.TaskStatePending, ""},
		{"assign", Op{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "n1"}}}, 1, model.TaskStateAssigned, "n1"},
		{"assign twice", Op{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "n2"}}}, 0, model.TaskStateAssigned, "n1"},
		{"other node reports", Op{Type: OpTaskStatus, ID: "n2", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t1", Status: model.TaskStatus{State: model.TaskStateRunning}}}}, 0, model.TaskStateAssigned, "n1"},
		{"running", Op{Type: OpTaskStatus, ID: "n1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t1", Status: model.TaskStatus{State: model.TaskStateRunning}}}}, 1, model.TaskStateRunning, "n1"},
		{"same again", Op{Type: OpTaskStatus, ID: "n1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t1", Status: model.TaskStatus{State: model.TaskStateRunning}}}}, 0, model.TaskStateRunning, "n1"},
		{"backwards", Op{Type: OpTaskStatus, ID: "n1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t1", Status: model.TaskStatus{State: model.TaskStateStarting}}}}, 0, model.TaskStateRunning, "n1"},
		{"failed", Op{Type: OpTaskStatus, ID: "n1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t1", Status: model.TaskStatus{State: model.TaskStateFailed, Err: "exit 1"}}}}, 1, model.TaskStateFailed, "n1"},
		{"pending message after assignment", Op{Type: OpTaskPending, Pending: []PendingReason{{TaskID: "t1", Message: "x"}}}, 0, model.TaskStateFailed, "n1"},
	}
	for _, st := range steps {
		res := a.apply(st.op)
		if res.Err() != nil || res[0].Applied != st.applied {
			t.Fatalf("%s: result %+v, want %d applied", st.name, res, st.applied)
		}
		tk := a.task("t1")
		if tk.Status.State != st.state || tk.NodeID != st.node {
			t.Fatalf("%s: task is %v on %q, want %v on %q", st.name, tk.Status.State, tk.NodeID, st.state, st.node)
		}
	}
	// Desired state is raised, never lowered.
	a.mustApply(Op{Type: OpSetTasksDesired, IDs: []string{"t1"}, DesiredState: model.TaskStateShutdown})
	a.mustApply(Op{Type: OpSetTasksDesired, IDs: []string{"t1"}, DesiredState: model.TaskStateRunning})
	if d := a.task("t1").DesiredState; d != model.TaskStateShutdown {
		t.Fatalf("desired state %v", d)
	}
}

func TestDeleteServiceRemovesTasks(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1"}}, Op{Type: OpCreateService, Service: testService("s1", "web", 2)})
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}}})
	a.mustApply(Op{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "n1"}}})
	a.mustApply(Op{Type: OpDeleteService, ID: "s1"})
	if a.task("t2") != nil {
		t.Fatal("unassigned task survived its service")
	}
	if tk := a.task("t1"); tk == nil || tk.DesiredState != model.TaskStateRemove {
		t.Fatalf("assigned task should wait for its agent with desired state remove: %+v", tk)
	}
	// The name is free again.
	a.mustApply(Op{Type: OpCreateService, Service: testService("s2", "web", 1)})
}

func TestDeleteNodeRecordsRemoval(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: "c1", Spec: model.DefaultClusterSpec()}})
	exp := time.Now().Add(time.Hour).UTC()
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1", Certificate: model.NodeCertificate{NotAfter: exp}}})
	a.mustApply(Op{Type: OpDeleteNode, ID: "n1"})
	var c *model.Cluster
	_ = a.s.View(func(tx ReadTx) error { c = tx.Cluster(); return nil })
	if len(c.RemovedNodes) != 1 || c.RemovedNodes[0].ID != "n1" {
		t.Fatalf("removed nodes: %+v", c.RemovedNodes)
	}
}

func TestFindSelectors(t *testing.T) {
	a := newApplier(t)
	a.mustApply(
		Op{Type: OpCreateNode, Node: &model.Node{ID: "abc1", Role: model.RoleManager, Description: model.NodeDescription{Hostname: "Alpha"}}},
		Op{Type: OpCreateNode, Node: &model.Node{ID: "abd2", Role: model.RoleWorker, Description: model.NodeDescription{Hostname: "beta"}}},
		Op{Type: OpCreateService, Service: testService("s1", "web", 2)},
		Op{Type: OpCreateService, Service: testService("s2", "webapi", 1)},
	)
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}}})
	a.mustApply(Op{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "abc1"}}})

	count := func(f func(ReadTx) (int, error)) int {
		var n int
		if err := a.s.View(func(tx ReadTx) error { var err error; n, err = f(tx); return err }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	nodes := func(by By) func(ReadTx) (int, error) {
		return func(tx ReadTx) (int, error) { l, err := tx.FindNodes(by); return len(l), err }
	}
	services := func(by By) func(ReadTx) (int, error) {
		return func(tx ReadTx) (int, error) { l, err := tx.FindServices(by); return len(l), err }
	}
	tasks := func(by By) func(ReadTx) (int, error) {
		return func(tx ReadTx) (int, error) { l, err := tx.FindTasks(by); return len(l), err }
	}
	cases := []struct {
		name string
		f    func(ReadTx) (int, error)
		want int
	}{
		{"all nodes", nodes(All), 2},
		{"node id prefix", nodes(ByIDPrefix("ab")), 2},
		{"node id prefix unique", nodes(ByIDPrefix("abc")), 1},
		{"node hostname any case", nodes(ByName("alpha")), 1},
		{"node role", nodes(ByRole(model.RoleManager)), 1},
		{"service name", services(ByName("WEB")), 1},
		{"service name prefix", services(ByNamePrefix("web")), 2},
		{"tasks of service", tasks(ByServiceID("s1")), 2},
		{"tasks of node", tasks(ByNodeID("abc1")), 1},
		{"tasks of slot", tasks(BySlot("s1", 2)), 1},
		{"tasks desired running", tasks(ByDesiredState(model.TaskStateRunning)), 2},
	}
	for _, tc := range cases {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	if err := a.s.View(func(tx ReadTx) error { _, err := tx.FindTasks(ByName("x")); return err }); !errors.Is(err, ErrInvalid) {
		t.Errorf("tasks by name should be refused: %v", err)
	}
}

func TestViewAndWatchSeesEveryChangeOnce(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	var seen int
	w, err := a.s.ViewAndWatch(func(tx ReadTx) error {
		l, err := tx.FindServices(All)
		seen = len(l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a.mustApply(Op{Type: OpCreateService, Service: testService("s2", "api", 1)})
	a.mustApply(Op{Type: OpDeleteService, ID: "s1"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	batches, err := w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var actions []Action
	for _, b := range batches {
		for _, e := range b.Events {
			actions = append(actions, e.Action)
		}
	}
	if seen != 1 || len(actions) != 2 || actions[0] != ActionCreate || actions[1] != ActionDelete {
		t.Fatalf("view saw %d, events %v", seen, actions)
	}
	if batches[len(batches)-1].Index != a.index {
		t.Fatalf("last batch index %d, want %d", batches[len(batches)-1].Index, a.index)
	}
}

func TestWatcherOverflowAsksForResync(t *testing.T) {
	a := newApplier(t)
	w := a.s.Watch(WithLimit(2))
	defer w.Close()
	for i := range 3 {
		a.mustApply(Op{Type: OpCreateService, Service: testService(model.NewID(), "svc"+string(rune('a'+i)), 1)})
	}
	if _, err := w.Drain(); !errors.Is(err, ErrResync) {
		t.Fatalf("got %v, want ErrResync", err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: "c1", Spec: model.DefaultClusterSpec()}},
		Op{Type: OpCreateNode, Node: &model.Node{ID: "n1"}},
		Op{Type: OpCreateService, Service: testService("s1", "web", 2)})
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}}})

	var buf bytes.Buffer
	if _, err := a.s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot do not leak into it.
	a.mustApply(Op{Type: OpDeleteService, ID: "s1"})

	b := NewStore()
	w := b.Watch()
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Drain(); !errors.Is(err, ErrResync) {
		t.Fatalf("watcher after restore: %v", err)
	}
	if b.Index() != 2 {
		t.Fatalf("restored index %d", b.Index())
	}
	err := b.View(func(tx ReadTx) error {
		if tx.Index() != 2 || tx.Cluster() == nil || tx.GetNode("n1") == nil || tx.GetService("s1") == nil {
			t.Fatalf("restored store misses objects")
		}
		tasks, _ := tx.FindTasks(ByServiceID("s1"))
		if len(tasks) != 2 || tasks[0].Spec.Container.Image != "demo" {
			t.Fatalf("restored tasks: %+v", tasks)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Garbage leaves the store as it was.
	if err := b.Restore(bytes.NewReader([]byte("{\"format\":1,\"index\":9}\n{bad"))); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
	if b.Index() != 2 {
		t.Fatal("failed restore changed the store")
	}
}

func TestEntriesAtOrBelowIndexAreIgnored(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	cmd := &Command{Ops: []Op{{Type: OpDeleteService, ID: "s1"}}}
	a.s.Apply(Entry{Index: 1, Cmd: cmd})
	if a.service("s1") == nil {
		t.Fatal("replayed entry was applied twice")
	}
	// A configuration entry moves the index only.
	a.s.Apply(Entry{Index: 5})
	if a.s.Index() != 5 {
		t.Fatalf("index %d", a.s.Index())
	}
}

func TestWaitForIndex(t *testing.T) {
	a := newApplier(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done <- a.s.WaitForIndex(ctx, 2)
	}()
	a.mustApply(Op{Type: OpNoop})
	a.mustApply(Op{Type: OpNoop})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := a.s.WaitForIndex(ctx, 10); err == nil {
		t.Fatal("wait for a future index returned")
	}
}

// TestStatusWritesKeepTheVersion checks that a user's read-modify-write is
// not refused because managers changed observed fields meanwhile, and that
// it does not overwrite them.
func TestStatusWritesKeepTheVersion(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1", Spec: model.NodeSpec{Availability: model.AvailabilityActive}}},
		Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	var n *model.Node
	_ = a.s.View(func(tx ReadTx) error { n = tx.GetNode("n1"); return nil })
	read := n.Version.Index
	a.mustApply(Op{Type: OpNodeStatus, NodeStatuses: []NodeStatusUpdate{{ID: "n1", Status: model.NodeStatus{State: model.NodeStateReady}}}})
	drain := n.Copy()
	drain.Spec.Availability = model.AvailabilityDrain
	a.mustApply(Op{Type: OpUpdateNode, Node: drain, Version: read})
	_ = a.s.View(func(tx ReadTx) error { n = tx.GetNode("n1"); return nil })
	if n.Status.State != model.NodeStateReady || n.Spec.Availability != model.AvailabilityDrain {
		t.Fatalf("node after status then spec writes: %+v", n)
	}

	s := a.service("s1")
	a.mustApply(Op{Type: OpServiceUpdateStatus, ID: "s1", SpecVersion: s.SpecVersion.Index, UpdateStatus: &model.UpdateStatus{State: model.UpdateStateCompleted}})
	if got := a.service("s1"); got.Version != s.Version || got.UpdateStatus == nil {
		t.Fatalf("update status write changed the version or did not apply: %+v", got)
	}
	scaled := s.Copy()
	scaled.Spec.Mode.Replicated.Replicas = 4
	a.mustApply(Op{Type: OpUpdateService, Service: scaled, Version: s.Version.Index})
}

func TestImportIntoEmptyStoreOnly(t *testing.T) {
	src := newApplier(t)
	src.mustApply(Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: "c1", Spec: model.DefaultClusterSpec()}},
		Op{Type: OpCreateNode, Node: &model.Node{ID: "n1"}},
		Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	src.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}}})
	var c *model.Cluster
	var set ImportSet
	_ = src.s.View(func(tx ReadTx) error {
		c = tx.Cluster()
		set.Nodes, _ = tx.FindNodes(All)
		set.Services, _ = tx.FindServices(All)
		set.Tasks, _ = tx.FindTasks(All)
		return nil
	})
	dst := newApplier(t)
	dst.index = 100
	res := dst.apply(Op{Type: OpImport, Cluster: c, Import: &set})
	if res.Err() != nil || res[0].Applied != 3 {
		t.Fatalf("import: %+v", res)
	}
	if tk := dst.task("t1"); tk == nil || tk.Version.Index != 101 || !model.TaskUpToDate(tk, dst.service("s1")) || tk.CreatedAt != src.task("t1").CreatedAt {
		t.Fatalf("imported task: %+v", tk)
	}
	if err := dst.apply(Op{Type: OpImport, Cluster: c, Import: &set}).Err(); !errors.Is(err, ErrExists) {
		t.Fatalf("second import into a live store: %v", err)
	}
}
