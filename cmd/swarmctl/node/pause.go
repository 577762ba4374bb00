package node

import (
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newPauseCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:               "pause NODE [NODE...]",
		Short:             "Pause nodes: no new tasks, the running ones stay",
		Long:              "Pause nodes: no new tasks, the running ones stay.\nShorthand for `node update --availability pause NODE`.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNodes(cmd.Context(), env, args, setAvailability(swarm.NodeAvailabilityPause), printRef)
		},
	}
}
