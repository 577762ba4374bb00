package command

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
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
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	NetworkClient
	SecretClient
	ConfigClient
	Close() error
}

// NetworkClient is the part of Docker's network API a cluster has: swarm
// networks only, so no connect, disconnect or prune.
type NetworkClient interface {
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, networkID string) error
}

// SecretClient is Docker's secret API but for updates.
type SecretClient interface {
	SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error)
	SecretInspectWithRaw(ctx context.Context, ref string) (swarm.Secret, []byte, error)
	SecretList(ctx context.Context, options swarm.SecretListOptions) ([]swarm.Secret, error)
	SecretRemove(ctx context.Context, id string) error
}

// ConfigClient is Docker's config API but for updates.
type ConfigClient interface {
	ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigInspectWithRaw(ctx context.Context, ref string) (swarm.Config, []byte, error)
	ConfigList(ctx context.Context, options swarm.ConfigListOptions) ([]swarm.Config, error)
	ConfigRemove(ctx context.Context, id string) error
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
