// Package lifecycle is the lifecycle the leader's components share (the
// orchestrator, the scheduler and the dispatcher): New, then Run(ctx) once
// per leadership with the context raft.Node.OnLeader gives, which ends
// with the leadership, and Stop when the manager shuts down. A Guard
// holds that state for a component: one Run at a time, and none after
// Stop; Guard.Run also runs the component's loop and starts it again after
// a resync or, with a backoff, after a failure.
package lifecycle

import (
	"context"
	"errors"
	"sync"
)

// Errors of Start; components wrap them with their name.
var (
	// ErrStopped refuses a Run after Stop.
	ErrStopped = errors.New("stopped")
	// ErrRunning refuses a Run while another is in progress.
	ErrRunning = errors.New("already running")
)

// Guard tracks a component's Runs. The zero value is ready to use.
type Guard struct {
	mu      sync.Mutex
	running bool
	stopped bool
	cancel  context.CancelFunc // ends the current Run
	done    chan struct{}      // closed when the current Run ends
}

// Start begins a Run. It returns the Run's context, which ends with ctx
// or at Stop, and end, which the Run must call when it returns (defer
// it). It fails with ErrStopped after Stop and with ErrRunning while
// another Run is in progress.
func (g *Guard) Start(ctx context.Context) (context.Context, func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.stopped:
		return nil, nil, ErrStopped
	case g.running:
		return nil, nil, ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	g.running, g.cancel, g.done = true, cancel, done
	end := func() {
		cancel()
		g.mu.Lock()
		g.running, g.cancel = false, nil
		close(done)
		g.mu.Unlock()
	}
	return ctx, end, nil
}

// Running tells whether a Run is in progress.
func (g *Guard) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Stop ends the current Run, if any, waits for it to return, and makes
// later Starts fail with ErrStopped. It may be called more than once, and
// concurrently.
func (g *Guard) Stop() {
	g.mu.Lock()
	g.stopped = true
	cancel, done, running := g.cancel, g.done, g.running
	g.mu.Unlock()
	if running {
		cancel()
		<-done
	}
}
