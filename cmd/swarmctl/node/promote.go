package node

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newPromoteCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "promote NODE [NODE...]",
		Short: "Make workers managers",
		Long: `Make workers managers: each joins the Raft group and serves the API. Keep
an odd number of managers; three tolerate the loss of one.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNodes(cmd.Context(), env, args, setRole(swarm.NodeRoleManager), func(ref string) string {
				return fmt.Sprintf("Node %s promoted to a manager in the cluster.", ref)
			})
		},
	}
}

// setRole is the change of promote and demote; a node that already has
// the role is left alone.
func setRole(role swarm.NodeRole) specChange {
	return func(n swarm.Node, spec *swarm.NodeSpec) (string, error) {
		if spec.Role == role {
			return fmt.Sprintf("Node %s is already a %s.", nodeName(n), role), nil
		}
		spec.Role = role
		return "", nil
	}
}

// nodeName is how messages name a node: its hostname, or its ID.
func nodeName(n swarm.Node) string {
	if n.Description.Hostname != "" {
		return n.Description.Hostname
	}
	return n.ID
}
