package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// LabelNamespace marks every object of a stack with the stack's name, as
// docker/cli does: `stack ls`, `stack rm` and a redeploy find them by it.
const LabelNamespace = "com.docker.stack.namespace"

// defaultNetwork is the network of services that name none.
const defaultNetwork = "default"

// Stack is what a compose file turns into: the objects to create or
// update, named within the stack's namespace (NAME_object) unless they are
// external or named explicitly.
type Stack struct {
	Namespace string
	// Networks to create, by full name; External are those that must
	// exist already.
	Networks map[string]network.CreateOptions
	External []string
	Secrets  []swarm.SecretSpec
	Configs  []swarm.ConfigSpec
	// ExternalSecrets and ExternalConfigs must exist already.
	ExternalSecrets []string
	ExternalConfigs []string
	// Services by full name. Their secret and config references name
	// their objects by name; Deploy fills in the IDs.
	Services map[string]swarm.ServiceSpec
}

func (s *Stack) scope(name string) string { return s.Namespace + "_" + name }

// Load parses compose files with compose-go, as `docker stack deploy -c`
// does: variables from the environment, paths relative to the first
// file's directory.
func Load(ctx context.Context, namespace string, files []string) (*types.Project, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no compose file: use -c FILE")
	}
	var configs []types.ConfigFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading compose file: %w", err)
		}
		configs = append(configs, types.ConfigFile{Filename: f, Content: b})
	}
	dir, err := filepath.Abs(filepath.Dir(files[0]))
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{WorkingDir: dir, ConfigFiles: configs, Environment: env},
		func(o *loader.Options) {
			o.SetProjectName(namespace, true)
			o.SkipResolveEnvironment = false
		})
	if err != nil {
		return nil, fmt.Errorf("compose file: %w", err)
	}
	return p, nil
}

// Convert turns a project into the stack's objects, as docker/cli's
// cli/compose/convert does.
func Convert(p *types.Project, namespace string) (*Stack, error) {
	s := &Stack{Namespace: namespace, Networks: map[string]network.CreateOptions{}, Services: map[string]swarm.ServiceSpec{}}
	labels := func(l types.Labels) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			out[k] = v
		}
		out[LabelNamespace] = namespace
		return out
	}

	// Networks the services use; "default" unless declared.
	netNames := map[string]string{}
	used := map[string]bool{}
	for _, svc := range p.Services {
		if len(svc.Networks) == 0 {
			used[defaultNetwork] = true
		}
		for n := range svc.Networks {
			used[n] = true
		}
	}
	for _, key := range sortedKeys(used) {
		nc, declared := p.Networks[key]
		if !declared && key != defaultNetwork {
			return nil, fmt.Errorf("service network %q is not declared in the compose file's networks", key)
		}
		name := nc.Name
		if name == "" || (!bool(nc.External) && name == p.Name+"_"+key) {
			name = s.scope(key)
		}
		netNames[key] = name
		if nc.External {
			s.External = append(s.External, name)
			continue
		}
		opts := network.CreateOptions{
			Driver:     nc.Driver,
			Options:    nc.DriverOpts,
			Internal:   nc.Internal,
			Attachable: nc.Attachable,
			Labels:     labels(nc.Labels),
			Scope:      "swarm",
		}
		if opts.Driver == "" {
			opts.Driver = "overlay"
		}
		if nc.Ipam.Driver != "" || len(nc.Ipam.Config) > 0 {
			opts.IPAM = &network.IPAM{Driver: nc.Ipam.Driver}
			for _, pool := range nc.Ipam.Config {
				opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{Subnet: pool.Subnet, Gateway: pool.Gateway, IPRange: pool.IPRange})
			}
		}
		s.Networks[name] = opts
	}

	// Secrets and configs.
	secretNames := map[string]string{}
	for _, key := range sortedKeys(p.Secrets) {
		sc := p.Secrets[key]
		name := objectName(s, p.Name, key, types.FileObjectConfig(sc))
		secretNames[key] = name
		if sc.External {
			s.ExternalSecrets = append(s.ExternalSecrets, name)
			continue
		}
		data, err := objectData(types.FileObjectConfig(sc))
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", key, err)
		}
		s.Secrets = append(s.Secrets, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels(sc.Labels)}, Data: data})
	}
	configNames := map[string]string{}
	for _, key := range sortedKeys(p.Configs) {
		cc := p.Configs[key]
		name := objectName(s, p.Name, key, types.FileObjectConfig(cc))
		configNames[key] = name
		if cc.External {
			s.ExternalConfigs = append(s.ExternalConfigs, name)
			continue
		}
		data, err := objectData(types.FileObjectConfig(cc))
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", key, err)
		}
		s.Configs = append(s.Configs, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: labels(cc.Labels)}, Data: data})
	}

	for _, key := range sortedKeys(p.Services) {
		spec, err := convertService(s, key, p.Services[key], netNames, secretNames, configNames, labels)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", key, err)
		}
		s.Services[spec.Name] = spec
	}
	return s, nil
}

// objectName is a secret's or config's name: the external or explicit
// name, else NAMESPACE_key.
func objectName(s *Stack, project, key string, c types.FileObjectConfig) string {
	if c.Name != "" && (bool(c.External) || c.Name != project+"_"+key) {
		return c.Name
	}
	return s.scope(key)
}

func objectData(c types.FileObjectConfig) ([]byte, error) {
	switch {
	case c.File != "":
		return os.ReadFile(c.File)
	case c.Environment != "":
		v, ok := os.LookupEnv(c.Environment)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", c.Environment)
		}
		return []byte(v), nil
	case c.Content != "":
		return []byte(c.Content), nil
	}
	return nil, fmt.Errorf("no file, environment or content")
}

func convertService(s *Stack, key string, svc types.ServiceConfig, netNames, secretNames, configNames map[string]string,
	labels func(types.Labels) map[string]string) (swarm.ServiceSpec, error) {
	name := s.scope(key)
	if svc.Image == "" {
		return swarm.ServiceSpec{}, fmt.Errorf("no image: stacks run images, they do not build them")
	}
	var deployLabels types.Labels
	deploy := svc.Deploy
	if deploy == nil {
		deploy = &types.DeployConfig{}
	}
	deployLabels = deploy.Labels
	cs := &swarm.ContainerSpec{
		Image:      svc.Image,
		Command:    svc.Entrypoint,
		Args:       svc.Command,
		Hostname:   svc.Hostname,
		Dir:        svc.WorkingDir,
		User:       svc.User,
		Labels:     labels(svc.Labels),
		TTY:        svc.Tty,
		ReadOnly:   svc.ReadOnly,
		Init:       svc.Init,
		StopSignal: svc.StopSignal,
	}
	for k, v := range svc.Environment {
		if v == nil {
			cs.Env = append(cs.Env, k)
		} else {
			cs.Env = append(cs.Env, k+"="+*v)
		}
	}
	slices.Sort(cs.Env)
	if svc.StopGracePeriod != nil {
		d := time.Duration(*svc.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	if hc := svc.HealthCheck; hc != nil {
		h := &container.HealthConfig{Test: hc.Test}
		if hc.Disable {
			h.Test = []string{"NONE"}
		}
		if hc.Interval != nil {
			h.Interval = time.Duration(*hc.Interval)
		}
		if hc.Timeout != nil {
			h.Timeout = time.Duration(*hc.Timeout)
		}
		if hc.StartPeriod != nil {
			h.StartPeriod = time.Duration(*hc.StartPeriod)
		}
		if hc.StartInterval != nil {
			h.StartInterval = time.Duration(*hc.StartInterval)
		}
		if hc.Retries != nil {
			h.Retries = int(*hc.Retries)
		}
		cs.Healthcheck = h
	}
	for _, v := range svc.Volumes {
		m := mount.Mount{Type: mount.Type(v.Type), Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		if m.Type == mount.TypeVolume && m.Source != "" {
			m.Source = s.scope(m.Source)
		}
		cs.Mounts = append(cs.Mounts, m)
	}
	for _, ref := range svc.Secrets {
		real, ok := secretNames[ref.Source]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("secret %q is not declared in the compose file's secrets", ref.Source)
		}
		// compose-go writes the default target as a path under
		// /run/secrets; the swarm spec names the file there.
		target := strings.TrimPrefix(ref.Target, "/run/secrets/")
		if target == "" {
			target = ref.Source
		}
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretName: real, File: fileTarget(target, ref.UID, ref.GID, ref.Mode)})
	}
	for _, ref := range svc.Configs {
		real, ok := configNames[ref.Source]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("config %q is not declared in the compose file's configs", ref.Source)
		}
		target := ref.Target
		if target == "" {
			target = "/" + ref.Source
		}
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigName: real, File: &swarm.ConfigReferenceFileTarget{
			Name: target, UID: orDefault(ref.UID, "0"), GID: orDefault(ref.GID, "0"), Mode: fileMode(ref.Mode)}})
	}

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: labels(deployLabels)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Placement:     &swarm.Placement{Constraints: deploy.Placement.Constraints, MaxReplicas: deploy.Placement.MaxReplicas},
		},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionMode(strings.ToLower(deploy.EndpointMode))},
	}
	for _, pref := range deploy.Placement.Preferences {
		spec.TaskTemplate.Placement.Preferences = append(spec.TaskTemplate.Placement.Preferences,
			swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pref.Spread}})
	}
	// Networks: the service's, or the stack's default; the short service
	// name is an alias on each, so peers reach it by its compose name.
	nets := sortedKeys(svc.Networks)
	if len(nets) == 0 {
		nets = []string{defaultNetwork}
	}
	for _, n := range nets {
		aliases := []string{key}
		if cfg := svc.Networks[n]; cfg != nil {
			aliases = append(aliases, cfg.Aliases...)
		}
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: netNames[n], Aliases: aliases})
	}
	for _, p := range svc.Ports {
		pc := swarm.PortConfig{
			Name:        p.Name,
			Protocol:    swarm.PortConfigProtocol(orDefault(p.Protocol, "tcp")),
			TargetPort:  p.Target,
			PublishMode: swarm.PortConfigPublishMode(orDefault(p.Mode, string(swarm.PortConfigPublishModeIngress))),
		}
		if p.Published != "" {
			n, err := strconv.ParseUint(p.Published, 10, 16)
			if err != nil {
				return swarm.ServiceSpec{}, fmt.Errorf("published port %q: a port range is not supported", p.Published)
			}
			pc.PublishedPort = uint32(n)
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, pc)
	}

	switch deploy.Mode {
	case "", "replicated":
		replicas := uint64(1)
		if deploy.Replicas != nil {
			replicas = uint64(*deploy.Replicas)
		}
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &replicas}
	case "global":
		spec.Mode.Global = &swarm.GlobalService{}
	default:
		return swarm.ServiceSpec{}, fmt.Errorf("deploy mode %q is not supported (replicated or global)", deploy.Mode)
	}
	res := &swarm.ResourceRequirements{}
	if l := deploy.Resources.Limits; l != nil {
		res.Limits = &swarm.Limit{NanoCPUs: int64(l.NanoCPUs * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
	}
	if r := deploy.Resources.Reservations; r != nil {
		res.Reservations = &swarm.Resources{NanoCPUs: int64(r.NanoCPUs * 1e9), MemoryBytes: int64(r.MemoryBytes)}
	}
	spec.TaskTemplate.Resources = res
	if rp := deploy.RestartPolicy; rp != nil {
		p := &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition), MaxAttempts: rp.MaxAttempts}
		if rp.Delay != nil {
			d := time.Duration(*rp.Delay)
			p.Delay = &d
		}
		if rp.Window != nil {
			d := time.Duration(*rp.Window)
			p.Window = &d
		}
		spec.TaskTemplate.RestartPolicy = p
	} else if svc.Restart != "" {
		cond := map[string]swarm.RestartPolicyCondition{"no": swarm.RestartPolicyConditionNone, "always": swarm.RestartPolicyConditionAny,
			"unless-stopped": swarm.RestartPolicyConditionAny, "on-failure": swarm.RestartPolicyConditionOnFailure}[strings.SplitN(svc.Restart, ":", 2)[0]]
		if cond == "" {
			return swarm.ServiceSpec{}, fmt.Errorf("restart %q: want no, always, unless-stopped or on-failure", svc.Restart)
		}
		spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: cond}
	}
	spec.UpdateConfig = updateConfig(deploy.UpdateConfig)
	spec.RollbackConfig = updateConfig(deploy.RollbackConfig)
	return spec, nil
}

func updateConfig(u *types.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	c := &swarm.UpdateConfig{
		Delay:           time.Duration(u.Delay),
		FailureAction:   u.FailureAction,
		Monitor:         time.Duration(u.Monitor),
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           u.Order,
		Parallelism:     1,
	}
	if u.Parallelism != nil {
		c.Parallelism = *u.Parallelism
	}
	return c
}

func fileTarget(name, uid, gid string, mode *types.FileMode) *swarm.SecretReferenceFileTarget {
	return &swarm.SecretReferenceFileTarget{Name: name, UID: orDefault(uid, "0"), GID: orDefault(gid, "0"), Mode: fileMode(mode)}
}

func fileMode(m *types.FileMode) os.FileMode {
	if m == nil {
		return 0o444
	}
	return os.FileMode(*m)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
