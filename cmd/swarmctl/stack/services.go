package stack

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

func newServicesCommand(env *command.Env) *cobra.Command {
	var lo format.ListOptions
	cmd := &cobra.Command{
		Use:   "services [OPTIONS] NAME",
		Short: "List the services of a stack",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := format.CheckFormat(lo.Format); err != nil {
				return err
			}
			c, err := client(env)
			if err != nil {
				return err
			}
			services, err := stackServices(cmd.Context(), c, args[0], true)
			if err != nil {
				return err
			}
			if len(services) == 0 {
				return fmt.Errorf("nothing found in stack: %s", args[0])
			}
			return format.Services(services, lo).Write(env.Out, lo)
		},
	}
	addListFlags(cmd, &lo)
	return cmd
}

// addListFlags registers -q, --format and --no-trunc.
func addListFlags(cmd *cobra.Command, lo *format.ListOptions) {
	fs := cmd.Flags()
	fs.BoolVarP(&lo.Quiet, "quiet", "q", false, "print IDs only")
	fs.StringVar(&lo.Format, "format", format.Table, "table, or json (one object a line)")
	fs.BoolVar(&lo.NoTrunc, "no-trunc", false, "do not truncate IDs and errors")
}
