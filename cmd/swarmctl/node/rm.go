package node

import (
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newRmCommand(env *command.Env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove nodes from the cluster",
		Long: `Remove nodes from the cluster. A node must be down (or --force), and a
manager must be demoted first.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				id, err := resolveSelf(cmd.Context(), c, ref)
				if err == nil {
					err = c.NodeRemove(cmd.Context(), id, swarm.NodeRemoveOptions{Force: force})
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", ref, err))
					continue
				}
				fmt.Fprintln(env.Out, ref)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove a node that is not down")
	return cmd
}
