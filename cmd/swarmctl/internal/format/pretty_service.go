package format

import (
	"io"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// Labels through which shoal's extensions travel in Docker's API (see
// api/convert).
const (
	LabelRebalance         = "io.shoal.rebalance"
	LabelPlacementStrategy = "io.shoal.placement.strategy"
)

// PrettyService writes the `service inspect --pretty` view of s.
func PrettyService(w io.Writer, s swarm.Service) error {
	p := newPrettyWriter(w)
	spec := s.Spec
	p.field(0, "ID", s.ID)
	p.field(0, "Name", spec.Name)
	p.labels(0, "Labels", spec.Labels)
	p.field(0, "Created at", Timestamp(s.CreatedAt))
	p.field(0, "Updated at", Timestamp(s.UpdatedAt))

	switch {
	case spec.Mode.Global != nil:
		p.field(0, "Service Mode", "Global")
	case spec.Mode.Replicated != nil:
		p.field(0, "Service Mode", "Replicated")
		n, _ := DesiredReplicas(spec.Mode)
		p.field(1, "Replicas", n)
	default:
		p.field(0, "Service Mode", Capitalize(ServiceMode(spec.Mode)))
	}
	if st := s.ServiceStatus; st != nil {
		p.field(0, "Running tasks", strconv.FormatUint(st.RunningTasks, 10)+" of "+strconv.FormatUint(st.DesiredTasks, 10))
	}

	if us := s.UpdateStatus; us != nil {
		p.section(0, "UpdateStatus")
		p.field(1, "State", us.State)
		if us.StartedAt != nil {
			p.field(1, "Started", Timestamp(*us.StartedAt))
		}
		if us.CompletedAt != nil {
			p.field(1, "Completed", Timestamp(*us.CompletedAt))
		}
		p.field(1, "Message", us.Message)
	}

	prettyPlacement(p, spec)
	prettyUpdateConfig(p, "UpdateConfig", spec.UpdateConfig)
	prettyUpdateConfig(p, "RollbackConfig", spec.RollbackConfig)
	if c := spec.TaskTemplate.ContainerSpec; c != nil {
		prettyContainer(p, c)
	}
	prettyResources(p, spec.TaskTemplate.Resources)
	prettyRestart(p, spec.TaskTemplate.RestartPolicy)

	mode := swarm.ResolutionModeVIP
	var ports []swarm.PortConfig
	if e := spec.EndpointSpec; e != nil {
		if e.Mode != "" {
			mode = e.Mode
		}
		ports = e.Ports
	}
	p.field(0, "Endpoint Mode", mode)
	if len(ports) > 0 {
		p.section(0, "Ports")
		for _, port := range ports {
			p.line(1, "PublishedPort = "+strconv.FormatUint(uint64(port.PublishedPort), 10))
			p.line(2, "Protocol = "+string(port.Protocol))
			p.line(2, "TargetPort = "+strconv.FormatUint(uint64(port.TargetPort), 10))
			p.line(2, "PublishMode = "+string(port.PublishMode))
		}
	}
	return p.flush()
}

func prettyPlacement(p *prettyWriter, spec swarm.ServiceSpec) {
	pl := spec.TaskTemplate.Placement
	strategy := spec.Labels[LabelPlacementStrategy]
	if strategy == "" {
		strategy = "spread"
	}
	p.section(0, "Placement")
	if pl != nil {
		if len(pl.Constraints) > 0 {
			p.field(1, "Constraints", "["+strings.Join(pl.Constraints, " ")+"]")
		}
		if len(pl.Preferences) > 0 {
			prefs := make([]string, 0, len(pl.Preferences))
			for _, pref := range pl.Preferences {
				if pref.Spread != nil {
					prefs = append(prefs, "spread="+pref.Spread.SpreadDescriptor)
				}
			}
			p.field(1, "Preferences", "["+strings.Join(prefs, " ")+"]")
		}
		if pl.MaxReplicas > 0 {
			p.field(1, "Max Replicas Per Node", pl.MaxReplicas)
		}
	}
	p.field(1, "Strategy", strategy)
	rebalance := spec.Labels[LabelRebalance]
	if rebalance == "" {
		rebalance = "false"
	}
	p.field(1, "Rebalance", rebalance)
}

func prettyUpdateConfig(p *prettyWriter, title string, u *swarm.UpdateConfig) {
	if u == nil {
		return
	}
	p.section(0, title)
	p.field(1, "Parallelism", u.Parallelism)
	if u.Delay > 0 {
		p.field(1, "Delay", Duration(u.Delay))
	}
	p.field(1, "On failure", u.FailureAction)
	p.field(1, "Monitoring Period", Duration(u.Monitor))
	p.field(1, "Max failure ratio", strconv.FormatFloat(float64(u.MaxFailureRatio), 'g', -1, 32))
	p.field(1, "Order", u.Order)
}

func prettyContainer(p *prettyWriter, c *swarm.ContainerSpec) {
	p.section(0, "ContainerSpec")
	p.field(1, "Image", c.Image)
	if len(c.Command) > 0 {
		p.field(1, "Command", strings.Join(c.Command, " "))
	}
	if len(c.Args) > 0 {
		p.field(1, "Args", strings.Join(c.Args, " "))
	}
	if len(c.Env) > 0 {
		p.field(1, "Env", strings.Join(c.Env, " "))
	}
	if c.Dir != "" {
		p.field(1, "Dir", c.Dir)
	}
	if c.User != "" {
		p.field(1, "User", c.User)
	}
	if c.Hostname != "" {
		p.field(1, "Hostname", c.Hostname)
	}
	if c.Init != nil {
		p.field(1, "Init", *c.Init)
	}
	if c.TTY {
		p.field(1, "TTY", true)
	}
	if c.ReadOnly {
		p.field(1, "Read only", true)
	}
	if c.StopSignal != "" {
		p.field(1, "Stop signal", c.StopSignal)
	}
	if c.StopGracePeriod != nil {
		p.field(1, "Stop grace period", Duration(*c.StopGracePeriod))
	}
	if h := c.Healthcheck; h != nil {
		p.section(1, "Healthcheck")
		p.field(2, "Test", strings.Join(h.Test, " "))
		if h.Interval > 0 {
			p.field(2, "Interval", Duration(h.Interval))
		}
		if h.Timeout > 0 {
			p.field(2, "Timeout", Duration(h.Timeout))
		}
		if h.StartPeriod > 0 {
			p.field(2, "Start period", Duration(h.StartPeriod))
		}
		if h.Retries > 0 {
			p.field(2, "Retries", h.Retries)
		}
	}
	p.labels(1, "Container labels", c.Labels)
	if len(c.Mounts) > 0 {
		p.section(0, "Mounts")
		for _, m := range c.Mounts {
			p.field(1, "Target", m.Target)
			if m.Source != "" {
				p.field(2, "Source", m.Source)
			}
			p.field(2, "ReadOnly", m.ReadOnly)
			p.field(2, "Type", m.Type)
		}
	}
}

func prettyResources(p *prettyWriter, r *swarm.ResourceRequirements) {
	if r == nil {
		return
	}
	res := r.Reservations != nil && (r.Reservations.NanoCPUs != 0 || r.Reservations.MemoryBytes != 0)
	lim := r.Limits != nil && (r.Limits.NanoCPUs != 0 || r.Limits.MemoryBytes != 0 || r.Limits.Pids != 0)
	if !res && !lim {
		return
	}
	p.section(0, "Resources")
	if res {
		p.section(1, "Reservations")
		if r.Reservations.NanoCPUs != 0 {
			p.field(2, "CPU", CPUs(r.Reservations.NanoCPUs))
		}
		if r.Reservations.MemoryBytes != 0 {
			p.field(2, "Memory", Bytes(r.Reservations.MemoryBytes))
		}
	}
	if lim {
		p.section(1, "Limits")
		if r.Limits.NanoCPUs != 0 {
			p.field(2, "CPU", CPUs(r.Limits.NanoCPUs))
		}
		if r.Limits.MemoryBytes != 0 {
			p.field(2, "Memory", Bytes(r.Limits.MemoryBytes))
		}
		if r.Limits.Pids != 0 {
			p.field(2, "Pids", r.Limits.Pids)
		}
	}
}

func prettyRestart(p *prettyWriter, r *swarm.RestartPolicy) {
	if r == nil {
		return
	}
	p.section(0, "Restart Policy")
	cond := r.Condition
	if cond == "" {
		cond = swarm.RestartPolicyConditionAny
	}
	p.field(1, "Condition", cond)
	if r.Delay != nil {
		p.field(1, "Delay", Duration(*r.Delay))
	}
	if r.MaxAttempts != nil {
		p.field(1, "Max attempts", *r.MaxAttempts)
	}
	if r.Window != nil {
		p.field(1, "Window", Duration(*r.Window))
	}
}
