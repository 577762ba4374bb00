package node

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newDemoteCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "demote NODE [NODE...]",
		Short: "Make managers workers",
		Long: `Make managers workers: each leaves the Raft group. The managers refuse a
demotion that would lose the quorum.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNodes(cmd.Context(), env, args, setRole(swarm.NodeRoleWorker), func(ref string) string {
				return fmt.Sprintf("Manager %s demoted in the cluster.", ref)
			})
		},
	}
}
