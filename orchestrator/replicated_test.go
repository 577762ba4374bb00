package orchestrator_test

import (
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/state"
)

func TestScaleUpAndDown(t *testing.T) {
	w := newWorld(t, 1)
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	id := w.createService(replicated("web", 3))
	s := w.waitFor(id, "3 running", func(s *snap) bool { return len(s.running()) == 3 })
	if got := s.slots(); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("slots %v, want 1 2 3", got)
	}
	if s.status() != "" {
		t.Fatalf("update status %q after create, want none", s.status())
	}

	w.updateService(id, func(sp *state.ServiceSpec) { sp.Mode.Replicated.Replicas = 5 })
	s = w.waitFor(id, "5 running", func(s *snap) bool { return len(s.running()) == 5 })
	if got := s.slots(); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("slots %v after scale up, want 1..5", got)
	}

	w.updateService(id, func(sp *state.ServiceSpec) { sp.Mode.Replicated.Replicas = 2 })
	s = w.waitFor(id, "2 running", func(s *snap) bool { return len(s.runnable()) == 2 })
	if got := s.slots(); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("slots %v after scale down, want 1 2", got)
	}
	w.settle()
	s = w.get(id)
	if s.status() != "" {
		t.Fatalf("update status %q after a pure scale, want none", s.status())
	}
	t.Log(s)
}
