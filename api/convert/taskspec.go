package convert

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// Smallest non-zero reservations and limits, as in SwarmKit: smaller ones
// are almost always a unit mistake (bytes for megabytes).
const (
	MinNanoCPUs    = 1e6     // 0.001 CPU
	MinMemoryBytes = 4 << 20 // 4 MiB
)

func taskSpecFromDocker(c *checker, field string, t swarm.TaskSpec, global bool) model.TaskSpec {
	var out model.TaskSpec
	switch t.Runtime {
	case "", swarm.RuntimeContainer:
	default:
		c.unsupported(field+".Runtime", "%q: only container tasks are supported", t.Runtime)
	}
	c.refuse(field+".PluginSpec", t.PluginSpec, "plugin services are not supported")
	c.refuse(field+".NetworkAttachmentSpec", t.NetworkAttachmentSpec, "network attachment tasks are not supported")
	if t.ContainerSpec == nil {
		c.invalid(field+".ContainerSpec", "a container spec is required")
	} else {
		out.Container = containerSpecFromDocker(c, field+".ContainerSpec", t.ContainerSpec)
	}
	out.Resources = resourcesFromDocker(c, field+".Resources", t.Resources)
	out.Restart = restartPolicyFromDocker(c, field+".RestartPolicy", t.RestartPolicy)
	out.Placement = placementFromDocker(c, field+".Placement", t.Placement, global)
	out.Networks = networksFromDocker(c, field+".Networks", t.Networks)
	c.refuse(field+".LogDriver", t.LogDriver, "log drivers are not supported (--log-driver, --log-opt)")
	out.ForceUpdate = t.ForceUpdate
	return out
}

func containerSpecFromDocker(c *checker, field string, s *swarm.ContainerSpec) model.ContainerSpec {
	if s.Image == "" {
		c.invalid(field+".Image", "an image is required")
	} else if err := checkImageRef(s.Image); err != nil {
		c.invalid(field+".Image", "%q is not a valid image reference: %v", s.Image, err)
	}
	if s.StopGracePeriod != nil && *s.StopGracePeriod < 0 {
		c.invalid(field+".StopGracePeriod", "%v: must not be negative", *s.StopGracePeriod)
	}
	switch s.Isolation {
	case "", container.IsolationDefault:
	default:
		c.unsupported(field+".Isolation", "%q: only the default isolation is supported", s.Isolation)
	}
	c.refuse(field+".Groups", s.Groups, "supplementary groups are not supported (--group)")
	c.refuse(field+".Privileges", s.Privileges, "credential specs, SELinux, seccomp, AppArmor and no-new-privileges settings are not supported")
	c.refuse(field+".OpenStdin", s.OpenStdin, "attaching stdin is not supported")
	c.refuse(field+".Hosts", s.Hosts, "extra /etc/hosts entries are not supported (--host)")
	c.refuse(field+".DNSConfig", s.DNSConfig, "DNS settings are not supported (--dns, --dns-option, --dns-search)")
	c.refuse(field+".Sysctls", s.Sysctls, "sysctls are not supported (--sysctl)")
	c.refuse(field+".CapabilityAdd", s.CapabilityAdd, "capabilities are not supported (--cap-add)")
	c.refuse(field+".CapabilityDrop", s.CapabilityDrop, "capabilities are not supported (--cap-drop)")
	c.refuse(field+".Ulimits", s.Ulimits, "ulimits are not supported (--ulimit)")
	c.refuse(field+".OomScoreAdj", s.OomScoreAdj, "the OOM score adjustment is not supported (--oom-score-adj)")

	return model.ContainerSpec{
		Image:           s.Image,
		Labels:          cloneLabels(s.Labels),
		Command:         slices.Clone(s.Command),
		Args:            slices.Clone(s.Args),
		Hostname:        s.Hostname,
		Env:             slices.Clone(s.Env),
		Dir:             s.Dir,
		User:            s.User,
		TTY:             s.TTY,
		ReadOnly:        s.ReadOnly,
		Init:            clonePtr(s.Init),
		Mounts:          mountsFromDocker(c, field+".Mounts", s.Mounts),
		StopSignal:      s.StopSignal,
		StopGracePeriod: clonePtr(s.StopGracePeriod),
		Healthcheck:     healthFromDocker(c, field+".Healthcheck", s.Healthcheck),
		Secrets:         secretRefsFromDocker(c, field+".Secrets", s.Secrets),
		Configs:         configRefsFromDocker(c, field+".Configs", s.Configs),
	}
}

// volumeNameRE is Docker's rule for named volumes.
var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func mountsFromDocker(c *checker, field string, mounts []mount.Mount) []model.Mount {
	var out []model.Mount
	targets := map[string]int{}
	for i, m := range mounts {
		f := index(field, i)
		switch m.Type {
		case mount.TypeBind:
			if m.Source == "" {
				c.invalid(f+".Source", "a bind mount needs a source path on the node")
			} else if !strings.HasPrefix(m.Source, "/") {
				c.invalid(f+".Source", "%q: a bind mount source must be an absolute path", m.Source)
			}
		case mount.TypeVolume:
			// An empty source is an anonymous volume.
			if m.Source != "" && !volumeNameRE.MatchString(m.Source) {
				c.invalid(f+".Source", "%q is not a valid volume name; for a path on the node use type=bind", m.Source)
			}
		case mount.TypeTmpfs:
			if m.Source != "" {
				c.invalid(f+".Source", "a tmpfs mount takes no source")
			}
		case "":
			c.invalid(f+".Type", "a mount type is required: bind, volume or tmpfs")
		default:
			c.unsupported(f+".Type", "%q: only bind, volume and tmpfs mounts are supported", m.Type)
		}
		switch {
		case m.Target == "":
			c.invalid(f+".Target", "a mount target is required")
		case !strings.HasPrefix(m.Target, "/"):
			c.invalid(f+".Target", "%q must be an absolute path", m.Target)
		case m.Target == "/":
			c.invalid(f+".Target", "cannot mount over /")
		default:
			if j, dup := targets[m.Target]; dup {
				c.invalid(f+".Target", "%q is already the target of %s", m.Target, index(field, j))
			}
			targets[m.Target] = i
		}
		switch m.Consistency {
		case "", mount.ConsistencyDefault:
		default:
			c.unsupported(f+".Consistency", "%q: only the default consistency is supported", m.Consistency)
		}
		c.refuse(f+".BindOptions", m.BindOptions, "bind options (propagation, recursion, mount point creation) are not supported")
		c.refuse(f+".VolumeOptions", m.VolumeOptions, "volume options (nocopy, labels, subpath, driver) are not supported; volumes use the local driver")
		c.refuse(f+".TmpfsOptions", m.TmpfsOptions, "tmpfs options (size, mode) are not supported (tmpfs-size, tmpfs-mode)")
		c.refuse(f+".ImageOptions", m.ImageOptions, "image mounts are not supported")
		c.refuse(f+".ClusterOptions", m.ClusterOptions, "cluster volumes are not supported")
		out = append(out, model.Mount{
			Type:     model.MountType(m.Type),
			Source:   m.Source,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	return out
}

func healthFromDocker(c *checker, field string, h *container.HealthConfig) *model.HealthConfig {
	if h == nil {
		return nil
	}
	if len(h.Test) > 0 {
		switch h.Test[0] {
		case "NONE":
			if len(h.Test) > 1 {
				c.invalid(field+".Test", `"NONE" takes no arguments`)
			}
		case "CMD", "CMD-SHELL":
			if len(h.Test) < 2 {
				c.invalid(field+".Test", "%q needs a command", h.Test[0])
			}
		default:
			c.invalid(field+".Test", `%q: the first element must be "NONE", "CMD" or "CMD-SHELL"`, h.Test[0])
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Interval", h.Interval}, {"Timeout", h.Timeout},
		{"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval},
	} {
		// Docker's rule: zero inherits the image's value, anything else
		// must be at least a millisecond.
		if d.v != 0 && d.v < time.Millisecond {
			c.invalid(field+"."+d.name, "%v: must be 0 or at least 1ms", d.v)
		}
	}
	if h.Retries < 0 {
		c.invalid(field+".Retries", "%d: must not be negative", h.Retries)
	}
	return &model.HealthConfig{
		Test:          slices.Clone(h.Test),
		Interval:      h.Interval,
		Timeout:       h.Timeout,
		StartPeriod:   h.StartPeriod,
		StartInterval: h.StartInterval,
		Retries:       h.Retries,
	}
}

func resourcesFromDocker(c *checker, field string, r *swarm.ResourceRequirements) model.ResourceRequirements {
	var out model.ResourceRequirements
	if r == nil {
		return out
	}
	if l := r.Limits; l != nil {
		out.Limits = amounts(c, field+".Limits", l.NanoCPUs, l.MemoryBytes)
		if l.Pids < 0 {
			c.invalid(field+".Limits.Pids", "%d: must not be negative (0 is unlimited)", l.Pids)
		}
		out.PidsLimit = l.Pids
	}
	if v := r.Reservations; v != nil {
		out.Reservations = amounts(c, field+".Reservations", v.NanoCPUs, v.MemoryBytes)
		c.refuse(field+".Reservations.GenericResources", v.GenericResources, "generic resources are not supported (--generic-resource)")
	}
	return out
}

func amounts(c *checker, field string, cpus, mem int64) model.Resources {
	if cpus < 0 || cpus > 0 && cpus < MinNanoCPUs {
		c.invalid(field+".NanoCPUs", "%d: must be 0 or at least %d (0.001 CPU)", cpus, int64(MinNanoCPUs))
	}
	if mem < 0 || mem > 0 && mem < MinMemoryBytes {
		c.invalid(field+".MemoryBytes", "%d: must be 0 or at least %d (4 MiB)", mem, MinMemoryBytes)
	}
	return model.Resources{NanoCPUs: cpus, MemoryBytes: mem}
}

func restartPolicyFromDocker(c *checker, field string, p *swarm.RestartPolicy) model.RestartPolicy {
	var out model.RestartPolicy
	if p == nil {
		return out
	}
	switch cond := model.RestartCondition(p.Condition); cond {
	case "":
		// Docker: a restart policy without a condition restarts on any exit.
		out.Condition = model.RestartOnAny
	case model.RestartOnAny, model.RestartOnFailure, model.RestartOnNone:
		out.Condition = cond
	default:
		c.invalid(field+".Condition", "%q: want any, on-failure or none", p.Condition)
	}
	if p.Delay != nil && *p.Delay < 0 {
		c.invalid(field+".Delay", "%v: must not be negative", *p.Delay)
	}
	out.Delay = clonePtr(p.Delay)
	if p.MaxAttempts != nil {
		out.MaxAttempts = *p.MaxAttempts
	}
	if p.Window != nil {
		if *p.Window < 0 {
			c.invalid(field+".Window", "%v: must not be negative", *p.Window)
		}
		out.Window = *p.Window
	}
	return out
}

// constraintRE is the shape of a placement constraint: a node attribute,
// == or !=, and a value. The scheduler interprets the attribute.
var constraintRE = regexp.MustCompile(`^\s*[a-zA-Z_][a-zA-Z0-9_.-]*\s*(==|!=)\s*\S.*$`)

func placementFromDocker(c *checker, field string, p *swarm.Placement, global bool) model.Placement {
	var out model.Placement
	if p == nil {
		return out
	}
	for i, con := range p.Constraints {
		if !constraintRE.MatchString(con) {
			c.invalid(index(field+".Constraints", i), "%q: want <attribute>==<value> or <attribute>!=<value>", con)
		}
	}
	out.Constraints = slices.Clone(p.Constraints)
	for i, pref := range p.Preferences {
		f := index(field+".Preferences", i)
		if pref.Spread == nil {
			c.unsupported(f, "only spread preferences are supported (--placement-pref spread=node.labels.<label>)")
			continue
		}
		if strings.TrimSpace(pref.Spread.SpreadDescriptor) == "" {
			c.invalid(f+".Spread.SpreadDescriptor", "a node attribute to spread over is required")
		}
		out.Preferences = append(out.Preferences, model.PlacementPreference{Spread: pref.Spread.SpreadDescriptor})
	}
	if p.MaxReplicas != 0 && global {
		c.invalid(field+".MaxReplicas", "a global service runs one task per node; max replicas per node only applies to replicated services")
	}
	out.MaxReplicas = p.MaxReplicas
	for _, pl := range p.Platforms {
		out.Platforms = append(out.Platforms, model.Platform{Architecture: pl.Architecture, OS: pl.OS})
	}
	return out
}

// taskSpecToDocker is the inverse of taskSpecFromDocker, shaped like a
// Docker engine's answer: Runtime "container", and Resources and
// Placement always present.
func taskSpecToDocker(t model.TaskSpec) swarm.TaskSpec {
	out := swarm.TaskSpec{
		ContainerSpec: containerSpecToDocker(t.Container),
		Resources: &swarm.ResourceRequirements{
			Limits: &swarm.Limit{
				NanoCPUs:    t.Resources.Limits.NanoCPUs,
				MemoryBytes: t.Resources.Limits.MemoryBytes,
				Pids:        t.Resources.PidsLimit,
			},
			Reservations: &swarm.Resources{
				NanoCPUs:    t.Resources.Reservations.NanoCPUs,
				MemoryBytes: t.Resources.Reservations.MemoryBytes,
			},
		},
		RestartPolicy: restartPolicyToDocker(t.Restart),
		Placement:     placementToDocker(t.Placement),
		ForceUpdate:   t.ForceUpdate,
		Runtime:       swarm.RuntimeContainer,
		Networks:      networksToDocker(t.Networks),
	}
	return out
}

func containerSpecToDocker(s model.ContainerSpec) *swarm.ContainerSpec {
	out := &swarm.ContainerSpec{
		Image:           s.Image,
		Labels:          cloneLabels(s.Labels),
		Command:         slices.Clone(s.Command),
		Args:            slices.Clone(s.Args),
		Hostname:        s.Hostname,
		Env:             slices.Clone(s.Env),
		Dir:             s.Dir,
		User:            s.User,
		TTY:             s.TTY,
		ReadOnly:        s.ReadOnly,
		Init:            clonePtr(s.Init),
		StopSignal:      s.StopSignal,
		StopGracePeriod: clonePtr(s.StopGracePeriod),
		Secrets:         secretRefsToDocker(s.Secrets),
		Configs:         configRefsToDocker(s.Configs),
	}
	for _, m := range s.Mounts {
		out.Mounts = append(out.Mounts, mount.Mount{
			Type:     mount.Type(m.Type),
			Source:   m.Source,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	if h := s.Healthcheck; h != nil {
		out.Healthcheck = &container.HealthConfig{
			Test:          slices.Clone(h.Test),
			Interval:      h.Interval,
			Timeout:       h.Timeout,
			StartPeriod:   h.StartPeriod,
			StartInterval: h.StartInterval,
			Retries:       h.Retries,
		}
	}
	return out
}

func restartPolicyToDocker(p model.RestartPolicy) *swarm.RestartPolicy {
	if p == (model.RestartPolicy{}) {
		return nil
	}
	cond := p.Condition
	if cond == "" {
		cond = model.RestartOnAny
	}
	out := &swarm.RestartPolicy{
		Condition:   swarm.RestartPolicyCondition(cond),
		Delay:       clonePtr(p.Delay),
		MaxAttempts: ptr(p.MaxAttempts),
	}
	if p.Window != 0 {
		out.Window = ptr(p.Window)
	}
	return out
}

func placementToDocker(p model.Placement) *swarm.Placement {
	out := &swarm.Placement{
		Constraints: slices.Clone(p.Constraints),
		MaxReplicas: p.MaxReplicas,
	}
	for _, pref := range p.Preferences {
		out.Preferences = append(out.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pref.Spread}})
	}
	for _, pl := range p.Platforms {
		out.Platforms = append(out.Platforms, swarm.Platform{Architecture: pl.Architecture, OS: pl.OS})
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// validImages remembers image references that parsed, so that the updates
// of a service (a `docker service scale` sends the whole spec each time)
// do not parse the same reference again: the parser's regular expressions
// were 2 % of a leader's CPU under 64 writing clients. It is cleared when
// it holds maxValidImages references.
var validImages struct {
	sync.Mutex
	refs map[string]struct{}
}

const maxValidImages = 1024

// checkImageRef tells whether ref is a valid image reference.
func checkImageRef(ref string) error {
	validImages.Lock()
	_, ok := validImages.refs[ref]
	validImages.Unlock()
	if ok {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return err
	}
	validImages.Lock()
	if validImages.refs == nil || len(validImages.refs) >= maxValidImages {
		validImages.refs = make(map[string]struct{})
	}
	validImages.refs[ref] = struct{}{}
	validImages.Unlock()
	return nil
}
