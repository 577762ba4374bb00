package dockerexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/agent/netplane"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// Executor runs one node's tasks as containers of a Docker engine. It is
// safe for concurrent use.
type Executor struct {
	cli      *client.Client
	nodeID   string
	hostname string
	log      *slog.Logger
	// callTimeout bounds each short engine call; see WithCallTimeout.
	callTimeout time.Duration
	// plane makes the overlay networks tasks attach to; nil: tasks with
	// networks are refused.
	plane *netplane.Plane
	// runDir holds the tmpfs of each task's secrets and configs; empty:
	// tasks with secrets or configs are refused.
	runDir string

	// dns: containers on overlay networks resolve through the node's
	// DNS server on their first network's gateway (see WithClusterDNS).
	dns bool
	// watchers get each network view after the plane (WithViewWatcher).
	watchers []func(*protocol.NetworkView)
	// drainDelay: see WithDrainDelay. view is the node's latest network
	// view; viewChanged is closed when the next one comes (drain.go).
	drainDelay  time.Duration
	viewMu      sync.Mutex
	view        *protocol.NetworkView
	viewChanged chan struct{}

	// secrets and configs are the manager's last set, in memory only.
	resMu   sync.Mutex
	secrets map[string]*model.Secret
	configs map[string]*model.Config
}

// DefaultCallTimeout bounds each short engine call (inspect, list, create,
// start, kill, remove, info; a stop gets the container's grace on top). 30 s:
// a healthy engine answers these in milliseconds, and even a loaded one
// (the 100-container benchmark, a full disk) within a few seconds, while an
// engine that has stopped answering (frozen, deadlocked in libnetwork) must
// not hold the agent's task workers and cleanup for good. Waiting for a
// container to exit, following its logs and pulling an image are not
// bounded: they last as long as they need and end with their context.
const DefaultCallTimeout = 30 * time.Second

var (
	_ exec.Executor     = (*Executor)(nil)
	_ exec.LogSource    = (*Executor)(nil)
	_ exec.ResourceUser = (*Executor)(nil)
)

// Option configures an Executor.
type Option func(*Executor)

// WithLogger sets the executor's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(e *Executor) { e.log = l }
}

// WithCallTimeout sets the bound of each short engine call (default
// DefaultCallTimeout). A call that takes longer fails with a temporary
// ErrEngineTimeout.
func WithCallTimeout(d time.Duration) Option {
	return func(e *Executor) { e.callTimeout = d }
}

// WithHostname makes Describe report this hostname instead of the engine's,
// for several agents sharing one engine in tests and demos.
func WithHostname(name string) Option {
	return func(e *Executor) { e.hostname = name }
}

// WithNetworkPlane attaches tasks to overlay networks through p, which
// the caller runs (p.Run). Without it, a task on a network is refused.
func WithNetworkPlane(p *netplane.Plane) Option {
	return func(e *Executor) { e.plane = p }
}

// WithClusterDNS gives containers on overlay networks the node's DNS
// server (package netdns) on their first network's gateway as their
// resolver (HostConfig.DNS); Docker's embedded resolver forwards to it
// the names it does not know.
func WithClusterDNS() Option {
	return func(e *Executor) { e.dns = true }
}

// WithViewWatcher has f called with every network view the executor gets,
// after the overlay plane: the node's DNS server and load balancer follow
// the view this way.
func WithViewWatcher(f func(*protocol.NetworkView)) Option {
	return func(e *Executor) { e.watchers = append(e.watchers, f) }
}

// WithRunDir sets the directory under which each task's secrets and
// configs get a tmpfs of their own (DIR/tasks/TASKID). It must be on a
// filesystem the engine sees (the host's mount namespace). Without it, a
// task with secrets or configs is refused.
func WithRunDir(dir string) Option {
	return func(e *Executor) { e.runDir = dir }
}

// New returns the executor of node nodeID on the engine cli talks to. The
// caller keeps ownership of cli and closes it after the executor's last
// use; cli should negotiate the API version
// (client.WithAPIVersionNegotiation).
func New(cli *client.Client, nodeID string, opts ...Option) (*Executor, error) {
	if cli == nil {
		return nil, errors.New("dockerexec: nil client")
	}
	if nodeID == "" {
		return nil, errors.New("dockerexec: empty node ID")
	}
	e := &Executor{cli: cli, nodeID: nodeID, drainDelay: DefaultDrainDelay}
	for _, o := range opts {
		o(e)
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.callTimeout <= 0 {
		e.callTimeout = DefaultCallTimeout
	}
	e.log = e.log.With("component", "dockerexec", "node", nodeID)
	return e, nil
}

// bound returns the context of one short engine call: ctx, with the call
// timeout (plus extra) as its deadline.
func (e *Executor) bound(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.callTimeout+extra)
}

// callErr classifies the error of a call made with bound(ctx): one that
// ran out of its own time while ctx is still live means the engine did not
// answer (ErrEngineTimeout); others go through engineErr.
func (e *Executor) callErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return exec.MakeTemporary(fmt.Errorf("%w (%v): %v", ErrEngineTimeout, e.callTimeout, err))
	}
	return engineErr(err)
}

// NodeID returns the node the executor acts for.
func (e *Executor) NodeID() string { return e.nodeID }

// Describe reports the engine's host. Architecture is the engine's name for
// it ("x86_64", "aarch64"), as `docker node inspect` shows it.
func (e *Executor) Describe(ctx context.Context) (*model.NodeDescription, error) {
	cctx, cancel := e.bound(ctx, 0)
	info, err := e.cli.Info(cctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dockerexec: engine info: %w", e.callErr(ctx, err))
	}
	hostname := e.hostname
	if hostname == "" {
		hostname = info.Name
	}
	var labels map[string]string
	for _, l := range info.Labels {
		if labels == nil {
			labels = make(map[string]string, len(info.Labels))
		}
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	return &model.NodeDescription{
		Hostname: hostname,
		Platform: model.Platform{Architecture: info.Architecture, OS: info.OSType},
		Resources: model.Resources{
			NanoCPUs:    int64(info.NCPU) * 1e9,
			MemoryBytes: info.MemTotal,
		},
		Engine: model.Engine{EngineVersion: info.ServerVersion, Labels: labels},
	}, nil
}

// Controller returns the controller of a task assigned to this node. It
// checks and translates the task's spec now, so a task that cannot run
// anywhere is refused (exec.ErrInvalidTask) before any engine call.
func (e *Executor) Controller(task *model.Task) (exec.Controller, error) {
	if task == nil {
		return nil, fmt.Errorf("%w: nil task", exec.ErrInvalidTask)
	}
	if task.NodeID != "" && task.NodeID != e.nodeID {
		return nil, fmt.Errorf("%w: task %s is assigned to node %s, this is node %s",
			exec.ErrInvalidTask, task.ID, task.NodeID, e.nodeID)
	}
	t := *task
	t.NodeID = e.nodeID // names of global tasks use it
	t.Status = model.TaskStatus{}
	cfg, host, err := containerConfig(&t, e.nodeID)
	if err != nil {
		return nil, err
	}
	return &controller{
		e:    e,
		task: t,
		name: ContainerName(&t),
		cfg:  cfg,
		host: host,
		log:  e.log.With("task.id", t.ID, "task.name", t.Name()),
	}, nil
}

// Containers lists the containers this executor created for its node.
func (e *Executor) Containers(ctx context.Context) ([]exec.Container, error) {
	cctx, cancel := e.bound(ctx, 0)
	list, err := e.cli.ContainerList(cctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelNodeID+"="+e.nodeID)),
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dockerexec: list containers: %w", e.callErr(ctx, err))
	}
	out := make([]exec.Container, 0, len(list))
	for _, s := range list {
		ctr, err := e.inspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("dockerexec: inspect %s: %w", s.ID, err)
		}
		if !e.owns(ctr) {
			continue
		}
		labels := ctr.Config.Labels
		slot, _ := strconv.ParseUint(labels[LabelTaskSlot], 10, 64) // a bad label reads as a global task
		created, _ := time.Parse(time.RFC3339Nano, ctr.Created)     // zero if the engine changes format
		c := exec.Container{
			ID:          ctr.ID,
			Name:        strings.TrimPrefix(ctr.Name, "/"),
			TaskID:      labels[LabelTaskID],
			ServiceID:   labels[LabelServiceID],
			ServiceName: labels[LabelServiceName],
			Slot:        slot,
			State:       observedState(ctr),
			CreatedAt:   created,
		}
		if ctr.State != nil {
			c.ExitCode = ctr.State.ExitCode
		}
		out = append(out, c)
	}
	return out, nil
}

// RemoveContainer stops one of this node's containers, with the grace
// period it was created with, and removes it (its volumes are kept).
func (e *Executor) RemoveContainer(ctx context.Context, containerID string) error {
	ctr, err := e.inspect(ctx, containerID)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dockerexec: inspect %s: %w", containerID, err)
	}
	if !e.owns(ctr) {
		return fmt.Errorf("%w: %s", ErrNotOwned, containerID)
	}
	if err := e.stop(ctx, ctr, nil); err != nil {
		return err
	}
	if err := e.remove(ctx, ctr.ID); err != nil {
		return err
	}
	return e.releaseFiles(ctr.Config.Labels[LabelTaskID])
}

// inspect inspects a container within the call timeout. A not-found error
// is returned as the engine gave it (cerrdefs.IsNotFound); others are
// classified (callErr).
func (e *Executor) inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	cctx, cancel := e.bound(ctx, 0)
	defer cancel()
	ctr, err := e.cli.ContainerInspect(cctx, id)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return ctr, e.callErr(ctx, err)
	}
	return ctr, err
}

// owns tells whether a container was created by this node's executor.
func (e *Executor) owns(ctr container.InspectResponse) bool {
	return ctr.Config != nil && ctr.Config.Labels[LabelNodeID] == e.nodeID && ctr.Config.Labels[LabelTaskID] != ""
}

// stop stops a running container. A nil grace uses the container's own
// stop timeout.
func (e *Executor) stop(ctx context.Context, ctr container.InspectResponse, grace *int) error {
	if ctr.State == nil || (!ctr.State.Running && !ctr.State.Restarting && !ctr.State.Paused) {
		return nil
	}
	e.log.Debug("stopping container", "container.id", ctr.ID, "grace_s", grace)
	// The engine waits for the grace period before it kills.
	wait := 10 * time.Second // the engine's default grace
	if grace != nil {
		wait = time.Duration(max(*grace, 0)) * time.Second
	} else if ctr.Config != nil && ctr.Config.StopTimeout != nil {
		wait = time.Duration(max(*ctr.Config.StopTimeout, 0)) * time.Second
	}
	cctx, cancel := e.bound(ctx, wait)
	err := e.cli.ContainerStop(cctx, ctr.ID, container.StopOptions{Timeout: grace})
	cancel()
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("dockerexec: stop %s: %w", ctr.ID, e.callErr(ctx, err))
	}
	return nil
}

// remove removes a container, forcefully (it is stopped first by callers
// that care about grace), keeping its volumes.
func (e *Executor) remove(ctx context.Context, id string) error {
	cctx, cancel := e.bound(ctx, 0)
	err := e.cli.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: false})
	cancel()
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil // another caller is removing it
	}
	return fmt.Errorf("dockerexec: remove %s: %w", id, e.callErr(ctx, err))
}

// ensureImage makes the image present on the engine, pulling it if needed.
func (e *Executor) ensureImage(ctx context.Context, ref string, log *slog.Logger) error {
	cctx, cancel := e.bound(ctx, 0)
	_, err := e.cli.ImageInspect(cctx, ref)
	cancel()
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("dockerexec: inspect image %s: %w", ref, e.callErr(ctx, err))
	}
	log.Info("pulling image", "image", ref)
	rc, err := e.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		if ctx.Err() != nil || client.IsErrConnectionFailed(err) {
			return engineErr(err)
		}
		return fmt.Errorf("%w: %s is not on the engine and pulling it failed: %v", ErrImageUnavailable, ref, err)
	}
	defer rc.Close()
	if err := readProgress(rc); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s is not on the engine and pulling it failed: %v", ErrImageUnavailable, ref, err)
	}
	if _, err := e.cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: %s: still missing after a pull", ErrImageUnavailable, ref)
		}
		return fmt.Errorf("dockerexec: inspect image %s: %w", ref, engineErr(err))
	}
	log.Info("pulled image", "image", ref)
	return nil
}

// readProgress drains a pull's JSON progress stream and returns the error
// it ends with: the engine reports pull failures in the stream.
func readProgress(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// observedState is what a container alone says about its task.
func observedState(ctr container.InspectResponse) model.TaskState {
	st := ctr.State
	if st == nil {
		return model.TaskStateFailed
	}
	switch st.Status {
	case container.StateCreated:
		return model.TaskStateReady
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		if st.Health != nil {
			switch st.Health.Status {
			case container.Starting:
				return model.TaskStateStarting
			case container.Unhealthy:
				return model.TaskStateFailed
			}
		}
		return model.TaskStateRunning
	case container.StateExited:
		if st.ExitCode == 0 {
			return model.TaskStateComplete
		}
		return model.TaskStateFailed
	}
	return model.TaskStateFailed // dead, removing
}
