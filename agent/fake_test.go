package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/agent"
	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// fakeExecutor runs tasks in memory: Prepare and Start succeed, Wait
// blocks until Shutdown. Describe fails while down is set; tasks whose
// image is "bad" are refused.
type fakeExecutor struct {
	nodeID string
	down   atomic.Bool

	mu      sync.Mutex
	running map[string]chan struct{} // task ID -> closed on shutdown
}

var _ exec.Executor = (*fakeExecutor)(nil)

func newFakeExecutor(nodeID string) *fakeExecutor {
	return &fakeExecutor{nodeID: nodeID, running: map[string]chan struct{}{}}
}

func (f *fakeExecutor) Describe(context.Context) (*model.NodeDescription, error) {
	if f.down.Load() {
		return nil, errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
	}
	return &model.NodeDescription{Hostname: "fake", Platform: model.Platform{OS: "linux", Architecture: "x86_64"}}, nil
}

func (f *fakeExecutor) Controller(t *model.Task) (exec.Controller, error) {
	if t.Spec.Container.Image == "bad" {
		return nil, fmt.Errorf("%w: image %q is refused", exec.ErrInvalidTask, t.Spec.Container.Image)
	}
	return &fakeController{f: f, id: t.ID}, nil
}

func (f *fakeExecutor) Containers(context.Context) ([]exec.Container, error) { return nil, nil }
func (f *fakeExecutor) RemoveContainer(context.Context, string) error        { return nil }

func (f *fakeExecutor) stopCh(id string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.running[id]
	if ch == nil {
		ch = make(chan struct{})
		f.running[id] = ch
	}
	return ch
}

type fakeController struct {
	f  *fakeExecutor
	id string
}

func (c *fakeController) Prepare(context.Context) error { return nil }
func (c *fakeController) Start(context.Context) error   { c.f.stopCh(c.id); return nil }
func (c *fakeController) Wait(ctx context.Context) error {
	select {
	case <-c.f.stopCh(c.id):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (c *fakeController) Shutdown(context.Context) error {
	ch := c.f.stopCh(c.id)
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
	return nil
}
func (c *fakeController) Terminate(ctx context.Context) error { return c.Shutdown(ctx) }
func (c *fakeController) Remove(ctx context.Context) error    { return c.Shutdown(ctx) }
func (c *fakeController) Close() error                        { return nil }

// TestEngineOutageMarksNodeDown checks that an agent whose engine stops
// answering has its node marked DOWN with the reason, and READY again
// once the engine is back, without losing its session.
func TestEngineOutageMarksNodeDown(t *testing.T) {
	w := newWorld(t, 1)
	nodeID := newNodeID("engine")
	w.addNode(nodeID)
	ex := newFakeExecutor(nodeID)
	w.startAgent(nodeID, t.TempDir(), []string{w.manager(w.leader().ID).addr}, ex, func(c *agent.Config) {
		c.EngineCheckInterval = 50 * time.Millisecond
	})
	w.waitNode(nodeID, model.NodeStateReady)
	ex.down.Store(true)
	down := w.waitNode(nodeID, model.NodeStateDown)
	if !strings.Contains(down.Status.Message, "container engine unavailable") || !strings.Contains(down.Status.Message, "Docker daemon") {
		t.Fatalf("message %q", down.Status.Message)
	}
	ex.down.Store(false)
	w.waitNode(nodeID, model.NodeStateReady)
	if n := w.manager(w.leader().ID).d.Sessions(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
}

// TestTaskLifecycleWithoutDocker drives tasks through an in-memory
// executor: a refused task is REJECTED with the reason, a good one runs,
// shuts down on demand and completes its history.
func TestTaskLifecycleWithoutDocker(t *testing.T) {
	w := newWorld(t, 1)
	nodeID := newNodeID("fake")
	w.addNode(nodeID)
	w.image = "good"
	ex := newFakeExecutor(nodeID)
	w.startAgent(nodeID, t.TempDir(), []string{w.manager(w.leader().ID).addr}, ex, nil)
	_, good := w.addService("good", nil, nodeID, nodeID)
	w.image = "bad"
	_, bad := w.addService("bad", nil, nodeID)

	rejected := w.waitTask(bad[0], model.TaskStateRejected)
	if !strings.Contains(rejected.Status.Err, `image "bad" is refused`) {
		t.Fatalf("rejected status %+v", rejected.Status)
	}
	for _, id := range good {
		w.waitTask(id, model.TaskStateRunning)
	}
	w.propose(state.Op{Type: state.OpSetTasksDesired, IDs: good[:1], DesiredState: model.TaskStateShutdown})
	w.waitTask(good[0], model.TaskStateShutdown)
	if st := w.task(good[1]).Status.State; st != model.TaskStateRunning {
		t.Fatalf("other task %v", st)
	}
	// The task exits by itself: COMPLETE.
	close(ex.stopCh(good[1]))
	w.waitTask(good[1], model.TaskStateComplete)
}
