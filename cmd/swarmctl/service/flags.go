package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/pflag"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

// Flag names shared by create and update.
const (
	flagReplicas           = "replicas"
	flagMode               = "mode"
	flagMaxReplicasPerNode = "replicas-max-per-node"
	flagMaxConcurrent      = "max-concurrent"
	flagImage              = "image"
	flagForce              = "force"
	flagEnv                = "env"
	flagLabel              = "label"
	flagContainerLabel     = "container-label"
	flagConstraint         = "constraint"
	flagPlacementPref      = "placement-pref"
	flagPublish            = "publish"
	flagMount              = "mount"
	flagReserveCPU         = "reserve-cpu"
	flagReserveMemory      = "reserve-memory"
	flagLimitCPU           = "limit-cpu"
	flagLimitMemory        = "limit-memory"
	flagLimitPids          = "limit-pids"
	flagRestartCondition   = "restart-condition"
	flagRestartDelay       = "restart-delay"
	flagRestartMaxAttempts = "restart-max-attempts"
	flagRestartWindow      = "restart-window"
	flagHealthCmd          = "health-cmd"
	flagHealthInterval     = "health-interval"
	flagHealthTimeout      = "health-timeout"
	flagHealthRetries      = "health-retries"
	flagHealthStartPeriod  = "health-start-period"
	flagNoHealthcheck      = "no-healthcheck"
	flagStopGracePeriod    = "stop-grace-period"
	flagRebalance          = "rebalance"
	flagStrategy           = "strategy"
)

// Docker's defaults for an update or rollback config, sent whole as soon as
// one --update-* (or --rollback-*) flag is given, as the docker CLI does.
const (
	defaultParallelism   = 1
	defaultFailureAction = swarm.UpdateFailureActionPause
	defaultMonitor       = 5 * time.Second
	defaultOrder         = swarm.UpdateOrderStopFirst
)

// updateConfigFlags are the --update-* or --rollback-* flags.
type updateConfigFlags struct {
	prefix          string // "update" or "rollback"
	parallelism     opts.Uint64
	delay           time.Duration
	order           string
	failureAction   string
	monitor         time.Duration
	maxFailureRatio opts.Ratio
}

func (u *updateConfigFlags) add(fs *pflag.FlagSet) {
	verb, noun := "update", "update"
	actions := "pause, continue or rollback"
	if u.prefix == "rollback" {
		verb, noun = "roll back", "rollback"
		actions = "pause or continue"
	}
	fs.Var(&u.parallelism, u.prefix+"-parallelism", "tasks to "+verb+" at once (0 = all)")
	fs.DurationVar(&u.delay, u.prefix+"-delay", 0, "wait between two batches of the "+noun)
	fs.StringVar(&u.order, u.prefix+"-order", "", "stop-first or start-first")
	fs.StringVar(&u.failureAction, u.prefix+"-failure-action", "", "when a task fails: "+actions)
	fs.DurationVar(&u.monitor, u.prefix+"-monitor", 0, "how long a new task must run to count as a success")
	fs.Var(&u.maxFailureRatio, u.prefix+"-max-failure-ratio", "fraction of tasks that may fail before the failure action")
}

// apply sets the changed flags on *cfg, creating it with Docker's defaults
// when it is nil.
func (u *updateConfigFlags) apply(fs *pflag.FlagSet, cfg **swarm.UpdateConfig) error {
	changed := func(name string) bool { return fs.Changed(u.prefix + "-" + name) }
	if !changed("parallelism") && !changed("delay") && !changed("order") &&
		!changed("failure-action") && !changed("monitor") && !changed("max-failure-ratio") {
		return nil
	}
	if *cfg == nil {
		*cfg = &swarm.UpdateConfig{
			Parallelism:   defaultParallelism,
			FailureAction: defaultFailureAction,
			Monitor:       defaultMonitor,
			Order:         defaultOrder,
		}
	}
	c := *cfg
	if changed("parallelism") {
		c.Parallelism = uint64(u.parallelism)
	}
	if changed("delay") {
		if u.delay < 0 {
			return fmt.Errorf("--%s-delay %s: must not be negative", u.prefix, u.delay)
		}
		c.Delay = u.delay
	}
	if changed("order") {
		switch u.order {
		case swarm.UpdateOrderStopFirst, swarm.UpdateOrderStartFirst:
			c.Order = u.order
		default:
			return fmt.Errorf("--%s-order %q: want stop-first or start-first", u.prefix, u.order)
		}
	}
	if changed("failure-action") {
		switch u.failureAction {
		case swarm.UpdateFailureActionPause, swarm.UpdateFailureActionContinue:
			c.FailureAction = u.failureAction
		case swarm.UpdateFailureActionRollback:
			if u.prefix == "rollback" {
				return fmt.Errorf("--rollback-failure-action %q: a rollback cannot roll back; want pause or continue", u.failureAction)
			}
			c.FailureAction = u.failureAction
		default:
			if u.prefix == "rollback" {
				return fmt.Errorf("--rollback-failure-action %q: want pause or continue", u.failureAction)
			}
			return fmt.Errorf("--update-failure-action %q: want pause, continue or rollback", u.failureAction)
		}
	}
	if changed("monitor") {
		if u.monitor < 0 {
			return fmt.Errorf("--%s-monitor %s: must not be negative", u.prefix, u.monitor)
		}
		c.Monitor = u.monitor
	}
	if changed("max-failure-ratio") {
		c.MaxFailureRatio = float32(u.maxFailureRatio)
	}
	return nil
}

// listFlag is a repeatable flag: --X on create; --X or --X-add, and --X-rm,
// on update.
type listFlag struct {
	set, more, rm []string
}

func (l *listFlag) add(fs *pflag.FlagSet, update bool, name, short, help, rmHelp string) {
	fs.StringArrayVarP(&l.set, name, short, nil, help)
	if update {
		fs.StringArrayVar(&l.more, name+"-add", nil, "same as --"+name)
		fs.StringArrayVar(&l.rm, name+"-rm", nil, rmHelp)
	}
}

// adds are the items to add, in the order given per flag.
func (l *listFlag) adds() []string { return append(slices.Clone(l.set), l.more...) }

func (l *listFlag) empty() bool { return len(l.set)+len(l.more)+len(l.rm) == 0 }

// specFlags are the flags that shape a service spec. create applies them to
// an empty spec; update applies the ones given to the spec it read, so
// everything else is sent back as it was.
type specFlags struct {
	fs *pflag.FlagSet

	replicas           opts.Uint64
	maxConcurrent      opts.Uint64
	mode               string
	maxReplicasPerNode opts.Uint64
	image              string
	force              bool

	env, labels, containerLabels       listFlag
	constraints, placementPrefs        listFlag
	publish, mounts                    listFlag
	reserveCPU, limitCPU               opts.NanoCPUs
	reserveMemory, limitMemory         opts.MemBytes
	limitPids                          int64
	restartCondition                   string
	restartDelay, restartWindow        time.Duration
	restartMaxAttempts                 opts.Uint64
	updateConfig, rollbackConfig       updateConfigFlags
	healthCmd                          string
	healthInterval, healthTimeout      time.Duration
	healthStartPeriod, stopGracePeriod time.Duration
	healthRetries                      int
	noHealthcheck, rebalance           bool
	strategy                           string
	refs                               refFlags
}

// newSpecFlags registers the spec flags on fs, in their create form or,
// with update, in their update form (--X-add and --X-rm lists, --image,
// --force, no --mode).
func newSpecFlags(fs *pflag.FlagSet, update bool) *specFlags {
	f := &specFlags{fs: fs}
	f.updateConfig.prefix = "update"
	f.rollbackConfig.prefix = "rollback"

	fs.Var(&f.replicas, flagReplicas, "number of tasks of a replicated service; completions of a replicated job")
	fs.Var(&f.maxConcurrent, flagMaxConcurrent, "most tasks of a replicated job running at once (default 1)")
	if update {
		fs.StringVar(&f.image, flagImage, "", "new image")
		fs.BoolVar(&f.force, flagForce, false, "replace every task even if nothing changed")
	} else {
		fs.StringVar(&f.mode, flagMode, "replicated", "replicated, global (one task per eligible node), replicated-job or global-job (tasks run to completion)")
	}
	fs.Var(&f.maxReplicasPerNode, flagMaxReplicasPerNode, "at most this many tasks per node (0 = no limit)")

	// Lists: create sets them; update adds with the same flag or with
	// --X-add, and removes with --X-rm, as the docker CLI.
	f.env.add(fs, update, flagEnv, "e", "environment variable KEY=VALUE (repeatable)", "remove the environment variable KEY (repeatable)")
	f.labels.add(fs, update, flagLabel, "l", "service label KEY=VALUE (repeatable)", "remove the service label KEY (repeatable)")
	f.containerLabels.add(fs, update, flagContainerLabel, "", "container label KEY=VALUE (repeatable)", "remove the container label KEY (repeatable)")
	f.constraints.add(fs, update, flagConstraint, "", "placement constraint ATTR==VALUE or ATTR!=VALUE, such as node.labels.zone==a (repeatable)", "remove a placement constraint (repeatable)")
	f.placementPrefs.add(fs, update, flagPlacementPref, "", "placement preference spread=LABEL, such as spread=node.labels.zone (repeatable)", "remove a placement preference (repeatable)")
	f.publish.add(fs, update, flagPublish, "p", "publish a port on the nodes running a task: published=P,target=T[,protocol=udp] or P:T (host mode; repeatable)", "stop publishing PUBLISHED[/PROTOCOL] (repeatable)")
	f.mounts.add(fs, update, flagMount, "", "mount type=bind|volume|tmpfs,source=SRC,target=/PATH[,readonly] (repeatable)", "remove the mount at TARGET (repeatable)")

	fs.Var(&f.reserveCPU, flagReserveCPU, "CPUs reserved per task, such as 0.5")
	fs.Var(&f.reserveMemory, flagReserveMemory, "memory reserved per task, such as 64M")
	fs.Var(&f.limitCPU, flagLimitCPU, "CPU limit per task")
	fs.Var(&f.limitMemory, flagLimitMemory, "memory limit per task")
	fs.Int64Var(&f.limitPids, flagLimitPids, 0, "process limit per task (0 = none)")

	fs.StringVar(&f.restartCondition, flagRestartCondition, "", "restart a task when it ends: any, on-failure or none")
	fs.DurationVar(&f.restartDelay, flagRestartDelay, 0, "wait between restarts (default 5s)")
	fs.Var(&f.restartMaxAttempts, flagRestartMaxAttempts, "give up after this many restarts in the window (0 = never)")
	fs.DurationVar(&f.restartWindow, flagRestartWindow, 0, "window that counts restart attempts")

	f.updateConfig.add(fs)
	f.rollbackConfig.add(fs)

	fs.StringVar(&f.healthCmd, flagHealthCmd, "", "command that checks a task's health (run in a shell)")
	fs.DurationVar(&f.healthInterval, flagHealthInterval, 0, "time between health checks")
	fs.DurationVar(&f.healthTimeout, flagHealthTimeout, 0, "time a health check may take")
	fs.IntVar(&f.healthRetries, flagHealthRetries, 0, "failed checks in a row that make a task unhealthy")
	fs.DurationVar(&f.healthStartPeriod, flagHealthStartPeriod, 0, "time a task gets to start before failed checks count")
	fs.BoolVar(&f.noHealthcheck, flagNoHealthcheck, false, "disable the image's health check")
	fs.DurationVar(&f.stopGracePeriod, flagStopGracePeriod, 0, "time a task gets to stop before it is killed (default 10s)")

	fs.BoolVar(&f.rebalance, flagRebalance, false, "move tasks to nodes that join or come back, to keep the service spread (label "+format.LabelRebalance+")")
	fs.StringVar(&f.strategy, flagStrategy, "", "placement strategy: spread (default) or binpack (label "+format.LabelPlacementStrategy+")")
	f.refs.add(fs, update)
	return f
}

// resolveRefs applies the flags naming networks, secrets and configs,
// which need the manager to look them up; call it after apply.
func (f *specFlags) resolveRefs(ctx context.Context, c command.Client, spec *swarm.ServiceSpec) error {
	return f.refs.resolve(ctx, c, f.fs, spec)
}

func (f *specFlags) changed(names ...string) bool {
	for _, n := range names {
		if f.fs.Lookup(n) != nil && f.fs.Changed(n) {
			return true
		}
	}
	return false
}

// newSpec is the spec `service create` starts from, shaped like the one
// the docker CLI sends: empty labels, resources and placement rather than
// null ones, no init process, no DNS settings.
func newSpec(name, image string, args []string) swarm.ServiceSpec {
	noInit := false
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: image, Args: args, Init: &noInit, DNSConfig: &swarm.DNSConfig{}},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}},
			Placement:     &swarm.Placement{},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
	}
}

// apply sets what the given flags say on spec, and leaves the rest alone.
func (f *specFlags) apply(spec *swarm.ServiceSpec) error {
	if spec.TaskTemplate.ContainerSpec == nil {
		spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{}
	}
	cs := spec.TaskTemplate.ContainerSpec
	steps := []func(*swarm.ServiceSpec) error{
		f.applyMode, f.applyLists, f.applyResources, f.applyRestart, f.applyHealth, f.applyShoal,
	}
	for _, step := range steps {
		if err := step(spec); err != nil {
			return err
		}
	}
	if f.changed(flagImage) {
		if f.image == "" {
			return fmt.Errorf("--image: empty image")
		}
		cs.Image = f.image
	}
	if f.changed(flagStopGracePeriod) {
		if f.stopGracePeriod < 0 {
			return fmt.Errorf("--stop-grace-period %s: must not be negative", f.stopGracePeriod)
		}
		d := f.stopGracePeriod
		cs.StopGracePeriod = &d
	}
	if err := f.updateConfig.apply(f.fs, &spec.UpdateConfig); err != nil {
		return err
	}
	if err := f.rollbackConfig.apply(f.fs, &spec.RollbackConfig); err != nil {
		return err
	}
	if f.force {
		spec.TaskTemplate.ForceUpdate++
	}
	return nil
}

func (f *specFlags) applyMode(spec *swarm.ServiceSpec) error {
	if f.changed(flagMode) {
		switch f.mode {
		case "replicated":
			if spec.Mode.Replicated == nil {
				spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}
			}
		case "global":
			spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
		case "replicated-job":
			spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
		case "global-job":
			spec.Mode = swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
		default:
			return fmt.Errorf("--mode %q: want replicated, global, replicated-job or global-job", f.mode)
		}
	}
	if j := spec.Mode.ReplicatedJob; j != nil {
		if f.changed(flagMaxConcurrent) {
			n := uint64(f.maxConcurrent)
			j.MaxConcurrent = &n
		}
		if f.changed(flagReplicas) {
			n := uint64(f.replicas)
			j.TotalCompletions = &n
		}
		return nil
	}
	if f.changed(flagMaxConcurrent) {
		return fmt.Errorf("--max-concurrent applies to replicated jobs only; this one is %s", format.ServiceMode(spec.Mode))
	}
	if f.changed(flagReplicas) {
		if spec.Mode.Replicated == nil {
			return fmt.Errorf("--replicas applies to replicated services only; this one is %s", format.ServiceMode(spec.Mode))
		}
		n := uint64(f.replicas)
		spec.Mode.Replicated.Replicas = &n
	}
	if f.changed(flagMaxReplicasPerNode) {
		if spec.Mode.Replicated == nil {
			return fmt.Errorf("--replicas-max-per-node applies to replicated services only; this one is %s", format.ServiceMode(spec.Mode))
		}
		placement(spec).MaxReplicas = uint64(f.maxReplicasPerNode)
	}
	return nil
}

func placement(spec *swarm.ServiceSpec) *swarm.Placement {
	if spec.TaskTemplate.Placement == nil {
		spec.TaskTemplate.Placement = &swarm.Placement{}
	}
	return spec.TaskTemplate.Placement
}

func (f *specFlags) applyLists(spec *swarm.ServiceSpec) error {
	cs := spec.TaskTemplate.ContainerSpec

	for _, key := range f.env.rm {
		cs.Env = opts.RemoveEnv(cs.Env, key)
	}
	env, err := opts.ParseEnv(f.env.adds())
	if err != nil {
		return fmt.Errorf("--env %w", err)
	}
	for _, e := range env {
		k, _, _ := opts.ParseKeyValue(e, true)
		cs.Env = opts.SetEnv(cs.Env, k, e)
	}

	if spec.Labels, err = editLabels(spec.Labels, f.labels, "--label"); err != nil {
		return err
	}
	if cs.Labels, err = editLabels(cs.Labels, f.containerLabels, "--container-label"); err != nil {
		return err
	}

	if !f.constraints.empty() {
		p := placement(spec)
		p.Constraints = slices.DeleteFunc(slices.Clone(p.Constraints), func(c string) bool { return slices.Contains(f.constraints.rm, c) })
		for _, c := range f.constraints.adds() {
			if err := opts.CheckConstraint(c); err != nil {
				return fmt.Errorf("--constraint %w", err)
			}
			if !slices.Contains(p.Constraints, c) {
				p.Constraints = append(p.Constraints, c)
			}
		}
	}

	if !f.placementPrefs.empty() {
		p := placement(spec)
		var rm []string
		for _, s := range f.placementPrefs.rm {
			pref, err := opts.ParsePlacementPref(s)
			if err != nil {
				return fmt.Errorf("--placement-pref-rm %w", err)
			}
			rm = append(rm, opts.PlacementPrefString(pref))
		}
		p.Preferences = slices.DeleteFunc(slices.Clone(p.Preferences), func(pref swarm.PlacementPreference) bool {
			return slices.Contains(rm, opts.PlacementPrefString(pref))
		})
		for _, s := range f.placementPrefs.adds() {
			pref, err := opts.ParsePlacementPref(s)
			if err != nil {
				return fmt.Errorf("--placement-pref %w", err)
			}
			p.Preferences = append(p.Preferences, pref)
		}
	}

	if !f.publish.empty() {
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
		}
		ports := slices.Clone(spec.EndpointSpec.Ports)
		for _, s := range f.publish.rm {
			key, err := opts.ParsePortKey(s)
			if err != nil {
				return fmt.Errorf("--publish-rm %w", err)
			}
			ports = slices.DeleteFunc(ports, func(p swarm.PortConfig) bool { return opts.PortKey(p) == key })
		}
		for _, s := range f.publish.adds() {
			p, err := opts.ParsePort(s)
			if err != nil {
				return fmt.Errorf("--publish %w", err)
			}
			i := slices.IndexFunc(ports, func(q swarm.PortConfig) bool {
				return p.PublishedPort != 0 && opts.PortKey(q) == opts.PortKey(p)
			})
			if i >= 0 {
				ports[i] = p
			} else {
				ports = append(ports, p)
			}
		}
		spec.EndpointSpec.Ports = ports
	}

	if !f.mounts.empty() {
		mounts := slices.DeleteFunc(slices.Clone(cs.Mounts), func(m mount.Mount) bool { return slices.Contains(f.mounts.rm, m.Target) })
		for _, s := range f.mounts.adds() {
			m, err := opts.ParseMount(s)
			if err != nil {
				return fmt.Errorf("--mount %w", err)
			}
			i := slices.IndexFunc(mounts, func(q mount.Mount) bool { return q.Target == m.Target })
			if i >= 0 {
				mounts[i] = m
			} else {
				mounts = append(mounts, m)
			}
		}
		cs.Mounts = mounts
	}
	return nil
}

// editLabels applies a label list flag to a copy of labels: the keys of
// --X-rm go, the KEY=VALUE items of --X and --X-add are set.
func editLabels(labels map[string]string, l listFlag, flag string) (map[string]string, error) {
	if l.empty() {
		return labels, nil
	}
	out := make(map[string]string, len(labels)+len(l.set)+len(l.more))
	for k, v := range labels {
		if !slices.Contains(l.rm, k) {
			out[k] = v
		}
	}
	for _, it := range l.adds() {
		k, v, err := opts.ParseKeyValue(it, false)
		if err != nil {
			return nil, fmt.Errorf("%s %w", flag, err)
		}
		out[k] = v
	}
	return out, nil
}

func (f *specFlags) applyResources(spec *swarm.ServiceSpec) error {
	if !f.changed(flagReserveCPU, flagReserveMemory, flagLimitCPU, flagLimitMemory, flagLimitPids) {
		return nil
	}
	r := spec.TaskTemplate.Resources
	if r == nil {
		r = &swarm.ResourceRequirements{}
		spec.TaskTemplate.Resources = r
	}
	if r.Limits == nil {
		r.Limits = &swarm.Limit{}
	}
	if r.Reservations == nil {
		r.Reservations = &swarm.Resources{}
	}
	if f.changed(flagReserveCPU) {
		r.Reservations.NanoCPUs = int64(f.reserveCPU)
	}
	if f.changed(flagReserveMemory) {
		r.Reservations.MemoryBytes = int64(f.reserveMemory)
	}
	if f.changed(flagLimitCPU) {
		r.Limits.NanoCPUs = int64(f.limitCPU)
	}
	if f.changed(flagLimitMemory) {
		r.Limits.MemoryBytes = int64(f.limitMemory)
	}
	if f.changed(flagLimitPids) {
		if f.limitPids < 0 {
			return fmt.Errorf("--limit-pids %d: must not be negative", f.limitPids)
		}
		r.Limits.Pids = f.limitPids
	}
	return nil
}

func (f *specFlags) applyRestart(spec *swarm.ServiceSpec) error {
	if !f.changed(flagRestartCondition, flagRestartDelay, flagRestartMaxAttempts, flagRestartWindow) {
		return nil
	}
	rp := spec.TaskTemplate.RestartPolicy
	if rp == nil {
		rp = &swarm.RestartPolicy{}
		spec.TaskTemplate.RestartPolicy = rp
	}
	if f.changed(flagRestartCondition) {
		switch c := swarm.RestartPolicyCondition(f.restartCondition); c {
		case swarm.RestartPolicyConditionAny, swarm.RestartPolicyConditionOnFailure, swarm.RestartPolicyConditionNone:
			rp.Condition = c
		default:
			return fmt.Errorf("--restart-condition %q: want any, on-failure or none", f.restartCondition)
		}
	}
	if f.changed(flagRestartDelay) {
		if f.restartDelay < 0 {
			return fmt.Errorf("--restart-delay %s: must not be negative", f.restartDelay)
		}
		d := f.restartDelay
		rp.Delay = &d
	}
	if f.changed(flagRestartMaxAttempts) {
		n := uint64(f.restartMaxAttempts)
		rp.MaxAttempts = &n
	}
	if f.changed(flagRestartWindow) {
		if f.restartWindow < 0 {
			return fmt.Errorf("--restart-window %s: must not be negative", f.restartWindow)
		}
		d := f.restartWindow
		rp.Window = &d
	}
	return nil
}

func (f *specFlags) applyHealth(spec *swarm.ServiceSpec) error {
	tuning := f.changed(flagHealthInterval, flagHealthTimeout, flagHealthRetries, flagHealthStartPeriod)
	if f.noHealthcheck {
		if tuning || f.changed(flagHealthCmd) {
			return fmt.Errorf("--no-healthcheck conflicts with the --health-* flags")
		}
		spec.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if !tuning && !f.changed(flagHealthCmd) {
		return nil
	}
	cs := spec.TaskTemplate.ContainerSpec
	h := cs.Healthcheck
	if h == nil {
		h = &container.HealthConfig{}
	} else {
		c := *h
		h = &c
	}
	if f.changed(flagHealthCmd) {
		if f.healthCmd == "" {
			h.Test = nil
		} else {
			h.Test = []string{"CMD-SHELL", f.healthCmd}
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *time.Duration
	}{
		{flagHealthInterval, f.healthInterval, &h.Interval},
		{flagHealthTimeout, f.healthTimeout, &h.Timeout},
		{flagHealthStartPeriod, f.healthStartPeriod, &h.StartPeriod},
	} {
		if !f.changed(d.flag) {
			continue
		}
		if d.v != 0 && d.v < time.Millisecond {
			return fmt.Errorf("--%s %s: want 0 or at least 1ms", d.flag, d.v)
		}
		*d.dst = d.v
	}
	if f.changed(flagHealthRetries) {
		if f.healthRetries < 0 {
			return fmt.Errorf("--health-retries %d: must not be negative", f.healthRetries)
		}
		h.Retries = f.healthRetries
	}
	cs.Healthcheck = h
	return nil
}

// applyShoal sets shoal's extensions, which travel as service labels.
func (f *specFlags) applyShoal(spec *swarm.ServiceSpec) error {
	if !f.changed(flagRebalance, flagStrategy) {
		return nil
	}
	labels := make(map[string]string, len(spec.Labels)+2)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	if f.changed(flagRebalance) {
		labels[format.LabelRebalance] = strconv.FormatBool(f.rebalance)
	}
	if f.changed(flagStrategy) {
		switch f.strategy {
		case "spread", "binpack":
			labels[format.LabelPlacementStrategy] = f.strategy
		default:
			return fmt.Errorf("--strategy %q: want spread or binpack", f.strategy)
		}
	}
	spec.Labels = labels
	return nil
}
