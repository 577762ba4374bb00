package scheduler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestRankOrders(t *testing.T) {
	c := func(id string, failing bool, service, active, room int) *candidate {
		return &candidate{id: id, failing: failing, service: service, active: active, room: room}
	}
	for _, tc := range []struct {
		name     string
		less     lessFunc
		nodes    []*candidate
		wantBest []string // ids from best to worst
	}{
		{"spread: fewest of the service first", spreadLess, []*candidate{
			c("a", false, 2, 2, 9), c("b", false, 1, 9, 9), c("c", false, 0, 20, 9),
		}, []string{"c", "b", "a"}},
		{"spread: then fewest overall", spreadLess, []*candidate{
			c("a", false, 1, 5, 9), c("b", false, 1, 3, 9), c("c", false, 1, 4, 9),
		}, []string{"b", "c", "a"}},
		{"spread: then node ID", spreadLess, []*candidate{
			c("b", false, 1, 1, 9), c("a", false, 1, 1, 9), c("c", false, 1, 1, 1),
		}, []string{"a", "b", "c"}},
		{"spread: failing nodes last", spreadLess, []*candidate{
			c("a", true, 0, 0, 9), c("b", false, 7, 7, 9), c("c", true, 0, 1, 9),
		}, []string{"b", "a", "c"}},
		{"binpack: least room first", binpackLess, []*candidate{
			c("a", false, 0, 0, 8), c("b", false, 0, 0, 1), c("c", false, 0, 0, math.MaxInt),
		}, []string{"b", "a", "c"}},
		{"binpack: then most of the service, most overall", binpackLess, []*candidate{
			c("a", false, 1, 9, 3), c("b", false, 2, 2, 3), c("c", false, 1, 10, 3), c("d", false, 1, 10, 3),
		}, []string{"b", "c", "d", "a"}},
		{"binpack: failing nodes last", binpackLess, []*candidate{
			c("a", true, 0, 0, 1), c("b", false, 0, 0, 5),
		}, []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byID := slices.Clone(tc.nodes)
			slices.SortFunc(byID, func(a, b *candidate) int { return strings.Compare(a.id, b.id) })
			for k, c := range byID {
				c.order = k
			}
			sort.Slice(tc.nodes, func(i, j int) bool { return tc.less(tc.nodes[i], tc.nodes[j]) })
			var got []string
			for _, n := range tc.nodes {
				got = append(got, n.id)
			}
			if !reflect.DeepEqual(got, tc.wantBest) {
				t.Errorf("order %v, want %v", got, tc.wantBest)
			}
		})
	}
}

// load returns a NodeInfo for n running count tasks of each "service=count"
// pair.
func load(n *model.Node, counts map[string]int) *NodeInfo {
	ni := NewNodeInfo(n)
	for s, k := range counts {
		for i := range k {
			ni.AddTask(mkTask(n.ID+"-"+s+"-"+strconv.Itoa(i), s, runningOn(n.ID)))
		}
	}
	return ni
}

func TestPlaceSpread(t *testing.T) {
	nodes := []*NodeInfo{
		load(mkNode("n1"), map[string]int{"web": 2, "db": 1}),
		load(mkNode("n2"), map[string]int{"web": 1, "db": 3}),
		load(mkNode("n3"), map[string]int{"db": 5}),
		load(mkNode("n4"), map[string]int{"web": 1}),
	}
	// n3 (0 web) takes the first; then among the nodes with 1 web task n4
	// (fewest tasks overall), n2, n3; then all have 2 and n4, n1, n2, n3
	// follow by total: web ends at 3 per node.
	ds := mustPlace(t, group("web", 8), nodes, Options{})
	want := map[string]int{"n1": 1, "n2": 2, "n3": 3, "n4": 2}
	if got := countByNode(ds); !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	var order []string
	for _, d := range ds[:4] {
		order = append(order, d.NodeID)
	}
	if want := []string{"n3", "n4", "n2", "n3"}; !reflect.DeepEqual(order, want) {
		t.Errorf("first placements %v, want %v", order, want)
	}
}

func TestPlaceFailingNodesLast(t *testing.T) {
	bad := NewNodeInfo(mkNode("a-bad"))
	for i := range FailureThreshold {
		bad.TaskFailed("web", t0.Add(-time.Duration(i)*time.Minute))
	}
	otherBad := NewNodeInfo(mkNode("b"))
	for range FailureThreshold {
		otherBad.TaskFailed("api", t0) // failures of another service do not count
	}
	nodes := []*NodeInfo{bad, otherBad, load(mkNode("c"), map[string]int{"web": 3})}
	ds := mustPlace(t, group("web", 5, maxReplicas(4)), nodes, Options{})
	// b takes 4 and c 1 before the failing node gets anything.
	if got, want := countByNode(ds), map[string]int{"b": 4, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	ds = mustPlace(t, group("web", 6, maxReplicas(4)), nodes, Options{})
	if got, want := countByNode(ds), map[string]int{"a-bad": 1, "b": 4, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	// Five minutes later the node is forgiven.
	ds = mustPlace(t, group("web", 1), nodes, Options{Now: t0.Add(FailureWindow)})
	if ds[0].NodeID != "a-bad" {
		t.Errorf("after the window: placed on %s, want a-bad", ds[0].NodeID)
	}
}

func TestPlaceBinpack(t *testing.T) {
	nodes := []*NodeInfo{
		NewNodeInfo(mkNode("empty", resources(8, 16*gib))),
		load(mkNode("busy", resources(8, 16*gib)), nil),
		NewNodeInfo(mkNode("small", resources(2, 4*gib))),
	}
	nodes[1].AddTask(mkTask("x", "db", reserve(4, 8*gib), runningOn("busy")))
	// Room for 1-CPU 2-GiB tasks: empty 8, busy 4, small 2. small fills
	// first, then busy; empty stays empty.
	ds := mustPlace(t, group("web", 6, reserve(1, 2*gib)), nodes, Options{Strategy: model.StrategyBinpack})
	if got, want := countByNode(ds), map[string]int{"small": 2, "busy": 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	// Without reservations nothing limits a node: all go to the busiest.
	ds = mustPlace(t, group("web", 5), nodes, Options{Strategy: model.StrategyBinpack})
	if got, want := countByNode(ds), map[string]int{"busy": 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	// Max replicas caps the fill.
	ds = mustPlace(t, group("web", 5, maxReplicas(2)), nodes, Options{Strategy: model.StrategyBinpack})
	if got, want := countByNode(ds), map[string]int{"busy": 2, "empty": 2, "small": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
}

func TestPlacePreferences(t *testing.T) {
	nodes := []*NodeInfo{
		load(mkNode("a1", labels("zone=a")), map[string]int{"web": 3}),
		NewNodeInfo(mkNode("a2", labels("zone=a"))),
		NewNodeInfo(mkNode("b1", labels("zone=b"))),
		NewNodeInfo(mkNode("c1", labels("zone=c"))),
		NewNodeInfo(mkNode("c2", labels("zone=c"))),
		NewNodeInfo(mkNode("none")), // no zone: a branch of its own
		// A paused node's tasks count in its zone's share.
		load(mkNode("b2", labels("zone=b"), availability(model.AvailabilityPause)), map[string]int{"web": 1}),
	}
	// Zones before: a 3, b 1, c 0, "" 0. Eight more make 3 each.
	ds := mustPlace(t, group("web", 8, prefs("node.labels.zone")), nodes, Options{})
	want := map[string]int{"b1": 2, "c1": 2, "c2": 1, "none": 3}
	if got := countByNode(ds); !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
}

func TestPlaceNestedPreferences(t *testing.T) {
	var nodes []*NodeInfo
	for _, z := range []string{"a", "b"} {
		for _, r := range []string{"r1", "r2", "r3"} {
			for i := range 2 {
				nodes = append(nodes, NewNodeInfo(mkNode(z+r+strconv.Itoa(i), labels("zone="+z, "rack="+r))))
			}
		}
	}
	ds := mustPlace(t, group("web", 12, prefs("node.labels.zone", "node.labels.rack")), nodes, Options{})
	perRack := map[string]int{}
	for _, d := range ds {
		perRack[d.NodeID[:3]]++
	}
	want := map[string]int{"ar1": 2, "ar2": 2, "ar3": 2, "br1": 2, "br2": 2, "br3": 2}
	if !reflect.DeepEqual(perRack, want) {
		t.Errorf("per rack %v, want %v", perRack, want)
	}
	for node, n := range countByNode(ds) {
		if n != 1 {
			t.Errorf("%s got %d tasks, want 1", node, n)
		}
	}
}

func TestPlacePreferencesOverflow(t *testing.T) {
	// Zone a can take one task only: the rest go to b.
	nodes := infos(
		mkNode("a1", labels("zone=a"), resources(1, 8*gib)),
		mkNode("b1", labels("zone=b")),
		mkNode("b2", labels("zone=b")),
	)
	ds := mustPlace(t, group("web", 6, reserve(1, 0), prefs("node.labels.zone")), nodes, Options{})
	// Zones tie at 0 and a comes first; once a1 is full, b takes the
	// other five, spread 3-2.
	if got, want := countByNode(ds), map[string]int{"a1": 1, "b1": 3, "b2": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
}

// TestFillSpreadIsTheHeapsOrder checks that fillSpread hands out tasks in
// exactly the order the heap of fillNodes with spreadLess does, on random
// candidates: some failing, with services and totals that tie, rooms that
// run out and rooms without limit, numbered in ID order or not.
func TestFillSpreadIsTheHeapsOrder(t *testing.T) {
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 11))
		var heap, fast []*candidate
		for i := range r.IntN(40) {
			room := unlimited
			if r.IntN(3) > 0 {
				room = 1 + r.IntN(6)
			}
			c := candidate{
				id:      fmt.Sprintf("n%02d", i),
				order:   i,
				failing: r.IntN(8) == 0,
				service: r.IntN(4),
				active:  r.IntN(6),
				room:    room,
			}
			c.active += c.service
			if seed%2 == 0 {
				// Not numbered: the IDs break ties.
				c.order = 0
			}
			h, f := c, c
			heap, fast = append(heap, &h), append(fast, &f)
		}
		// The candidates come in any order; ties are broken by order.
		r.Shuffle(len(fast), func(i, j int) { fast[i], fast[j] = fast[j], fast[i] })
		n := r.IntN(200)
		var want, got []string
		wantN := fillNodes(heap, spreadLess, n, func(c *candidate) { want = append(want, c.id) })
		gotN := fillSpread(fast, n, func(c *candidate) { got = append(got, c.id) })
		if gotN != wantN || !slices.Equal(got, want) {
			t.Fatalf("seed %d: fillSpread placed %d: %v\nthe heap placed %d: %v", seed, gotN, got, wantN, want)
		}
		byID := func(cs []*candidate) []candidate {
			out := make([]candidate, len(cs))
			for i, c := range cs {
				out[i] = *c
			}
			slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.id, b.id) })
			return out
		}
		if !slices.Equal(byID(fast), byID(heap)) {
			t.Fatalf("seed %d: candidates after fillSpread %+v, after the heap %+v", seed, byID(fast), byID(heap))
		}
	}
}
