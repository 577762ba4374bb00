package service

import (
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

func newInspectCommand(env *command.Env) *cobra.Command {
	var (
		pretty bool
		out    string
	)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short: "Show services in detail",
		Long: `Show services as the manager sends them, with the defaults it applies
filled in: a JSON array by default, a summary with --pretty.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != format.JSON {
				return fmt.Errorf("--format %q: inspect writes json (or --pretty)", out)
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			var (
				services []swarm.Service
				errs     []error
			)
			for _, ref := range args {
				s, _, err := c.ServiceInspectWithRaw(cmd.Context(), ref, swarm.ServiceInspectOptions{InsertDefaults: true})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				services = append(services, s)
			}
			if pretty {
				for i, s := range services {
					if i > 0 {
						fmt.Fprintln(env.Out)
					}
					if err := format.PrettyService(env.Out, s); err != nil {
						return err
					}
				}
			} else if len(services) > 0 || len(errs) == 0 {
				if services == nil {
					services = []swarm.Service{}
				}
				if err := format.IndentedJSON(env.Out, services); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "print a human-readable summary")
	cmd.Flags().StringVar(&out, "format", format.JSON, "json")
	return cmd
}
