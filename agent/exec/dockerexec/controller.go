package dockerexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

// controller runs one task as one container, found by its name. It holds
// no state besides the task's spec: the engine is the truth, so a fresh
// controller picks up where a previous agent left off.
type controller struct {
	e      *Executor
	task   model.Task
	name   string
	cfg    *container.Config
	host   *container.HostConfig
	log    *slog.Logger
	closed atomic.Bool
}

var (
	_ exec.Controller        = (*controller)(nil)
	_ exec.ContainerStatuser = (*controller)(nil)
	_ exec.PortStatuser      = (*controller)(nil)
)

// errGone is inspect's answer when the task has no container.
var errGone = errors.New("container not found")

// inspect finds the task's container and checks that it is ours.
func (c *controller) inspect(ctx context.Context) (container.InspectResponse, error) {
	if c.closed.Load() {
		return container.InspectResponse{}, exec.ErrControllerClosed
	}
	ctr, err := c.e.inspect(ctx, c.name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return ctr, errGone
		}
		return ctr, fmt.Errorf("dockerexec: inspect %s: %w", c.name, err)
	}
	if !c.e.owns(ctr) || ctr.Config.Labels[LabelTaskID] != c.task.ID {
		return ctr, fmt.Errorf("%w: %s", ErrNotOwned, c.name)
	}
	if ctr.State == nil {
		return ctr, fmt.Errorf("dockerexec: inspect %s: engine returned no state", c.name)
	}
	return ctr, nil
}

// Prepare pulls the image if needed and creates the container.
func (c *controller) Prepare(ctx context.Context) error {
	prepared := time.Now()
	ctr, err := c.inspect(ctx)
	switch {
	case err == nil:
		if err := c.connect(ctx, ctr); err != nil {
			return err
		}
		return startedOrPrepared(ctr)
	case !errors.Is(err, errGone):
		return err
	}
	if err := c.e.ensureImage(ctx, c.cfg.Image, c.log); err != nil {
		return err
	}

	cfg := c.cfg
	if hc := cfg.Healthcheck; hc != nil && hc.StartInterval != 0 &&
		versions.LessThan(c.e.cli.ClientVersion(), "1.44") {
		// The engine predates start intervals: drop it rather than
		// refuse the task; the interval applies during the start period.
		c.log.Debug("engine API too old for a healthcheck start interval: ignored",
			"api", c.e.cli.ClientVersion())
		copied := *cfg
		hcCopy := *hc
		hcCopy.StartInterval = 0
		copied.Healthcheck = &hcCopy
		cfg = &copied
	}
	host := c.host
	files, err := c.e.mountFiles(&c.task)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		h := *host
		h.Mounts = append(append([]mount.Mount(nil), host.Mounts...), files...)
		host = &h
	}
	nets, err := c.attach(ctx)
	if err != nil {
		return err
	}
	if len(nets) > 0 {
		// bench/overlay reads "took": from the task's Prepare (it is
		// assigned) to its networks ready on this host.
		c.log.Info("task networks ready", "networks", len(nets), "took", time.Since(prepared))
	}
	var netcfg *network.NetworkingConfig
	if len(nets) > 0 {
		// Docker 20.10 takes one network at create: the first; the
		// others are connected before start.
		h := *host
		h.NetworkMode = container.NetworkMode(nets[0].name)
		if c.e.dns {
			// The server of the first network with names (not the
			// ingress network); it answers for the task's other
			// networks too.
			for _, a := range c.task.Networks {
				if c.e.plane.Ingress(a.NetworkID) {
					continue
				}
				if gw, ok := c.e.plane.Gateway(a.NetworkID); ok {
					h.DNS = []string{gw}
					break
				}
			}
		}
		host = &h
		netcfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{nets[0].name: nets[0].endpoint()}}
	}
	cctx, cancel := c.e.bound(ctx, 0)
	resp, err := c.e.cli.ContainerCreate(cctx, cfg, host, netcfg, nil, c.name)
	cancel()
	if err != nil {
		if cerrdefs.IsConflict(err) {
			// Created concurrently (or by an agent that died just
			// after): use what is there, if it is ours.
			if ctr, ierr := c.inspect(ctx); ierr == nil {
				if err := c.connect(ctx, ctr); err != nil {
					return err
				}
				return startedOrPrepared(ctr)
			}
		}
		return fmt.Errorf("dockerexec: create container %s: %w", c.name, c.e.callErr(ctx, err))
	}
	for _, w := range resp.Warnings {
		c.log.Warn("engine warning on create", "container.id", resp.ID, "warning", w)
	}
	if len(nets) > 1 {
		ctr, err := c.inspect(ctx)
		if err != nil {
			return err
		}
		if err := c.connect(ctx, ctr); err != nil {
			return err
		}
	}
	c.log.Debug("container created", "container.id", resp.ID, "image", cfg.Image, "networks", len(nets), "files", len(files))
	return nil
}

// taskNetwork is one of the task's networks on this host.
type taskNetwork struct {
	name string // the Docker network
	addr string // the task's address on it, without its prefix length
}

func (n taskNetwork) endpoint() *network.EndpointSettings {
	// No aliases: Docker's embedded resolver would answer a service's
	// name with the local tasks' addresses only; the node's DNS server
	// (package netdns) answers it with the VIP, cluster-wide.
	return &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.addr}}
}

// attach makes the task's networks ready on this host, in the task's
// order.
func (c *controller) attach(ctx context.Context) ([]taskNetwork, error) {
	if len(c.task.Networks) == 0 {
		return nil, nil
	}
	if c.e.plane == nil {
		return nil, fmt.Errorf("%w: this node has no overlay network plane: network %s", exec.ErrInvalidTask, c.task.Networks[0].NetworkID)
	}
	out := make([]taskNetwork, 0, len(c.task.Networks))
	for _, a := range c.task.Networks {
		name, err := c.e.plane.Attach(ctx, a.NetworkID)
		if err != nil {
			return nil, err
		}
		pfx, _ := netip.ParsePrefix(a.Addresses[0]) // checked by containerConfig
		out = append(out, taskNetwork{name: name, addr: pfx.Addr().String()})
	}
	return out, nil
}

// connect connects a created container to the task's networks it is not
// on yet (all but the first, unless a previous Prepare did).
func (c *controller) connect(ctx context.Context, ctr container.InspectResponse) error {
	if len(c.task.Networks) < 2 || ctr.State.Status != container.StateCreated {
		return nil
	}
	nets, err := c.attach(ctx)
	if err != nil {
		return err
	}
	for _, n := range nets[1:] {
		if ctr.NetworkSettings != nil && ctr.NetworkSettings.Networks[n.name] != nil {
			continue
		}
		cctx, cancel := c.e.bound(ctx, 0)
		err := c.e.cli.NetworkConnect(cctx, n.name, ctr.ID, n.endpoint())
		cancel()
		if err != nil {
			return fmt.Errorf("dockerexec: connect %s to %s: %w", c.name, n.name, c.e.callErr(ctx, err))
		}
	}
	return nil
}

func startedOrPrepared(ctr container.InspectResponse) error {
	if ctr.State.Status == container.StateCreated {
		return exec.ErrTaskPrepared
	}
	return exec.ErrTaskStarted
}

// Start starts the container and, if it has a healthcheck, returns once it
// is healthy.
func (c *controller) Start(ctx context.Context) error {
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return fmt.Errorf("%w: %s", ErrNoContainer, c.name)
	}
	if err != nil {
		return err
	}
	health := hasHealthcheck(ctr)

	if ctr.State.Status != container.StateCreated {
		// Started before, by us or a previous agent: if it runs, it
		// still has to be healthy before the task counts as running.
		if ctr.State.Running && health {
			if err := c.waitHealthy(ctx, ctr.ID); err != nil {
				return err
			}
		}
		return exec.ErrTaskStarted
	}

	// The files' tmpfs is gone if the machine rebooted since Prepare, or
	// an agent released it; the networks may have been removed.
	if _, err := c.e.mountFiles(&c.task); err != nil {
		return err
	}
	if _, err := c.attach(ctx); err != nil {
		return err
	}
	var w *watch
	if health {
		// Subscribe before starting, so that no health event is missed.
		w = c.watch(ctx, ctr.ID, startRecheck)
		defer w.stop()
	}
	cctx, cancel := c.e.bound(ctx, 0)
	err = c.e.cli.ContainerStart(cctx, ctr.ID, container.StartOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("dockerexec: start container %s: %w", c.name, c.e.callErr(ctx, err))
	}
	c.log.Debug("container started", "container.id", ctr.ID, "healthcheck", health)
	if !health {
		return nil
	}
	return c.awaitHealthy(ctx, w, ctr.ID)
}

// waitHealthy waits for a running container to be healthy.
func (c *controller) waitHealthy(ctx context.Context, id string) error {
	w := c.watch(ctx, id, startRecheck)
	defer w.stop()
	return c.awaitHealthy(ctx, w, id)
}

// awaitHealthy returns nil once the container is healthy, the unhealthy
// error (having stopped it) if it turns unhealthy, and its exit if it dies
// first: an *exec.ExitError, or nil for exit code 0 (Wait then reports the
// completion).
func (c *controller) awaitHealthy(ctx context.Context, w *watch, id string) error {
	// The status may have changed before the subscription took effect.
	ctr, err := c.inspect(ctx)
	if err != nil {
		return err
	}
	for {
		if !ctr.State.Running {
			return exitResult(ctr)
		}
		if ctr.State.Health != nil {
			switch ctr.State.Health.Status {
			case container.Healthy:
				return nil
			case container.Unhealthy:
				return c.unhealthy(ctx, ctr)
			}
		}
		if err := w.next(ctx); err != nil {
			return err
		}
		if ctr, err = c.inspect(ctx); err != nil {
			return err
		}
	}
}

// Wait waits for the container to exit. A container with a healthcheck that
// turns unhealthy is stopped and the task fails.
func (c *controller) Wait(ctx context.Context) error {
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return fmt.Errorf("%w: %s", ErrNoContainer, c.name)
	}
	if err != nil {
		return err
	}
	if ctr.State.Status == container.StateCreated {
		return fmt.Errorf("%w: %s", ErrNotStarted, c.name)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var healthEvents <-chan struct{}
	var w *watch
	if hasHealthcheck(ctr) && ctr.State.Running {
		w = c.watch(ctx, ctr.ID, waitRecheck)
		defer w.stop()
		healthEvents = w.wake
	}
	exited, waitErr := c.e.cli.ContainerWait(ctx, ctr.ID, container.WaitConditionNotRunning)
	if w != nil {
		// Unhealthy before the subscription?
		if ctr, err = c.inspect(ctx); err != nil {
			return err
		}
		if ctr.State.Health != nil && ctr.State.Health.Status == container.Unhealthy {
			return c.unhealthy(ctx, ctr)
		}
	}
	for {
		select {
		case res := <-exited:
			// Docker unmounts a task's secrets once its container has
			// stopped; so do we. No restart reuses them: a new task
			// replaces this one.
			c.release()
			final, err := c.inspect(ctx)
			if err != nil {
				// The exit code from the wait is enough.
				if res.StatusCode == 0 {
					return nil
				}
				return &exec.ExitError{Code: int(res.StatusCode)}
			}
			return exitResult(final)
		case err := <-waitErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("dockerexec: wait for %s: %w", c.name, exec.MakeTemporary(err))
		case <-healthEvents:
			ctr, err := c.inspect(ctx)
			if err != nil {
				return err
			}
			if ctr.State.Health != nil && ctr.State.Health.Status == container.Unhealthy {
				return c.unhealthy(ctx, ctr)
			}
		case err := <-w.errs():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// unhealthy stops an unhealthy container and returns why it failed.
func (c *controller) unhealthy(ctx context.Context, ctr container.InspectResponse) error {
	detail := healthDetail(ctr.State.Health)
	c.log.Info("container unhealthy: stopping it", "container.id", ctr.ID, "health", detail)
	err := fmt.Errorf("%w: %s", exec.ErrContainerUnhealthy, detail)
	if serr := c.e.stop(ctx, ctr, graceSeconds(c.task.Spec.Container.StopGracePeriod)); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// Shutdown stops the container with the task's grace period. A running
// task on overlay networks is first drained from the load balancers
// (Executor.drain); a repeated Shutdown drains it again, which only costs
// the delay.
func (c *controller) Shutdown(ctx context.Context) error {
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return nil
	}
	if err != nil {
		return err
	}
	if ctr.State != nil && ctr.State.Running {
		if err := c.e.drain(ctx, &c.task); err != nil {
			return exec.MakeTemporary(fmt.Errorf("dockerexec: draining %s: %w", c.name, err))
		}
	}
	if err := c.e.stop(ctx, ctr, graceSeconds(c.task.Spec.Container.StopGracePeriod)); err != nil {
		return err
	}
	c.release()
	return nil
}

// release unmounts the task's files; a failure is logged, and Remove
// tries again.
func (c *controller) release() {
	if err := c.e.releaseFiles(c.task.ID); err != nil {
		c.log.Warn("release the task's files", "err", err)
	}
}

// Terminate kills the container.
func (c *controller) Terminate(ctx context.Context) error {
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return nil
	}
	if err != nil {
		return err
	}
	cctx, cancel := c.e.bound(ctx, 0)
	err = c.e.cli.ContainerKill(cctx, ctr.ID, "KILL")
	cancel()
	switch {
	case err == nil, cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err): // conflict: not running
		return nil
	}
	return fmt.Errorf("dockerexec: kill %s: %w", c.name, c.e.callErr(ctx, err))
}

// Remove stops the container gracefully if it runs, then removes it and
// the task's files.
func (c *controller) Remove(ctx context.Context) error {
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return c.e.releaseFiles(c.task.ID)
	}
	if err != nil {
		return err
	}
	if err := c.e.stop(ctx, ctr, graceSeconds(c.task.Spec.Container.StopGracePeriod)); err != nil {
		return err
	}
	if err := c.e.remove(ctx, ctr.ID); err != nil {
		return err
	}
	c.log.Debug("container removed", "container.id", ctr.ID)
	return c.e.releaseFiles(c.task.ID)
}

// Close makes the controller unusable; the container is left as it is.
func (c *controller) Close() error {
	c.closed.Store(true)
	return nil
}

// ContainerStatus reports the container's ID, PID and exit code.
func (c *controller) ContainerStatus(ctx context.Context) (*model.ContainerStatus, error) {
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.ContainerStatus{ContainerID: ctr.ID, PID: ctr.State.Pid, ExitCode: ctr.State.ExitCode}, nil
}

// PortStatus reports the host ports the engine bound for the task's
// published ports.
func (c *controller) PortStatus(ctx context.Context) ([]model.PortConfig, error) {
	if c.task.Endpoint == nil || len(c.task.Endpoint.Ports) == 0 {
		return nil, nil
	}
	ctr, err := c.inspect(ctx)
	if errors.Is(err, errGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ctr.NetworkSettings == nil {
		return nil, nil
	}
	var out []model.PortConfig
	for _, p := range c.task.Endpoint.Ports {
		key, err := natPort(p)
		if err != nil {
			return nil, err
		}
		for _, b := range ctr.NetworkSettings.Ports[key] {
			n, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue // not bound (yet)
			}
			pc := p
			pc.Protocol = key.Proto()
			pc.PublishedPort = uint32(n)
			pc.PublishMode = "host"
			out = append(out, pc)
			break // IPv4 and IPv6 bindings share the port
		}
	}
	return out, nil
}

// hasHealthcheck tells whether the container (with its image's config
// merged in by the engine) has a healthcheck.
func hasHealthcheck(ctr container.InspectResponse) bool {
	hc := ctr.Config.Healthcheck
	return hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

// exitResult reads an exited container's outcome.
func exitResult(ctr container.InspectResponse) error {
	st := ctr.State
	if st.ExitCode == 0 && !st.OOMKilled {
		return nil
	}
	var causes []string
	if st.OOMKilled {
		causes = append(causes, "out of memory")
	}
	if st.Error != "" {
		causes = append(causes, st.Error)
	}
	e := &exec.ExitError{Code: st.ExitCode}
	if len(causes) > 0 {
		e.Cause = errors.New(strings.Join(causes, "; "))
	}
	return e
}

// healthDetail summarises why a healthcheck failed, for TaskStatus.Err.
func healthDetail(h *container.Health) string {
	if h == nil {
		return "health check failed"
	}
	msg := fmt.Sprintf("health check failed %d times in a row", h.FailingStreak)
	if n := len(h.Log); n > 0 {
		last := h.Log[n-1]
		out := strings.TrimSpace(last.Output)
		if len(out) > 200 {
			out = out[:200] + "..."
		}
		msg += fmt.Sprintf("; last check exited %d: %q", last.ExitCode, out)
	}
	return msg
}

// Health changes are learnt from engine events. The engine may register a
// subscription a moment after answering it, so a change in that moment
// could be missed: the container is also inspected at these intervals.
const (
	// startRecheck applies while Start waits for health: short, since
	// it bounds how late a task may become RUNNING.
	startRecheck = time.Second
	// waitRecheck applies while Wait watches a running task: long, since
	// every running container with a healthcheck pays it.
	waitRecheck = 10 * time.Second
)

// watch is a subscription to one container's health and death events.
type watch struct {
	wake   chan struct{} // one value per event; the receiver inspects
	err    chan error
	cancel context.CancelFunc
}

// watch subscribes to the container's health_status and die events, and
// wakes the receiver every recheck besides.
func (c *controller) watch(ctx context.Context, id string, recheck time.Duration) *watch {
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{wake: make(chan struct{}, 1), err: make(chan error, 1), cancel: cancel}
	msgs, errs := c.e.cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("container", id),
		filters.Arg("event", string(events.ActionHealthStatus)),
		filters.Arg("event", string(events.ActionDie)),
	)})
	go func() {
		tick := time.NewTicker(recheck)
		defer tick.Stop()
		for {
			select {
			case <-msgs:
			case <-tick.C:
			case err := <-errs:
				if ctx.Err() == nil {
					w.err <- fmt.Errorf("dockerexec: events of %s: %w", id, exec.MakeTemporary(err))
				}
				return
			case <-ctx.Done():
				return
			}
			select {
			case w.wake <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}()
	return w
}

// next waits for the next event.
func (w *watch) next(ctx context.Context) error {
	select {
	case <-w.wake:
		return nil
	case err := <-w.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errs is the channel of the subscription's failure; nil (never ready) for
// a nil watch.
func (w *watch) errs() <-chan error {
	if w == nil {
		return nil
	}
	return w.err
}

func (w *watch) stop() { w.cancel() }
