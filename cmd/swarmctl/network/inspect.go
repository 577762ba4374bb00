package network

import (
	"errors"

	"github.com/docker/docker/api/types/network"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

func newInspectCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:               "inspect NETWORK [NETWORK...]",
		Short:             "Show networks in detail",
		Long:              `Show networks, by ID, name or ID prefix, as a JSON array.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNetworks(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			nets := []network.Inspect{}
			var errs []error
			for _, ref := range args {
				n, err := c.NetworkInspect(cmd.Context(), ref, network.InspectOptions{Scope: "swarm"})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				nets = append(nets, n)
			}
			if len(nets) > 0 || len(errs) == 0 {
				if err := format.IndentedJSON(env.Out, nets); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}
