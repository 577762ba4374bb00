// Package network holds the `swarmctl network` commands, one file per
// verb. Every network of a cluster is a swarm-scoped overlay network.
package network

import (
	"github.com/docker/docker/api/types/network"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// NewCommand returns `swarmctl network` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage the cluster's overlay networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newCreateCommand(env),
		newLsCommand(env),
		newInspectCommand(env),
		newRmCommand(env),
	)
	return cmd
}

// completeNetworks completes network names, for the shells.
func completeNetworks(env *command.Env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := env.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		nets, err := c.NetworkList(cmd.Context(), network.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]cobra.Completion, 0, len(nets))
		for _, n := range nets {
			names = append(names, n.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
