package scheduler

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestPlacePinned(t *testing.T) {
	nodes := infos(
		mkNode("n1"),
		mkNode("n2", availability(model.AvailabilityDrain)),
		mkNode("n3", resources(4, gib)),
	)
	nodes = append(nodes, load(mkNode("n4"), map[string]int{"agent": 1}))
	tasks := []*model.Task{
		mkTask("agent.n1", "agent", reserve(0, 2*gib), maxReplicas(1), pinnedTo("n1")),
		mkTask("agent.n2", "agent", reserve(0, 2*gib), maxReplicas(1), pinnedTo("n2")),
		mkTask("agent.n3", "agent", reserve(0, 2*gib), maxReplicas(1), pinnedTo("n3")),
		mkTask("agent.n4", "agent", reserve(0, 2*gib), maxReplicas(1), pinnedTo("n4")),
		mkTask("agent.n9", "agent", reserve(0, 2*gib), maxReplicas(1), pinnedTo("n9")),
		// A second task for n1 in the same batch: max replicas 1.
		mkTask("agent.n1b", "agent", reserve(0, 2*gib), maxReplicas(1), pinnedTo("n1")),
	}
	ds := mustPlace(t, tasks, nodes, Options{})
	want := []struct{ node, err string }{
		{"n1", ""},
		{"", "no suitable node (1 node not available for new tasks)"},
		{"", "no suitable node (1 node insufficient memory)"},
		{"", "no suitable node (max replicas per node limit exceed on 1 node)"},
		{"", "no suitable node (node n9 not found)"},
		{"", "no suitable node (max replicas per node limit exceed on 1 node)"},
	}
	for i, d := range ds {
		if d.NodeID != want[i].node || d.Err != want[i].err {
			t.Errorf("%s: node %q err %q; want %q %q", d.Task.ID, d.NodeID, d.Err, want[i].node, want[i].err)
		}
	}
}

func TestPlaceTasksErrors(t *testing.T) {
	nodes := infos(mkNode("n1"))
	mixed := []*model.Task{mkTask("a", "web"), mkTask("b", "api")}
	if _, err := PlaceTasks(mixed, nodes, Options{}); !errors.Is(err, ErrMixedGroup) {
		t.Errorf("two services: %v", err)
	}
	versions := []*model.Task{mkTask("a", "web"), mkTask("b", "web", specVersion(2))}
	if _, err := PlaceTasks(versions, nodes, Options{}); !errors.Is(err, ErrMixedGroup) {
		t.Errorf("two versions: %v", err)
	}
	if _, err := PlaceTasks(group("web", 1), nodes, Options{Strategy: "random"}); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown strategy: %v", err)
	}
	if ds, err := PlaceTasks(nil, nodes, Options{}); ds != nil || err != nil {
		t.Errorf("no tasks: %v, %v", ds, err)
	}
	ds := mustPlace(t, group("web", 2, constraints("zone=a")), nodes, Options{})
	want := `no suitable node (scheduler: invalid constraint "zone=a": expected an operator, == or !=)`
	for _, d := range ds {
		if d.Placed() || d.Err != want {
			t.Errorf("invalid constraint: %+v", d)
		}
	}
	ds = mustPlace(t, group("web", 1, prefs("zone")), nodes, Options{})
	if ds[0].Placed() || !errors.Is(ValidatePlacement(ds[0].Task.Spec.Placement), ErrInvalidPreference) {
		t.Errorf("invalid preference: %+v", ds[0])
	}
}

func TestDecisionApply(t *testing.T) {
	task := mkTask("web.1", "web")
	task.Version = model.Version{Index: 7}
	now := t0.Add(time.Second)
	placed := Decision{Task: task, NodeID: "n1"}.Apply(now)
	if placed == task || placed.NodeID != "n1" || placed.Status.State != model.TaskStateAssigned ||
		placed.Status.Timestamp != now || placed.Version.Index != 7 || placed.Status.Err != "" {
		t.Errorf("placed: %+v", placed)
	}
	pending := Decision{Task: task, Err: "no suitable node"}.Apply(now)
	if pending.NodeID != "" || pending.Status.State != model.TaskStatePending || pending.Status.Err != "no suitable node" {
		t.Errorf("pending: %+v", pending)
	}
	if task.NodeID != "" || task.Status.Err != "" || !task.Status.Timestamp.IsZero() {
		t.Errorf("Apply modified the task: %+v", task)
	}
}

// TestPlaceTasksConcurrentReaders runs placements of different services at
// once over the same NodeInfos: PlaceTasks only reads them (run with -race).
func TestPlaceTasksConcurrentReaders(t *testing.T) {
	var nodes []*NodeInfo
	for i := range 50 {
		n := mkNode(fmt.Sprintf("n%03d", i), labels("zone="+string(rune('a'+i%3))))
		ni := load(n, map[string]int{"web": i % 4})
		ni.TaskFailed("web", t0)
		nodes = append(nodes, ni)
	}
	want := mustPlace(t, group("web", 200, reserve(0.1, 64*mib), prefs("node.labels.zone")), nodes, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			strategy := []model.PlacementStrategy{model.StrategySpread, model.StrategyBinpack}[g%2]
			for range 20 {
				ds, err := PlaceTasks(group("web", 200, reserve(0.1, 64*mib), prefs("node.labels.zone")), nodes, Options{Strategy: strategy, Now: t0})
				if err != nil {
					t.Error(err)
					return
				}
				if strategy == model.StrategySpread && !sameNodes(ds, want) {
					t.Error("concurrent placement differs from the sequential one")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func sameNodes(a, b []Decision) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].NodeID != b[i].NodeID || a[i].Err != b[i].Err {
			return false
		}
	}
	return true
}
