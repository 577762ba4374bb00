package dockerexec

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// DefaultDrainDelay is how long a task on an overlay network keeps
// running, out of the load balancers, before Shutdown stops it: 2 s, as
// Docker's gossip convergence delay (defaultGossipConvergeDelay in its
// container executor). The manager sends every node of the task's
// networks the view without the task in one flush, when it asks the task
// to stop; each node's load balancer then rewrites its rules (about 15
// iptables calls, well under a second even on a loaded 2-core machine) and
// its DNS server its table. Stopped sooner, the task would refuse the
// connections that balancers still send it; the rolling-update test
// (e2e TestRollingUpdateBehindVIPLosesNoRetriedRequest) lost requests
// that way, even after a retry.
const DefaultDrainDelay = 2 * time.Second

// drainViewWait bounds the wait for the node's own view to drop a task
// that is shutting down: the manager sends it with the order to stop, so
// it is late only when the session is lost, and the task must stop
// anyway.
const drainViewWait = 5 * time.Second

// WithDrainDelay sets how long a task on an overlay network keeps running
// out of the load balancers before it is stopped (DefaultDrainDelay); 0
// stops it at once.
func WithDrainDelay(d time.Duration) Option {
	return func(e *Executor) { e.drainDelay = d }
}

// setView keeps the node's latest network view for drain and wakes its
// waiters.
func (e *Executor) setView(v *protocol.NetworkView) {
	e.viewMu.Lock()
	defer e.viewMu.Unlock()
	e.view = v
	if e.viewChanged != nil {
		close(e.viewChanged)
	}
	e.viewChanged = make(chan struct{})
}

// balanced tells whether the node's latest view lists the task as a
// running endpoint (a backend of the load balancers, a name in DNS), and
// returns a channel closed at the next view.
func (e *Executor) balanced(taskID string) (bool, <-chan struct{}) {
	e.viewMu.Lock()
	defer e.viewMu.Unlock()
	if e.viewChanged == nil {
		e.viewChanged = make(chan struct{})
	}
	if e.view != nil {
		for _, n := range e.view.Networks {
			for _, ep := range n.Endpoints {
				if ep.TaskID == taskID && ep.Running {
					return true, e.viewChanged
				}
			}
		}
	}
	return false, e.viewChanged
}

// drain takes a running task on overlay networks out of service before
// it is stopped, as Docker's executor does: it waits until the node's view
// no longer has the task as a running endpoint (every node was sent that
// view at the same time), then the drain delay, for every node's load
// balancer and DNS server to apply it. Connections already made go on
// meanwhile. It returns early with ctx's error.
func (e *Executor) drain(ctx context.Context, t *model.Task) error {
	if e.drainDelay <= 0 || len(t.Networks) == 0 {
		return nil
	}
	start := time.Now()
	viewWait := time.NewTimer(drainViewWait)
	defer viewWait.Stop()
wait:
	for {
		listed, changed := e.balanced(t.ID)
		if !listed {
			break
		}
		select {
		case <-changed:
		case <-viewWait.C:
			e.log.Warn("the network view still lists a task that is shutting down; stopping it after the drain delay anyway",
				"task.id", t.ID, "waited", drainViewWait)
			break wait
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	delay := time.NewTimer(e.drainDelay)
	defer delay.Stop()
	select {
	case <-delay.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.log.Debug("task drained from the load balancers", "task.id", t.ID, "took", time.Since(start))
	return nil
}
