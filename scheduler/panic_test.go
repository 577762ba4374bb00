package scheduler

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

// TestPlacementPanicLeavesOtherServicesPlaced checks that a panic while
// placing one service's tasks (issue 21: a poison entry must not be fatal)
// leaves that service's tasks pending with the reason and the scheduler
// running: the other service's tasks are placed, in the same pass and
// after.
func TestPlacementPanicLeavesOtherServicesPlaced(t *testing.T) {
	// Set before the scheduler starts and restored after it stopped
	// (cleanups run last registered first).
	placeTasks = func(tasks []*model.Task, nodes []*NodeInfo, opts Options) ([]Decision, error) {
		if len(tasks) > 0 && tasks[0].ServiceName == "poison" {
			var m map[string]int
			m["boom"]++ // a nil map write: a bug's panic
		}
		return PlaceTasks(tasks, nodes, opts)
	}
	t.Cleanup(func() { placeTasks = PlaceTasks })
	l := newLocal(t, false)
	poison := l.createService(replicatedSpec("poison", 2))
	l.addNode(mkNode("n1"))
	web := l.createService(replicatedSpec("web", 2))
	bad := l.createTasks(poison, 1, 2)
	good := l.createTasks(web, 1, 2)
	l.waitTasks("web placed", good, assigned)
	l.waitTasks("poison explained", bad, func(task *model.Task) bool {
		return task.NodeID == "" && strings.Contains(task.Status.Message, "internal error while placing the tasks")
	})
	more := l.createTasks(web, 3, 1)
	l.waitTasks("web placed after", more, assigned)
}
