package service

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newUpdateCommand(env *command.Env) *cobra.Command {
	var (
		detach bool
		flags  *specFlags
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Change a service",
		Long: `Change a service: read it with its version, change what the flags say, send
it back whole. Everything no flag names is kept. A change made by someone
else in between fails with "update out of sequence": run the command again.

Lists take --X or --X-add to add an item, and --X-rm to remove one: --env-rm
and --label-rm take a KEY, --mount-rm a target, --publish-rm a published
port (8080 or 8080/udp), --constraint-rm and --placement-pref-rm the item.

After the change, the command shows the rolling update until the service
converged (-d to return at once; Ctrl-C stops watching, the update goes on).`,
		Example: `  swarmctl service update --image nginx:1.28 web
  swarmctl service update --env-add LOG=debug --env-rm OLD web
  swarmctl service update --force web`,
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
			spec := svc.Spec
			if err := flags.apply(&spec); err != nil {
				return err
			}
			if err := flags.resolveRefs(ctx, c, &spec); err != nil {
				return err
			}
			resp, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
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
	fs := cmd.Flags()
	fs.BoolVarP(&detach, "detach", "d", false, "return at once instead of showing the update")
	flags = newSpecFlags(fs, true)
	return cmd
}
