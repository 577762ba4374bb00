package service

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newRollbackCommand(env *command.Env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Go back to a service's previous spec",
		Long: `Go back to the spec the service had before its last update, with the
rollback settings (--rollback-* of create and update), and show the tasks
being replaced (-d to return at once).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, _, err := c.ServiceInspectWithRaw(ctx, args[0], swarm.ServiceInspectOptions{})
			if err != nil {
				return err
			}
			// As the docker CLI: the current spec, unchanged, and the
			// manager restores the previous one.
			resp, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{Rollback: "previous"})
			if err != nil {
				return err
			}
			printWarnings(env, resp.Warnings)
			fmt.Fprintln(env.Out, args[0])
			if detach {
				return nil
			}
			return watch(ctx, env, c, svc.ID, args[0])
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return at once instead of showing the rollback")
	return cmd
}
