package node

import (
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newActivateCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:               "activate NODE [NODE...]",
		Short:             "Make nodes available for tasks again",
		Long:              "Make nodes available for tasks again.\nShorthand for `node update --availability active NODE`.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNodes(cmd.Context(), env, args, setAvailability(swarm.NodeAvailabilityActive), printRef)
		},
	}
}
