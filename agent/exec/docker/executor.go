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
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/state"
)

// Executor runs one node's tasks as containers of a Docker engine. It is
// safe for concurrent use.
type Executor struct {
	cli      *client.Client
	nodeID   string
	hostname string
	log      *slog.Logger
}

var (
	_ exec.Executor  = (*Executor)(nil)
	_ exec.LogSource = (*Executor)(nil)
)

// Option configures an Executor.
type Option func(*Executor)

// WithLogger sets the executor's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(e *Executor) { e.log = l }
}

// WithHostname makes Describe report this hostname instead of the engine's,
// for several agents sharing one engine in tests and demos.
func WithHostname(name string) Option {
	return func(e *Executor) { e.hostname = name }
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
	e := &Executor{cli: cli, nodeID: nodeID}
	for _, o := range opts {
		o(e)
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("component", "dockerexec", "node", nodeID)
	return e, nil
}

// NodeID returns the node the executor acts for.
func (e *Executor) NodeID() string { return e.nodeID }

// Describe reports the engine's host. Architecture is the engine's name for
// it ("x86_64", "aarch64"), as `docker node inspect` shows it.
func (e *Executor) Describe(ctx context.Context) (*state.NodeDescription, error) {
	info, err := e.cli.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dockerexec: engine info: %w", engineErr(err))
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
	return &state.NodeDescription{
		Hostname: hostname,
		Platform: state.Platform{Architecture: info.Architecture, OS: info.OSType},
		Resources: state.Resources{
			NanoCPUs:    int64(info.NCPU) * 1e9,
			MemoryBytes: info.MemTotal,
		},
		Engine: state.Engine{EngineVersion: info.ServerVersion, Labels: labels},
	}, nil
}

// Controller returns the controller of a task assigned to this node. It
// checks and translates the task's spec now, so a task that cannot run
// anywhere is refused (exec.ErrInvalidTask) before any engine call.
func (e *Executor) Controller(task *state.Task) (exec.Controller, error) {
	if task == nil {
		return nil, fmt.Errorf("%w: nil task", exec.ErrInvalidTask)
	}
	if task.NodeID != "" && task.NodeID != e.nodeID {
		return nil, fmt.Errorf("%w: task %s is assigned to node %s, this is node %s",
			exec.ErrInvalidTask, task.ID, task.NodeID, e.nodeID)
	}
	t := *task
	t.NodeID = e.nodeID // names of global tasks use it
	t.Status = state.TaskStatus{}
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
	list, err := e.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelNodeID+"="+e.nodeID)),
	})
	if err != nil {
		return nil, fmt.Errorf("dockerexec: list containers: %w", engineErr(err))
	}
	out := make([]exec.Container, 0, len(list))
	for _, s := range list {
		ctr, err := e.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("dockerexec: inspect %s: %w", s.ID, engineErr(err))
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
	ctr, err := e.cli.ContainerInspect(ctx, containerID)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dockerexec: inspect %s: %w", containerID, engineErr(err))
	}
	if !e.owns(ctr) {
		return fmt.Errorf("%w: %s", ErrNotOwned, containerID)
	}
	if err := e.stop(ctx, ctr, nil); err != nil {
		return err
	}
	return e.remove(ctx, ctr.ID)
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
	err := e.cli.ContainerStop(ctx, ctr.ID, container.StopOptions{Timeout: grace})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("dockerexec: stop %s: %w", ctr.ID, engineErr(err))
	}
	return nil
}

// remove removes a container, forcefully (it is stopped first by callers
// that care about grace), keeping its volumes.
func (e *Executor) remove(ctx context.Context, id string) error {
	err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: false})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil // another caller is removing it
	}
	return fmt.Errorf("dockerexec: remove %s: %w", id, engineErr(err))
}

// ensureImage makes the image present on the engine, pulling it if needed.
func (e *Executor) ensureImage(ctx context.Context, ref string, log *slog.Logger) error {
	_, err := e.cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("dockerexec: inspect image %s: %w", ref, engineErr(err))
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
func observedState(ctr container.InspectResponse) state.TaskState {
	st := ctr.State
	if st == nil {
		return state.TaskStateFailed
	}
	switch st.Status {
	case container.StateCreated:
		return state.TaskStateReady
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		if st.Health != nil {
			switch st.Health.Status {
			case container.Starting:
				return state.TaskStateStarting
			case container.Unhealthy:
				return state.TaskStateFailed
			}
		}
		return state.TaskStateRunning
	case container.StateExited:
		if st.ExitCode == 0 {
			return state.TaskStateComplete
		}
		return state.TaskStateFailed
	}
	return state.TaskStateFailed // dead, removing
}
