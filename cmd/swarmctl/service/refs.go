package service

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/pflag"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// Flags naming networks, secrets and configs, resolved to IDs through the
// manager before the spec is sent, as the docker CLI resolves them.
const (
	flagNetwork      = "network"
	flagSecret       = "secret"
	flagConfig       = "config"
	flagEndpointMode = "endpoint-mode"
)

// refFlags are the flags that name other objects.
type refFlags struct {
	networks, secrets, configs listFlag
	endpointMode               string
}

func (r *refFlags) add(fs *pflag.FlagSet, update bool) {
	r.networks.add(fs, update, flagNetwork, "", "attach the tasks to a network: NAME or name=NAME[,alias=ALIAS...] (repeatable)", "detach from the network NAME (repeatable)")
	r.secrets.add(fs, update, flagSecret, "", "give the tasks a secret: NAME or source=NAME[,target=FILE][,uid=][,gid=][,mode=0444] (repeatable)", "remove the secret NAME (repeatable)")
	r.configs.add(fs, update, flagConfig, "", "give the tasks a config: NAME or source=NAME[,target=PATH][,uid=][,gid=][,mode=0444] (repeatable)", "remove the config NAME (repeatable)")
	fs.StringVar(&r.endpointMode, flagEndpointMode, "", "how the service name resolves on its networks: vip (one virtual IP) or dnsrr (the tasks' addresses)")
}

// resolve applies the reference flags to spec, looking the objects up
// through c: networks by name, ID or prefix to their IDs, secrets and
// configs to their IDs and names.
func (r *refFlags) resolve(ctx context.Context, c command.Client, fs *pflag.FlagSet, spec *swarm.ServiceSpec) error {
	if fs.Changed(flagEndpointMode) {
		switch m := swarm.ResolutionMode(r.endpointMode); m {
		case swarm.ResolutionModeVIP, swarm.ResolutionModeDNSRR:
			if spec.EndpointSpec == nil {
				spec.EndpointSpec = &swarm.EndpointSpec{}
			}
			spec.EndpointSpec.Mode = m
		default:
			return fmt.Errorf("--%s %q: want vip or dnsrr", flagEndpointMode, r.endpointMode)
		}
	}
	if !r.networks.empty() {
		nets := spec.TaskTemplate.Networks
		if len(nets) == 0 {
			nets = spec.Networks
		}
		nets = slices.Clone(nets)
		for _, ref := range r.networks.rm {
			n, err := c.NetworkInspect(ctx, ref, network.InspectOptions{Scope: "swarm"})
			if err != nil {
				return fmt.Errorf("--network-rm %s: %w", ref, err)
			}
			nets = slices.DeleteFunc(nets, func(a swarm.NetworkAttachmentConfig) bool { return a.Target == n.ID || a.Target == ref })
		}
		for _, s := range r.networks.adds() {
			a, err := parseNetwork(s)
			if err != nil {
				return fmt.Errorf("--network %w", err)
			}
			n, err := c.NetworkInspect(ctx, a.Target, network.InspectOptions{Scope: "swarm"})
			if err != nil {
				return fmt.Errorf("--network %s: %w", a.Target, err)
			}
			a.Target = n.ID
			if slices.ContainsFunc(nets, func(b swarm.NetworkAttachmentConfig) bool { return b.Target == n.ID }) {
				return fmt.Errorf("--network %s: the service is already attached to it", s)
			}
			nets = append(nets, a)
		}
		spec.TaskTemplate.Networks, spec.Networks = nets, nil
	}
	cs := spec.TaskTemplate.ContainerSpec
	if !r.secrets.empty() {
		refs := slices.DeleteFunc(slices.Clone(cs.Secrets), func(s *swarm.SecretReference) bool { return slices.Contains(r.secrets.rm, s.SecretName) })
		for _, s := range r.secrets.adds() {
			f, err := parseFileRef(s, false)
			if err != nil {
				return fmt.Errorf("--secret %w", err)
			}
			sec, _, err := c.SecretInspectWithRaw(ctx, f.source)
			if err != nil {
				return fmt.Errorf("--secret %s: %w", f.source, err)
			}
			refs = append(refs, &swarm.SecretReference{SecretID: sec.ID, SecretName: sec.Spec.Name,
				File: &swarm.SecretReferenceFileTarget{Name: f.target, UID: f.uid, GID: f.gid, Mode: f.mode}})
		}
		cs.Secrets = refs
	}
	if !r.configs.empty() {
		refs := slices.DeleteFunc(slices.Clone(cs.Configs), func(c *swarm.ConfigReference) bool { return slices.Contains(r.configs.rm, c.ConfigName) })
		for _, s := range r.configs.adds() {
			f, err := parseFileRef(s, true)
			if err != nil {
				return fmt.Errorf("--config %w", err)
			}
			cfg, _, err := c.ConfigInspectWithRaw(ctx, f.source)
			if err != nil {
				return fmt.Errorf("--config %s: %w", f.source, err)
			}
			refs = append(refs, &swarm.ConfigReference{ConfigID: cfg.ID, ConfigName: cfg.Spec.Name,
				File: &swarm.ConfigReferenceFileTarget{Name: f.target, UID: f.uid, GID: f.gid, Mode: f.mode}})
		}
		cs.Configs = refs
	}
	return nil
}

// parseNetwork parses NAME or name=NAME[,alias=ALIAS...].
func parseNetwork(s string) (swarm.NetworkAttachmentConfig, error) {
	var a swarm.NetworkAttachmentConfig
	if !strings.Contains(s, "=") {
		a.Target = s
		return a, nil
	}
	for _, field := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(field, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "name", "target":
			a.Target = v
		case "alias":
			a.Aliases = append(a.Aliases, v)
		default:
			return a, fmt.Errorf("%q: unknown key %q; want name or alias", s, k)
		}
	}
	if a.Target == "" {
		return a, fmt.Errorf("%q: no network name", s)
	}
	return a, nil
}

// fileRef is a parsed --secret or --config.
type fileRef struct {
	source, target, uid, gid string
	mode                     os.FileMode
}

// parseFileRef parses NAME or source=NAME[,target=T][,uid=U][,gid=G][,mode=M],
// with Docker's defaults: the target is the name, owner 0:0, mode 0444.
func parseFileRef(s string, config bool) (fileRef, error) {
	f := fileRef{uid: "0", gid: "0", mode: 0o444}
	if !strings.Contains(s, "=") {
		f.source = s
	} else {
		for _, field := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "source", "src":
				f.source = v
			case "target":
				f.target = v
			case "uid":
				f.uid = v
			case "gid":
				f.gid = v
			case "mode":
				m, err := strconv.ParseUint(v, 8, 32)
				if err != nil {
					return f, fmt.Errorf("%q: mode %q: want an octal file mode such as 0444", s, v)
				}
				f.mode = os.FileMode(m)
			default:
				return f, fmt.Errorf("%q: unknown key %q; want source, target, uid, gid or mode", s, k)
			}
		}
	}
	if f.source == "" {
		return f, fmt.Errorf("%q: no source", s)
	}
	if f.target == "" {
		f.target = f.source
	}
	return f, nil
}
