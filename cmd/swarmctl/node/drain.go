package node

import (
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newDrainCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:               "drain NODE [NODE...]",
		Short:             "Drain nodes: no new tasks, and their replicated tasks move to other nodes",
		Long:              "Drain nodes: no new tasks, and their replicated tasks move to other nodes.\nShorthand for `node update --availability drain NODE`.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNodes(cmd.Context(), env, args, setAvailability(swarm.NodeAvailabilityDrain), printRef)
		},
	}
}
