package service

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newCreateCommand(env *command.Env) *cobra.Command {
	var (
		name   string
		detach bool
		flags  *specFlags
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME [OPTIONS] IMAGE [ARG...]",
		Short: "Create a service",
		Long: `Create a service and show its tasks starting until it converged (-d to
return at once; Ctrl-C stops watching and leaves the service running).

The words after IMAGE are the arguments of the image's entrypoint. Ports are
published on the nodes that run a task (host mode): shoal has no routing
mesh.`,
		Example: `  swarmctl service create --name web --replicas 3 -p 8080:80 nginx:1.27
  swarmctl service create --name agent --mode global --constraint node.role==worker agent:1
  swarmctl service create --name batch --strategy binpack --reserve-memory 256M worker:2 --queue jobs`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := newSpec(name, args[0], args[1:])
			if err := flags.apply(&spec); err != nil {
				return err
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := flags.resolveRefs(ctx, c, &spec); err != nil {
				return err
			}
			resp, err := c.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
			if err != nil {
				return err
			}
			printWarnings(env, resp.Warnings)
			fmt.Fprintln(env.Out, resp.ID)
			if detach {
				return nil
			}
			return watch(ctx, env, c, resp.ID, name)
		},
	}
	fs := cmd.Flags()
	// Flags after IMAGE belong to the container.
	fs.SetInterspersed(false)
	fs.StringVar(&name, "name", "", "service name (required)")
	_ = cmd.MarkFlagRequired("name")
	fs.BoolVarP(&detach, "detach", "d", false, "return at once instead of showing the service converge")
	flags = newSpecFlags(fs, false)
	return cmd
}
