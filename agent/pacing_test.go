package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/agent"
	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

// countingExecutor is a fakeExecutor whose Prepare and Start take a while
// and count how many run at once.
type countingExecutor struct {
	*fakeExecutor
	mu       sync.Mutex
	inFlight int
	most     int
	calls    int
}

func (c *countingExecutor) Controller(t *model.Task) (exec.Controller, error) {
	ctlr, err := c.fakeExecutor.Controller(t)
	if err != nil {
		return nil, err
	}
	return &countingController{fakeController: ctlr.(*fakeController), c: c}, nil
}

func (c *countingExecutor) enter() {
	c.mu.Lock()
	c.inFlight++
	c.calls++
	c.most = max(c.most, c.inFlight)
	c.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	c.mu.Lock()
	c.inFlight--
	c.mu.Unlock()
}

type countingController struct {
	*fakeController
	c *countingExecutor
}

func (cc *countingController) Prepare(ctx context.Context) error {
	cc.c.enter()
	return cc.fakeController.Prepare(ctx)
}

func (cc *countingController) Start(ctx context.Context) error {
	cc.c.enter()
	return cc.fakeController.Start(ctx)
}

// TestEngineCallsArePaced checks Config.MaxConcurrentStarts (issue 21,
// finding 2: an agent given thousands of tasks fired thousands of
// concurrent creates at the Docker daemon): 12 tasks assigned at once to
// one node all run, with never more than 3 Prepare or Start calls in
// flight.
func TestEngineCallsArePaced(t *testing.T) {
	const limit, tasks = 3, 12
	w := newWorld(t, 1)
	nodeID := newNodeID("paced")
	w.addNode(nodeID)
	w.image = "good"
	ex := &countingExecutor{fakeExecutor: newFakeExecutor(nodeID)}
	w.startAgent(nodeID, t.TempDir(), []string{w.manager(w.leader().ID).addr}, ex, func(c *agent.Config) {
		c.MaxConcurrentStarts = limit
	})
	nodes := make([]string, tasks)
	for i := range nodes {
		nodes[i] = nodeID
	}
	_, ids := w.addService("paced", nil, nodes...)
	for _, id := range ids {
		w.waitTask(id, model.TaskStateRunning)
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.calls != 2*tasks {
		t.Errorf("%d engine calls, want %d (a Prepare and a Start per task)", ex.calls, 2*tasks)
	}
	if ex.most > limit {
		t.Errorf("up to %d engine calls in flight, want at most %d", ex.most, limit)
	}
	t.Logf("at most %d of %d calls in flight", ex.most, ex.calls)
}
