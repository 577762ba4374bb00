package orchestrator_test

import (
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// nodesRunning returns the nodes where the service has a running task.
func (s *snap) nodesRunning() []string {
	var out []string
	for _, t := range s.running() {
		out = append(out, t.NodeID)
	}
	slices.Sort(out)
	return out
}

func TestGlobalFollowsNodes(t *testing.T) {
	w := newWorld(t, 1)
	for _, n := range []string{"n1", "n2", "n3"} {
		w.addNode(n)
	}
	spec := global("agent")
	spec.Task.Placement.Constraints = []string{"node.labels.tier!=edge"}
	spec.Task.Restart.Delay = ptr(time.Duration(0))
	id := w.createService(spec)

	want := func(desc string, nodes ...string) *snap {
		t.Helper()
		s := w.waitFor(id, desc, func(s *snap) bool {
			return slices.Equal(s.nodesRunning(), nodes) && len(s.runnable()) == len(nodes)
		})
		for _, task := range s.tasks {
			if task.Slot != 0 || task.NodeID == "" {
				t.Fatalf("global task %s has slot %d, node %q", task.ID, task.Slot, task.NodeID)
			}
		}
		return s
	}
	want("one task per node", "n1", "n2", "n3")

	w.addNode("n4")
	want("task on the new node", "n1", "n2", "n3", "n4")

	w.updateNode("n2", func(n *model.NodeSpec) { n.Availability = model.AvailabilityDrain })
	want("drained node's task stopped", "n1", "n3", "n4")

	// A paused node keeps its task but starts no new one.
	w.updateNode("n3", func(n *model.NodeSpec) { n.Availability = model.AvailabilityPause })
	w.settle()
	s := want("paused node keeps its task", "n1", "n3", "n4")
	w.reportTask(s.onNode("n3")[0], model.TaskStateFailed, "exit 1")
	want("failed task on the paused node not replaced", "n1", "n4")
	w.settle()
	if s := w.get(id); len(s.filter(func(t *model.Task) bool { return t.NodeID == "n3" })) != 1 {
		t.Fatalf("a task was created on the paused node:\n%s", s)
	}

	w.updateNode("n3", func(n *model.NodeSpec) { n.Availability = model.AvailabilityActive })
	w.updateNode("n2", func(n *model.NodeSpec) { n.Availability = model.AvailabilityActive })
	want("activated nodes run tasks again", "n1", "n2", "n3", "n4")

	// Labels: n1 no longer satisfies the constraint, then does again.
	w.updateNode("n1", func(n *model.NodeSpec) { n.Labels = map[string]string{"tier": "edge"} })
	want("task stopped on the node that no longer matches", "n2", "n3", "n4")
	w.updateNode("n1", func(n *model.NodeSpec) { n.Labels = nil })
	want("task back on the node that matches again", "n1", "n2", "n3", "n4")

	// A node that goes down keeps its task: it has nowhere else to go and
	// carries on when the node is back.
	before := w.get(id).onNode("n4")[0]
	w.setNodeState("n4", model.NodeStateDown)
	w.settle()
	if got := w.get(id).task(before.ID); got.DesiredState != model.TaskStateRunning {
		t.Fatalf("task on the down node has desired state %s", got.DesiredState)
	}
	w.setNodeState("n4", model.NodeStateReady)
	w.settle()
	if s := w.get(id); len(s.onNode("n4")) != 1 || s.onNode("n4")[0].ID != before.ID {
		t.Fatalf("task on the node that came back was replaced:\n%s", s)
	}

	// A deleted node's tasks are deleted.
	w.deleteNode("n4")
	s = want("deleted node's task gone", "n1", "n2", "n3")
	if tasks := s.filter(func(t *model.Task) bool { return t.NodeID == "n4" }); len(tasks) != 0 {
		t.Fatalf("tasks of the deleted node remain:\n%s", s)
	}
}
