package dockerexec

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

// Labels set on every container this executor creates. LabelNodeID is what
// keeps executors of different nodes sharing one engine apart.
const (
	LabelNodeID      = "io.shoal.node.id"
	LabelTaskID      = "io.shoal.task.id"
	LabelTaskName    = "io.shoal.task.name"
	LabelTaskSlot    = "io.shoal.task.slot"
	LabelServiceID   = "io.shoal.service.id"
	LabelServiceName = "io.shoal.service.name"
)

// Environment variables set in every container, after the spec's own.
const (
	EnvTaskName    = "SHOAL_TASK_NAME"
	EnvTaskID      = "SHOAL_TASK_ID"
	EnvTaskSlot    = "SHOAL_TASK_SLOT"
	EnvNodeID      = "SHOAL_NODE_ID"
	EnvServiceName = "SHOAL_SERVICE_NAME"
	EnvServiceID   = "SHOAL_SERVICE_ID"
)

// validName is the engine's rule for container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ContainerName is the name of a task's container:
// <service>.<slot or node ID>.<task ID>, as Docker Swarm names them.
func ContainerName(t *model.Task) string {
	return t.Name() + "." + t.ID
}

// containerConfig translates a task into the engine's create request. It
// only reads the task. Errors wrap exec.ErrInvalidTask: the task cannot run
// on any node.
func containerConfig(t *model.Task, nodeID string) (*container.Config, *container.HostConfig, error) {
	spec := &t.Spec.Container
	switch {
	case t.ID == "":
		return nil, nil, fmt.Errorf("%w: no task ID", exec.ErrInvalidTask)
	case t.ServiceName == "":
		return nil, nil, fmt.Errorf("%w: task %s has no service name", exec.ErrInvalidTask, t.ID)
	case spec.Image == "":
		return nil, nil, fmt.Errorf("%w: task %s has no image", exec.ErrInvalidTask, t.ID)
	case !validName.MatchString(ContainerName(t)):
		return nil, nil, fmt.Errorf("%w: %q is not a valid container name", exec.ErrInvalidTask, ContainerName(t))
	}
	if err := unsupported(t); err != nil {
		return nil, nil, err
	}

	labels := make(map[string]string, len(spec.Labels)+6)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	slot := strconv.FormatUint(t.Slot, 10)
	for k, v := range map[string]string{
		LabelNodeID:      nodeID,
		LabelTaskID:      t.ID,
		LabelTaskName:    t.Name(),
		LabelTaskSlot:    slot,
		LabelServiceID:   t.ServiceID,
		LabelServiceName: t.ServiceName,
	} {
		labels[k] = v
	}

	env := append([]string(nil), spec.Env...)
	env = append(env,
		EnvTaskName+"="+t.Name(),
		EnvTaskID+"="+t.ID,
		EnvTaskSlot+"="+slot,
		EnvNodeID+"="+nodeID,
		EnvServiceName+"="+t.ServiceName,
		EnvServiceID+"="+t.ServiceID,
	)

	cfg := &container.Config{
		Image:       spec.Image,
		Labels:      labels,
		Env:         env,
		Entrypoint:  spec.Command, // Docker Swarm's mapping: Command replaces the entrypoint
		Cmd:         spec.Args,
		WorkingDir:  spec.Dir,
		User:        spec.User,
		Hostname:    spec.Hostname,
		Tty:         spec.TTY,
		StopSignal:  spec.StopSignal,
		StopTimeout: graceSeconds(spec.StopGracePeriod),
	}
	if hc := spec.Healthcheck; hc != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test:          hc.Test,
			Interval:      hc.Interval,
			Timeout:       hc.Timeout,
			StartPeriod:   hc.StartPeriod,
			StartInterval: hc.StartInterval,
			Retries:       hc.Retries,
		}
	}

	res := t.Spec.Resources
	host := &container.HostConfig{
		Init:           spec.Init,
		ReadonlyRootfs: spec.ReadOnly,
		// The orchestrator replaces failed tasks; a restarting container
		// would hide the failure from it.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			NanoCPUs:          res.Limits.NanoCPUs,
			Memory:            res.Limits.MemoryBytes,
			MemoryReservation: res.Reservations.MemoryBytes,
		},
	}
	if res.PidsLimit != 0 {
		limit := res.PidsLimit
		host.Resources.PidsLimit = &limit
	}

	for _, m := range spec.Mounts {
		dm, err := dockerMount(m)
		if err != nil {
			return nil, nil, err
		}
		host.Mounts = append(host.Mounts, dm)
	}

	if t.Endpoint != nil && len(t.Endpoint.Ports) > 0 {
		cfg.ExposedPorts = nat.PortSet{}
		host.PortBindings = nat.PortMap{}
		for _, p := range t.Endpoint.Ports {
			port, err := natPort(p)
			if err != nil {
				return nil, nil, err
			}
			cfg.ExposedPorts[port] = struct{}{}
			if p.PublishMode != model.PublishModeHost {
				continue // the routing mesh's (package netlb), on every node
			}
			binding := nat.PortBinding{} // empty HostPort: the engine picks one
			if p.PublishedPort != 0 {
				binding.HostPort = strconv.FormatUint(uint64(p.PublishedPort), 10)
			}
			host.PortBindings[port] = append(host.PortBindings[port], binding)
		}
	}
	return cfg, host, nil
}

func dockerMount(m model.Mount) (mount.Mount, error) {
	if !path.IsAbs(m.Target) {
		return mount.Mount{}, fmt.Errorf("%w: mount target %q is not an absolute path", exec.ErrInvalidTask, m.Target)
	}
	dm := mount.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	switch m.Type {
	case model.MountTypeBind:
		if !path.IsAbs(m.Source) {
			return mount.Mount{}, fmt.Errorf("%w: bind mount source %q is not an absolute path", exec.ErrInvalidTask, m.Source)
		}
		dm.Type = mount.TypeBind
	case model.MountTypeVolume:
		dm.Type = mount.TypeVolume // an empty source is an anonymous volume
	case model.MountTypeTmpfs:
		if m.Source != "" {
			return mount.Mount{}, fmt.Errorf("%w: tmpfs mount on %s has a source", exec.ErrInvalidTask, m.Target)
		}
		dm.Type = mount.TypeTmpfs
	default:
		return mount.Mount{}, fmt.Errorf("%w: unsupported mount type %q", exec.ErrInvalidTask, m.Type)
	}
	return dm, nil
}

// natPort is the engine's key of a published port, "8080/tcp".
func natPort(p model.PortConfig) (nat.Port, error) {
	if p.PublishMode != "" && p.PublishMode != model.PublishModeHost && p.PublishMode != model.PublishModeIngress {
		return "", fmt.Errorf("%w: port %d: unknown publish mode %q (host or ingress)", exec.ErrInvalidTask, p.TargetPort, p.PublishMode)
	}
	if p.TargetPort == 0 || p.TargetPort > 65535 || p.PublishedPort > 65535 {
		return "", fmt.Errorf("%w: port %d:%d out of range", exec.ErrInvalidTask, p.PublishedPort, p.TargetPort)
	}
	proto := p.Protocol
	switch proto {
	case "":
		proto = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("%w: port %d: unknown protocol %q", exec.ErrInvalidTask, p.TargetPort, p.Protocol)
	}
	return nat.NewPort(proto, strconv.FormatUint(uint64(p.TargetPort), 10))
}

// graceSeconds converts a stop grace period to the engine's whole seconds,
// rounding up so that a task always gets at least the time it asked for.
// nil stays nil: the engine's default (10 s) applies.
func graceSeconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := 0
	if *d > 0 {
		s = int((*d + time.Second - 1) / time.Second)
	}
	return &s
}

// unsupported refuses a task that needs what this node cannot give it:
// networks the allocator has not given it addresses on (the ingress
// network of the routing mesh among them). Such a task must fail with the reason, never run without them.
func unsupported(t *model.Task) error {
	if len(t.Spec.Networks) > 0 && len(t.Networks) == 0 {
		return fmt.Errorf("%w: the task has no network attachments (its networks are not allocated): network %s", exec.ErrInvalidTask, t.Spec.Networks[0].Target)
	}
	for _, a := range t.Networks {
		if len(a.Addresses) == 0 {
			return fmt.Errorf("%w: the task has no address on network %s", exec.ErrInvalidTask, a.NetworkID)
		}
		if _, err := netip.ParsePrefix(a.Addresses[0]); err != nil {
			return fmt.Errorf("%w: address %q on network %s: %v", exec.ErrInvalidTask, a.Addresses[0], a.NetworkID, err)
		}
	}
	if t.Endpoint != nil {
		for _, p := range t.Endpoint.Ports {
			// The routing mesh reaches the task over the ingress
			// network, which the allocator attaches it to.
			if p.PublishMode != model.PublishModeHost && len(t.Networks) == 0 {
				return fmt.Errorf("%w: port %d is published in ingress mode but the task is on no network (the ingress network is not allocated)", exec.ErrInvalidTask, p.TargetPort)
			}
		}
	}
	return checkFileRefs(t)
}
