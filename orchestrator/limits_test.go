package orchestrator_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/orchestrator"
)

func refused(s *snap, contains string) bool {
	us := s.svc.UpdateStatus
	return us != nil && us.State == model.UpdateStatePaused &&
		strings.HasPrefix(us.Message, orchestrator.RefusedMessagePrefix) && strings.Contains(us.Message, contains)
}

// TestServiceOverTheLimitIsMarkedNotPlanned checks the limits again where
// they are used (issue 21, findings 1 and 2): a service committed around
// the API with a replica count over the cluster's limit gets no task and
// is marked; other services carry on; a limit written around the API
// (the cluster object's MaxReplicas at 2^63) is capped at the ceiling; a
// scale under the limit, or a limit raised over the count, clears the mark
// and the service is orchestrated again.
func TestServiceOverTheLimitIsMarkedNotPlanned(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	cases := []struct {
		replicas uint64
		limit    uint64 // cluster setting; 0: the default
		want     string
	}{
		{1 << 63, 0, "replicas 9223372036854775808 is more than the cluster's limit of 100000"},
		{10_000_000, 0, "limit of 100000"},
		{1<<64 - 1, 1<<64 - 1, "replicas 18446744073709551615 is more than the cluster's limit of 1000000"},
		{4, 3, "replicas 4 is more than the cluster's limit of 3"},
	}
	other := w.createService(replicated("other", 1))
	for _, c := range cases {
		w.updateCluster(func(s *model.ClusterSpec) { s.Orchestration.MaxReplicas = c.limit })
		id := w.createService(replicated("big", c.replicas))
		s := w.waitFor(id, "the mark", func(s *snap) bool { return refused(s, c.want) })
		w.settle()
		if s = w.get(id); len(s.tasks) != 0 {
			t.Fatalf("%d replicas, limit %d: %d tasks\n%s", c.replicas, c.limit, len(s.tasks), s)
		}
		w.deleteService(id)
	}
	// The other service was orchestrated throughout.
	w.updateService(other, func(sp *model.ServiceSpec) { sp.Mode.Replicated.Replicas = 2 })
	w.waitFor(other, "2 running", func(s *snap) bool { return len(s.running()) == 2 })

	// Fixed by a scale.
	w.updateCluster(func(s *model.ClusterSpec) { s.Orchestration.MaxReplicas = 3 })
	id := w.createService(replicated("fixme", 5))
	w.waitFor(id, "the mark", func(s *snap) bool { return refused(s, "replicas 5") })
	w.updateService(id, func(sp *model.ServiceSpec) { sp.Mode.Replicated.Replicas = 3 })
	w.waitFor(id, "3 running, unmarked", func(s *snap) bool { return len(s.running()) == 3 && s.svc.UpdateStatus == nil })

	// Fixed by raising the limit: the orchestrator looks again at every
	// service when the cluster changes, and the mark goes.
	id2 := w.createService(replicated("wait", 4))
	w.waitFor(id2, "the mark", func(s *snap) bool { return refused(s, "replicas 4") })
	w.updateCluster(func(s *model.ClusterSpec) { s.Orchestration.MaxReplicas = 4 })
	w.waitFor(id2, "4 running, unmarked", func(s *snap) bool { return len(s.running()) == 4 && s.svc.UpdateStatus == nil })
}

// TestCreationIsPaced checks Config.MaxStartingTasks: a service of 12
// replicas with no node to run them gets 3 tasks, not 12 (issue 21,
// finding 2: ten million replicas filled the store and the engines at
// once); once a node runs them, the others follow, never more than 3
// starting at a time, and the service converges.
func TestCreationIsPaced(t *testing.T) {
	const window = 3
	w := newWorld(t, 1, func(c *orchestrator.Config) { c.MaxStartingTasks = window })
	id := w.createService(replicated("paced", 12))
	w.waitFor(id, "3 tasks", func(s *snap) bool { return len(s.runnable()) == window })
	w.settle()
	if s := w.get(id); len(s.tasks) != window {
		t.Fatalf("%d tasks with no node, want %d:\n%s", len(s.tasks), window, s)
	}
	w.addNode("n1")
	most := 0
	var s *snap
	for {
		w.waitFor(id, "the starting tasks running", func(s *snap) bool {
			most = max(most, len(s.runnable())-len(s.running()))
			return len(s.running()) == len(s.runnable())
		})
		s = w.get(id)
		if len(s.running()) == 12 {
			break
		}
		// The service is looked at again every PacingInterval: move the
		// clock until it is.
		before := len(s.runnable())
		for i := 0; len(w.get(id).runnable()) == before; i++ {
			if i == 100 {
				t.Fatalf("no new task after %d pacing intervals:\n%s", i, w.get(id))
			}
			w.clock.Advance(orchestrator.DefaultConfig().PacingInterval)
			time.Sleep(10 * time.Millisecond)
		}
	}
	if most > window {
		t.Errorf("up to %d tasks starting at once, want at most %d", most, window)
	}
	oneTaskPerSlot(t, s, 12)
}
