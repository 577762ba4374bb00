package stack

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newRmCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME [NAME...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove stacks",
		Long:    `Remove the services, secrets, configs and networks of stacks, networks last.`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(env)
			if err != nil {
				return err
			}
			var errs []error
			for _, ns := range args {
				if err := Remove(cmd.Context(), c, ns, env.Out); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}

// Remove deletes a stack's services, secrets, configs, then networks (the
// order docker stack rm uses: a network is free once its services are
// gone).
func Remove(ctx context.Context, c Client, namespace string, out io.Writer) error {
	f := namespaceFilter(namespace)
	services, err := c.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return err
	}
	secrets, err := c.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	if err != nil {
		return err
	}
	configs, err := c.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	if err != nil {
		return err
	}
	nets, err := c.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return err
	}
	if len(services)+len(secrets)+len(configs)+len(nets) == 0 {
		return fmt.Errorf("nothing found in stack: %s", namespace)
	}
	var errs []error
	for _, s := range services {
		fmt.Fprintf(out, "Removing service %s\n", s.Spec.Name)
		if err := c.ServiceRemove(ctx, s.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing service %s: %w", s.Spec.Name, err))
		}
	}
	for _, s := range secrets {
		fmt.Fprintf(out, "Removing secret %s\n", s.Spec.Name)
		if err := c.SecretRemove(ctx, s.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing secret %s: %w", s.Spec.Name, err))
		}
	}
	for _, cfg := range configs {
		fmt.Fprintf(out, "Removing config %s\n", cfg.Spec.Name)
		if err := c.ConfigRemove(ctx, cfg.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing config %s: %w", cfg.Spec.Name, err))
		}
	}
	for _, n := range nets {
		fmt.Fprintf(out, "Removing network %s\n", n.Name)
		if err := c.NetworkRemove(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}
