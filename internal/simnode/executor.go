package simnode

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

// Counters are shared by the executors of a fleet: what the simulated
// engines did, for the benchmark to watch without asking a manager.
type Counters struct {
	// Prepared counts Prepare calls (a task reached the node), Started
	// tasks that reached RUNNING on their node, Stopped tasks shut down
	// or removed after they started.
	Prepared, Started, Stopped atomic.Int64
	// firstPrepare and lastStart are Unix nanoseconds.
	firstPrepare atomic.Int64
	lastStart    atomic.Int64
}

// Live is the number of simulated containers running now.
func (c *Counters) Live() int64 { return c.Started.Load() - c.Stopped.Load() }

// FirstPrepare is when the first task reached a node, zero if none did.
func (c *Counters) FirstPrepare() time.Time { return unixNano(c.firstPrepare.Load()) }

// LastStart is when the last task started on its node.
func (c *Counters) LastStart() time.Time { return unixNano(c.lastStart.Load()) }

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Reset zeroes the timestamps (not the counts) before a new measurement.
func (c *Counters) Reset() {
	c.firstPrepare.Store(0)
	c.lastStart.Store(0)
}

// executor is a simulated container engine for one node: tasks "run" as
// soon as Start has waited StartDelay, and run until shut down. It holds
// no containers across agent restarts (Containers lists none).
type executor struct {
	desc       model.NodeDescription
	startDelay time.Duration
	counters   *Counters

	mu    sync.Mutex
	tasks map[string]*simTask
}

var _ exec.Executor = (*executor)(nil)

type simTask struct {
	stop    chan struct{}
	started bool
	stopped bool
}

func newExecutor(desc model.NodeDescription, startDelay time.Duration, counters *Counters) *executor {
	return &executor{desc: desc, startDelay: startDelay, counters: counters, tasks: map[string]*simTask{}}
}

func (e *executor) Describe(context.Context) (*model.NodeDescription, error) {
	d := e.desc
	return &d, nil
}

func (e *executor) Controller(t *model.Task) (exec.Controller, error) {
	return &controller{e: e, id: t.ID}, nil
}

func (e *executor) Containers(context.Context) ([]exec.Container, error) { return nil, nil }

func (e *executor) RemoveContainer(context.Context, string) error { return nil }

func (e *executor) task(id string) *simTask {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[id]
	if t == nil {
		t = &simTask{stop: make(chan struct{})}
		e.tasks[id] = t
	}
	return t
}

// controller drives one simulated task; its state lives in the executor,
// as a real controller's lives in the engine.
type controller struct {
	e  *executor
	id string
}

func (c *controller) Prepare(context.Context) error {
	c.e.task(c.id)
	if c.e.counters.Prepared.Add(1) == 1 || c.e.counters.firstPrepare.Load() == 0 {
		c.e.counters.firstPrepare.CompareAndSwap(0, time.Now().UnixNano())
	}
	return nil
}

func (c *controller) Start(ctx context.Context) error {
	t := c.e.task(c.id)
	if c.e.startDelay > 0 {
		timer := time.NewTimer(c.e.startDelay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	c.e.mu.Lock()
	already := t.started || t.stopped
	t.started = true
	c.e.mu.Unlock()
	if already {
		return exec.ErrTaskStarted
	}
	c.e.counters.Started.Add(1)
	c.e.counters.lastStart.Store(time.Now().UnixNano())
	return nil
}

func (c *controller) Wait(ctx context.Context) error {
	select {
	case <-c.e.task(c.id).stop:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *controller) Shutdown(context.Context) error {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	t := c.e.tasks[c.id]
	if t == nil || t.stopped {
		return nil
	}
	t.stopped = true
	close(t.stop)
	if t.started {
		c.e.counters.Stopped.Add(1)
	}
	return nil
}

func (c *controller) Terminate(ctx context.Context) error { return c.Shutdown(ctx) }

func (c *controller) Remove(ctx context.Context) error {
	if err := c.Shutdown(ctx); err != nil {
		return err
	}
	c.e.mu.Lock()
	delete(c.e.tasks, c.id)
	c.e.mu.Unlock()
	return nil
}

func (c *controller) Close() error { return nil }
