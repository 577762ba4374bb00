package orchestrator_test

import (
	"maps"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func even(counts map[string]int, nodes ...string) bool {
	if len(counts) != len(nodes) {
		return false
	}
	lo, hi := 1<<30, 0
	for _, n := range nodes {
		lo, hi = min(lo, counts[n]), max(hi, counts[n])
	}
	return hi-lo <= 1
}

func TestRebalanceAfterNodeJoins(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")

	opted := replicated("opted", 6)
	opted.Rebalance = true
	opted.Update = &model.UpdateConfig{Parallelism: 2}
	a := w.createService(opted)
	plain := replicated("plain", 6)
	plain.Update = &model.UpdateConfig{Parallelism: 1, Order: model.UpdateOrderStartFirst}
	b := w.createService(plain)
	for _, id := range []string{a, b} {
		w.waitFor(id, "3 per node", func(s *snap) bool { return len(s.running()) == 6 && even(s.perNode(), "n1", "n2") })
	}
	before := w.get(b).perNode()

	w.addNode("n3")
	s := w.waitFor(a, "opted-in service spread over 3 nodes", func(s *snap) bool {
		return len(s.running()) == 6 && even(s.perNode(), "n1", "n2", "n3") && len(s.runnable()) == 6
	})
	oneTaskPerSlot(t, s, 6)
	w.settle()
	if got := w.get(b).perNode(); !maps.Equal(got, before) {
		t.Fatalf("service without rebalance moved: %v, was %v", got, before)
	}
	if s := w.get(a); s.status() != "" {
		t.Fatalf("rebalancing set update status %q", s.status())
	}

	// The cluster-wide setting opts every replicated service in; this one
	// moves start-first, one task at a time: never fewer than 6 running.
	tr := w.track(b)
	w.updateCluster(func(c *model.ClusterSpec) { c.Orchestration.Rebalance = true })
	s = w.waitFor(b, "every service spread", func(s *snap) bool {
		return len(s.running()) == 6 && even(s.perNode(), "n1", "n2", "n3") && len(s.runnable()) == 6
	})
	oneTaskPerSlot(t, s, 6)
	tr.stop()
	if tr.minRunning < 6 || tr.maxWanted > 7 {
		t.Fatalf("start-first rebalance: running dropped to %d, wanted rose to %d", tr.minRunning, tr.maxWanted)
	}
}
