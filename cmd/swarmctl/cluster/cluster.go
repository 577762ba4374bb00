// Package cluster holds the `swarmctl cluster` commands, one file per
// verb: the cluster object (GET /swarm) and its join tokens.
package cluster

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// NewCommand returns `swarmctl cluster` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster and manage its join tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newInspectCommand(env), newJoinTokenCommand(env), newUnlockKeyCommand(env), newUpdateCommand(env), newBackupCommand(env))
	return cmd
}
