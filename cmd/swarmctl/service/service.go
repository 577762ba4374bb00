// Package service holds the `swarmctl service` commands, one file per
// verb. They reach the manager through the Docker client in a
// command.Env, and render with the internal format and progress packages.
package service

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/progress"
)

// NewCommand returns `swarmctl service` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Manage services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newCreateCommand(env),
		newLsCommand(env),
		newPsCommand(env),
		newInspectCommand(env),
		newScaleCommand(env),
		newUpdateCommand(env),
		newRollbackCommand(env),
		newRmCommand(env),
		newLogsCommand(env),
	)
	return cmd
}

// watch shows the service converging, unless detach.
func watch(ctx context.Context, env *command.Env, c progress.Source, id, name string) error {
	return progress.Watch(ctx, c, id, progress.Options{
		Out:      env.Out,
		Terminal: env.Terminal,
		Now:      env.Now,
		Sleep:    env.Sleep,
		PsHint:   env.ProgramName + " service ps " + name,
	})
}

// printWarnings writes the warnings a manager attached to a write.
func printWarnings(env *command.Env, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(env.Err, "warning:", w)
	}
}

// completeServices completes service names, for the shells.
func completeServices(env *command.Env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := env.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		services, err := c.ServiceList(cmd.Context(), swarm.ServiceListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]cobra.Completion, 0, len(services))
		for _, s := range services {
			names = append(names, s.Spec.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
