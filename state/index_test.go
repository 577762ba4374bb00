package state

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// randomWorkload applies a random mix of every task and node operation,
// so that the indexes see creates, updates that move tasks between nodes,
// deletes and service deletions.
func randomWorkload(t *testing.T, seed uint64, steps int) *applier {
	return randomWorkloadOn(newApplier(t), seed, steps)
}

func randomWorkloadOn(a *applier, seed uint64, steps int) *applier {
	r := rand.New(rand.NewPCG(seed, 7))
	a.mustApply(Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: "c1", Spec: model.DefaultClusterSpec()}})
	hosts := []string{"Alpha", "alpha", "beta", "BETA-2", "gamma", ""}
	var nodes []string
	for i := range 12 {
		id := fmt.Sprintf("n%02d", i)
		role := model.RoleWorker
		if i%4 == 0 {
			role = model.RoleManager
		}
		a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: id, Role: role, Description: model.NodeDescription{Hostname: hosts[i%len(hosts)]}}})
		nodes = append(nodes, id)
	}
	var services []string
	for i := range 4 {
		id := fmt.Sprintf("s%d", i)
		a.mustApply(Op{Type: OpCreateService, Service: testService(id, fmt.Sprintf("web%d", i), 3)})
		services = append(services, id)
	}
	var tasks []string
	next := 0
	for range steps {
		switch k := r.IntN(10); {
		case k < 3:
			s := a.service(services[r.IntN(len(services))])
			if s == nil {
				continue
			}
			var nts []NewTask
			for range 1 + r.IntN(20) {
				next++
				id := fmt.Sprintf("t%05d", r.IntN(100000))
				nt := NewTask{ID: id, Slot: uint64(1 + r.IntN(5))}
				if r.IntN(5) == 0 {
					nt.Slot, nt.NodeID = 0, nodes[r.IntN(len(nodes))]
				}
				nts = append(nts, nt)
				tasks = append(tasks, id)
			}
			a.apply(Op{Type: OpCreateTasks, ID: s.ID, SpecVersion: s.SpecVersion.Index, NewTasks: nts})
		case k < 5 && len(tasks) > 0:
			var as []Assignment
			n := 1 + r.IntN(20)
			if r.IntN(4) == 0 {
				n = 25 + r.IntN(60) // more than twice the nodes: a batch
			}
			for range n {
				as = append(as, Assignment{TaskID: tasks[r.IntN(len(tasks))], NodeID: nodes[r.IntN(len(nodes))]})
			}
			a.apply(Op{Type: OpAssignTasks, Assignments: as})
		case k < 6 && len(tasks) > 0:
			ids := []string{tasks[r.IntN(len(tasks))], tasks[r.IntN(len(tasks))]}
			a.apply(Op{Type: OpSetTasksDesired, IDs: ids, DesiredState: []model.TaskState{model.TaskStateShutdown, model.TaskStateRemove}[r.IntN(2)]})
		case k < 7 && len(tasks) > 0:
			// Up to four tasks, the same one twice at times, or a batch.
			ids := []string{tasks[r.IntN(len(tasks))]}
			n := r.IntN(4)
			if r.IntN(4) == 0 {
				n = 25 + r.IntN(40)
			}
			for range n {
				ids = append(ids, tasks[r.IntN(len(tasks))])
			}
			a.apply(Op{Type: OpDeleteTasks, IDs: ids})
		case k < 8 && len(tasks) > 0:
			// An update that moves a task to another node.
			tk := a.task(tasks[r.IntN(len(tasks))])
			if tk == nil {
				continue
			}
			n := tk.Copy()
			n.NodeID = nodes[r.IntN(len(nodes))]
			a.apply(Op{Type: OpUpdateTask, Task: n, Version: tk.Version.Index})
		case k < 9:
			n := nodes[r.IntN(len(nodes))]
			var node *model.Node
			_ = a.s.View(func(tx ReadTx) error { node = tx.GetNode(n); return nil })
			if node == nil {
				continue
			}
			c := node.Copy()
			c.Role = []model.NodeRole{model.RoleWorker, model.RoleManager}[r.IntN(2)]
			a.apply(Op{Type: OpUpdateNode, Node: c, Version: node.Version.Index})
			a.apply(Op{Type: OpNodeStatus, NodeStatuses: []NodeStatusUpdate{{ID: n, Status: model.NodeStatus{State: model.NodeStateReady}, Description: &model.NodeDescription{Hostname: hosts[r.IntN(len(hosts))]}}}})
		default:
			if r.IntN(10) == 0 {
				s := services[r.IntN(len(services))]
				a.apply(Op{Type: OpDeleteService, ID: s})
				id := fmt.Sprintf("s%d", len(services)+r.IntN(1000))
				a.apply(Op{Type: OpCreateService, Service: testService(id, "web"+id, 3)})
				services = append(services, id)
			}
		}
	}
	return a
}

// TestSelectorsMatchFilteredScans checks every selector against a scan of
// all objects filtered by hand and sorted as the indexes order them (by
// value, then ID), after a random history: the indexes that were removed
// (slot, desired state) and the ones kept give what go-memdb gave.
func TestSelectorsMatchFilteredScans(t *testing.T) {
	for seed := range uint64(4) {
		a := randomWorkload(t, seed, 400)
		err := a.s.View(func(tx ReadTx) error {
			all, err := tx.FindTasks(All)
			if err != nil {
				return err
			}
			if !slices.IsSortedFunc(all, func(x, y *model.Task) int { return strings.Compare(x.ID, y.ID) }) {
				t.Fatal("All is not in ID order")
			}
			nodes, _ := tx.FindNodes(All)
			services, _ := tx.FindServices(All)
			checkTasks := func(name string, by By, keep func(*model.Task) bool, value func(*model.Task) string) {
				t.Helper()
				var want []*model.Task
				for _, tk := range all {
					if keep(tk) {
						want = append(want, tk)
					}
				}
				slices.SortStableFunc(want, func(x, y *model.Task) int { return strings.Compare(value(x), value(y)) })
				got, err := tx.FindTasks(by)
				if err != nil {
					t.Fatal(err)
				}
				var each []*model.Task
				_ = tx.ForEachTask(by, func(tk *model.Task) bool { each = append(each, tk); return true })
				if !slices.Equal(got, want) || !slices.Equal(each, want) {
					t.Fatalf("seed %d, %s: got %d tasks, want %d (or a different order)", seed, name, len(got), len(want))
				}
			}
			none := func(*model.Task) string { return "" }
			for _, s := range append(services, &model.Service{ID: "gone"}) {
				checkTasks("service "+s.ID, ByServiceID(s.ID), func(tk *model.Task) bool { return tk.ServiceID == s.ID }, none)
				for slot := range uint64(7) {
					checkTasks(fmt.Sprintf("slot %s.%d", s.ID, slot), BySlot(s.ID, slot), func(tk *model.Task) bool {
						return slot != 0 && tk.ServiceID == s.ID && tk.Slot == slot
					}, none)
				}
			}
			for _, n := range append(nodes, &model.Node{ID: ""}, &model.Node{ID: "n0"}) {
				checkTasks("node "+n.ID, ByNodeID(n.ID), func(tk *model.Task) bool { return n.ID != "" && tk.NodeID == n.ID }, none)
			}
			for _, ds := range []model.TaskState{model.TaskStateNew, model.TaskStateRunning, model.TaskStateShutdown, model.TaskStateRemove} {
				checkTasks("desired "+ds.String(), ByDesiredState(ds), func(tk *model.Task) bool { return tk.DesiredState == ds }, none)
			}
			for _, p := range []string{"", "t", "t0", "t01", "t99999", "x"} {
				checkTasks("id prefix "+p, ByIDPrefix(p), func(tk *model.Task) bool { return strings.HasPrefix(tk.ID, p) }, none)
			}

			checkNodes := func(name string, by By, keep func(*model.Node) bool, value func(*model.Node) string) {
				t.Helper()
				var want []*model.Node
				for _, n := range nodes {
					if keep(n) {
						want = append(want, n)
					}
				}
				slices.SortStableFunc(want, func(x, y *model.Node) int { return cmp.Compare(value(x), value(y)) })
				got, err := tx.FindNodes(by)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d, %s: got %v, want %v", seed, name, ids(got), ids(want))
				}
			}
			host := func(n *model.Node) string { return strings.ToLower(n.Description.Hostname) }
			for _, h := range []string{"alpha", "ALPHA", "beta", "beta-2", "", "zeta"} {
				checkNodes("hostname "+h, ByName(h), func(n *model.Node) bool { return h != "" && host(n) == strings.ToLower(h) }, host)
			}
			for _, p := range []string{"", "a", "BE", "beta-", "z"} {
				checkNodes("hostname prefix "+p, ByNamePrefix(p), func(n *model.Node) bool {
					return host(n) != "" && strings.HasPrefix(host(n), strings.ToLower(p))
				}, host)
			}
			for _, r := range []model.NodeRole{model.RoleWorker, model.RoleManager, ""} {
				checkNodes("role "+string(r), ByRole(r), func(n *model.Node) bool { return r != "" && n.Role == r }, func(n *model.Node) string { return string(n.Role) })
			}
			for _, s := range services {
				got, _ := tx.FindServices(ByName(strings.ToUpper(s.Spec.Name)))
				if len(got) != 1 || got[0] != s {
					t.Fatalf("service by name %s: %v", s.Spec.Name, got)
				}
			}
			got, _ := tx.FindServices(ByNamePrefix("web"))
			if len(got) != len(services) || !slices.IsSortedFunc(got, func(x, y *model.Service) int { return strings.Compare(x.Spec.Name, y.Spec.Name) }) {
				t.Fatalf("services by name prefix: %d of %d, or not in name order", len(got), len(services))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func ids[T model.Object](l []T) []string {
	out := make([]string, len(l))
	for i, o := range l {
		out[i] = o.GetID()
	}
	return out
}

// TestSelectorsRefuseWrongKinds checks the errors of selectors used on a
// kind they do not apply to.
func TestSelectorsRefuseWrongKinds(t *testing.T) {
	s := NewStore()
	_ = s.View(func(tx ReadTx) error {
		for name, f := range map[string]func() error{
			"nodes by slot":          func() error { _, err := tx.FindNodes(BySlot("s", 1)); return err },
			"services by desired":    func() error { _, err := tx.FindServices(ByDesiredState(model.TaskStateRunning)); return err },
			"tasks by role":          func() error { _, err := tx.FindTasks(ByRole(model.RoleWorker)); return err },
			"tasks by name prefix":   func() error { _, err := tx.FindTasks(ByNamePrefix("x")); return err },
			"nodes by service":       func() error { _, err := tx.FindNodes(ByServiceID("s")); return err },
			"services by node":       func() error { _, err := tx.FindServices(ByNodeID("n")); return err },
			"each task by name":      func() error { return tx.ForEachTask(ByName("x"), func(*model.Task) bool { return true }) },
			"services by role (all)": func() error { _, err := tx.FindServices(ByRole(model.RoleManager)); return err },
		} {
			if err := f(); !errorsIsInvalid(err) {
				t.Errorf("%s: %v", name, err)
			}
		}
		return nil
	})
}

func errorsIsInvalid(err error) bool {
	return err != nil && AsError(err) != nil && AsError(err).Code == CodeInvalid
}

// TestReadersSeeImmutableVersions runs readers over a store while a
// writer changes every task in large and small batches: a reader's view
// never changes under it (run with -race).
func TestReadersSeeImmutableVersions(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1"}}, Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	var nts []NewTask
	for i := range 3000 {
		nts = append(nts, NewTask{ID: fmt.Sprintf("t%05d", i), Slot: uint64(i + 1)})
	}
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: nts})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = a.s.View(func(tx ReadTx) error {
					idx := tx.Index()
					count := func() (n int, sum uint64) {
						_ = tx.ForEachTask(ByServiceID("s1"), func(tk *model.Task) bool {
							n++
							sum += tk.Version.Index
							if tk.Version.Index > idx {
								errs <- fmt.Errorf("task %s at version %d in a view at %d", tk.ID, tk.Version.Index, idx)
							}
							return true
						})
						return n, sum
					}
					n1, s1 := count()
					time.Sleep(time.Millisecond)
					if n2, s2 := count(); n1 != n2 || s1 != s2 {
						errs <- fmt.Errorf("view at %d changed: %d/%d tasks", idx, n1, n2)
					}
					return nil
				})
			}
		}()
	}
	for i := range 60 {
		var ds []model.TaskStatusUpdate
		var as []Assignment
		for j := range 3000 {
			if i == 0 {
				as = append(as, Assignment{TaskID: fmt.Sprintf("t%05d", j), NodeID: "n1"})
			} else if j%(1+i%7) == 0 {
				ds = append(ds, model.TaskStatusUpdate{TaskID: fmt.Sprintf("t%05d", j), Status: model.TaskStatus{State: model.TaskStateRunning, Message: fmt.Sprint(i)}})
			}
		}
		if i == 0 {
			a.mustApply(Op{Type: OpAssignTasks, Assignments: as})
		} else {
			a.mustApply(Op{Type: OpTaskStatus, ID: "n1", TaskStatuses: ds})
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWatcherFiltersKeepOrder checks filtered watchers against the
// unfiltered feed, for filters that accept all, none, a prefix, a suffix
// and every other event.
func TestWatcherFiltersKeepOrder(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1"}}, Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	var n int
	odd := func(Event) bool { n++; return n%2 == 1 }
	filters := map[string]func(Event) bool{
		"all":    func(Event) bool { return true },
		"none":   func(Event) bool { return false },
		"first":  func(e Event) bool { return e.Object.GetID() < "t050" },
		"last":   func(e Event) bool { return e.Object.GetID() >= "t050" },
		"odd":    odd,
		"node":   func(e Event) bool { return e.Object.Kind() == model.KindNode },
		"create": func(e Event) bool { return e.Action == ActionCreate },
	}
	all := a.s.Watch()
	ws := map[string]*Watcher{}
	for name, f := range filters {
		ws[name] = a.s.Watch(WithFilter(f))
	}
	var nts []NewTask
	for i := range 100 {
		nts = append(nts, NewTask{ID: fmt.Sprintf("t%03d", i), Slot: uint64(i + 1)})
	}
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: nts},
		Op{Type: OpNodeStatus, NodeStatuses: []NodeStatusUpdate{{ID: "n1", Status: model.NodeStatus{State: model.NodeStateReady}}}})
	a.mustApply(Op{Type: OpDeleteTasks, IDs: []string{"t001", "t002"}})
	feed, err := all.Drain()
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for name, f := range filters {
		batches, err := ws[name].Drain()
		if err != nil || len(batches) != len(feed) {
			t.Fatalf("%s: %d batches, %v", name, len(batches), err)
		}
		if name == "odd" {
			n = 0
		}
		for i, b := range batches {
			var want []Event
			for _, e := range feed[i].Events {
				if f(e) {
					want = append(want, e)
				}
			}
			if b.Index != feed[i].Index || len(b.Events) != len(want) {
				t.Fatalf("%s: batch %d has %d events, want %d", name, i, len(b.Events), len(want))
			}
			for j := range want {
				if b.Events[j] != want[j] {
					t.Fatalf("%s: batch %d event %d differs", name, i, j)
				}
			}
		}
	}
}
