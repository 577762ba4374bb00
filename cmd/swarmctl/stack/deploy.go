package stack

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newDeployCommand(env *command.Env) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:     "deploy -c FILE [-c FILE...] NAME",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing one",
		Long: `Deploy the services, networks, secrets and configs of compose files as the
stack NAME, or update it: objects are named NAME_object and labelled
com.docker.stack.namespace=NAME, as docker stack deploy does.`,
		Example: `  swarmctl stack deploy -c compose.yml app`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := Load(ctx, args[0], files)
			if err != nil {
				return err
			}
			s, err := Convert(p, args[0])
			if err != nil {
				return err
			}
			c, err := client(env)
			if err != nil {
				return err
			}
			return Deploy(ctx, c, s, env.Out)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "compose-file", "c", nil, "compose file (repeatable; later files override earlier ones)")
	_ = cmd.MarkFlagRequired("compose-file")
	return cmd
}

// Deploy creates or updates the stack's objects: networks, then secrets
// and configs, then services, each service created or updated in place.
func Deploy(ctx context.Context, c Client, s *Stack, out io.Writer) error {
	nets, err := c.NetworkList(ctx, network.ListOptions{Filters: namespaceFilter(s.Namespace)})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range nets {
		have[n.Name] = true
	}
	for _, name := range s.External {
		found, err := c.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		if err != nil {
			return err
		}
		if !hasNetwork(found, name) {
			return fmt.Errorf("network %q is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed", name)
		}
	}
	for _, name := range sortedKeys(s.Networks) {
		if have[name] {
			continue
		}
		fmt.Fprintf(out, "Creating network %s\n", name)
		if _, err := c.NetworkCreate(ctx, name, s.Networks[name]); err != nil {
			return fmt.Errorf("creating network %s: %w", name, err)
		}
	}

	secretIDs := map[string]string{}
	for _, spec := range s.Secrets {
		existing, err := c.SecretList(ctx, swarm.SecretListOptions{Filters: filters.NewArgs(filters.Arg("name", spec.Name))})
		if err != nil {
			return err
		}
		if sec, ok := findSecret(existing, spec.Name); ok {
			fmt.Fprintf(out, "Updating secret %s\n", spec.Name)
			if err := c.SecretUpdate(ctx, sec.ID, sec.Version, spec); err != nil {
				return fmt.Errorf("updating secret %s: %w", spec.Name, err)
			}
			secretIDs[spec.Name] = sec.ID
			continue
		}
		fmt.Fprintf(out, "Creating secret %s\n", spec.Name)
		resp, err := c.SecretCreate(ctx, spec)
		if err != nil {
			return fmt.Errorf("creating secret %s: %w", spec.Name, err)
		}
		secretIDs[spec.Name] = resp.ID
	}
	for _, name := range s.ExternalSecrets {
		existing, err := c.SecretList(ctx, swarm.SecretListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		if err != nil {
			return err
		}
		sec, ok := findSecret(existing, name)
		if !ok {
			return fmt.Errorf("secret not found: %s", name)
		}
		secretIDs[name] = sec.ID
	}
	configIDs := map[string]string{}
	for _, spec := range s.Configs {
		existing, err := c.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("name", spec.Name))})
		if err != nil {
			return err
		}
		if cfg, ok := findConfig(existing, spec.Name); ok {
			fmt.Fprintf(out, "Updating config %s\n", spec.Name)
			if err := c.ConfigUpdate(ctx, cfg.ID, cfg.Version, spec); err != nil {
				return fmt.Errorf("updating config %s: %w", spec.Name, err)
			}
			configIDs[spec.Name] = cfg.ID
			continue
		}
		fmt.Fprintf(out, "Creating config %s\n", spec.Name)
		resp, err := c.ConfigCreate(ctx, spec)
		if err != nil {
			return fmt.Errorf("creating config %s: %w", spec.Name, err)
		}
		configIDs[spec.Name] = resp.ID
	}
	for _, name := range s.ExternalConfigs {
		existing, err := c.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		if err != nil {
			return err
		}
		cfg, ok := findConfig(existing, name)
		if !ok {
			return fmt.Errorf("config not found: %s", name)
		}
		configIDs[name] = cfg.ID
	}

	services, err := stackServices(ctx, c, s.Namespace, false)
	if err != nil {
		return err
	}
	byName := map[string]swarm.Service{}
	for _, svc := range services {
		byName[svc.Spec.Name] = svc
	}
	for _, name := range sortedKeys(s.Services) {
		spec := s.Services[name]
		for _, r := range spec.TaskTemplate.ContainerSpec.Secrets {
			r.SecretID = secretIDs[r.SecretName]
		}
		for _, r := range spec.TaskTemplate.ContainerSpec.Configs {
			r.ConfigID = configIDs[r.ConfigName]
		}
		if svc, ok := byName[name]; ok {
			fmt.Fprintf(out, "Updating service %s (id: %s)\n", name, svc.ID)
			resp, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
			if err != nil {
				return fmt.Errorf("failed to update service %s: %w", name, err)
			}
			printWarnings(out, resp.Warnings)
			continue
		}
		fmt.Fprintf(out, "Creating service %s\n", name)
		resp, err := c.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
		if err != nil {
			return fmt.Errorf("failed to create service %s: %w", name, err)
		}
		printWarnings(out, resp.Warnings)
	}
	return nil
}

func printWarnings(out io.Writer, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(out, "warning:", w)
	}
}

func hasNetwork(nets []network.Summary, name string) bool {
	for _, n := range nets {
		if n.Name == name {
			return true
		}
	}
	return false
}

func findSecret(list []swarm.Secret, name string) (swarm.Secret, bool) {
	for _, s := range list {
		if s.Spec.Name == name {
			return s, true
		}
	}
	return swarm.Secret{}, false
}

func findConfig(list []swarm.Config, name string) (swarm.Config, bool) {
	for _, c := range list {
		if c.Spec.Name == name {
			return c, true
		}
	}
	return swarm.Config{}, false
}
