package command

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

// Client is the part of the Docker Engine API client that swarmctl uses: the
// swarm subset a shoal manager serves. *client.Client implements it; tests
// use a fake.
type Client interface {
	client.ServiceAPIClient
	client.NodeAPIClient
	SwarmInspect(ctx context.Context) (swarm.Swarm, error)
	SwarmUpdate(ctx context.Context, version swarm.Version, spec swarm.Spec, flags swarm.UpdateFlags) error
	SwarmGetUnlockKey(ctx context.Context) (swarm.UnlockKeyResponse, error)
	Info(ctx context.Context) (system.Info, error)
	Close() error
}

var _ Client = (*client.Client)(nil)

// Env is what a command runs in. Its fields are set before the command runs
// and not changed after; Client may be called from one goroutine at a time.
type Env struct {
	// Out receives the command's output, Err its warnings.
	Out, Err io.Writer
	// Terminal tells whether Out is a terminal: progress then redraws its
	// lines in place with bars, instead of printing one line per change.
	Terminal bool
	// Now tells the time, for "5 minutes ago" and the progress monitor.
	Now func() time.Time
	// Sleep waits d or until ctx ends, whichever comes first, and returns
	// ctx's error in the second case. The progress loop polls with it.
	Sleep func(ctx context.Context, d time.Duration) error
	// ProgramName is how the user calls us, for hints such as "use
	// `swarmctl service ps web`".
	ProgramName string

	dial   func() (Client, error)
	once   sync.Once
	client Client
	err    error
}

// NewEnv returns an Env writing to out and errOut that reaches the manager
// through dial, called at most once, on the first call of Client.
func NewEnv(out, errOut io.Writer, dial func() (Client, error)) *Env {
	return &Env{
		Out:         out,
		Err:         errOut,
		Now:         time.Now,
		Sleep:       sleep,
		ProgramName: "swarmctl",
		dial:        dial,
	}
}

// SetDial replaces the function Client dials with; the root command sets
// it once the global flags are known.
func (e *Env) SetDial(dial func() (Client, error)) { e.dial = dial }

// Client returns the client for the manager, dialling it on first use.
func (e *Env) Client() (Client, error) {
	e.once.Do(func() { e.client, e.err = e.dial() })
	return e.client, e.err
}

// Close releases the client if one was dialled.
func (e *Env) Close() error {
	if e.client != nil {
		return e.client.Close()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
