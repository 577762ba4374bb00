package orchestrator_test

import (
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func TestRemovedServiceTasksAreReaped(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicated("web", 4))
	w.waitFor(id, "4 running on 2 nodes", func(s *snap) bool { return len(s.running()) == 4 && len(s.perNode()) == 2 })

	// n2's agent stops answering and n2 is then marked down: its tasks
	// cannot be stopped, they are deleted at once. n1's agent stops its
	// tasks, which are deleted once they ended.
	w.sim.freeze("n2", true)
	w.setNodeState("n2", model.NodeStateDown)
	w.waitFor(id, "replaced on n1", func(s *snap) bool { return len(s.onNode("n1")) == 4 })
	w.sim.freeze("n1", true)
	w.deleteService(id)
	s := w.waitFor(id, "running tasks asked to be removed", func(s *snap) bool {
		return len(s.filter(func(t *model.Task) bool { return t.NodeID == "n2" })) == 0
	})
	for _, task := range s.tasks {
		if task.DesiredState != model.TaskStateRemove || task.NodeID != "n1" {
			t.Fatalf("task %s on %s left with desired state %s", task.ID, task.NodeID, task.DesiredState)
		}
	}
	w.sim.freeze("n1", false)
	w.waitFor(id, "every task deleted", func(s *snap) bool { return len(s.tasks) == 0 })
}

func TestDeletedNodeTasksAreReaped(t *testing.T) {
	w := newWorld(t, 1)
	w.addNode("n1")
	w.addNode("n2")
	id := w.createService(replicated("web", 2))
	w.waitFor(id, "2 running on 2 nodes", func(s *snap) bool { return len(s.running()) == 2 && len(s.perNode()) == 2 })
	w.setNodeState("n2", model.NodeStateDown)
	w.waitFor(id, "replaced on n1", func(s *snap) bool { return len(s.onNode("n1")) == 2 })
	w.deleteNode("n2")
	s := w.waitFor(id, "n2's tasks deleted", func(s *snap) bool {
		return len(s.filter(func(t *model.Task) bool { return t.NodeID == "n2" })) == 0
	})
	oneTaskPerSlot(t, s, 2)
}
