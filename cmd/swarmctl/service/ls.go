package service

import (
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

func newLsCommand(env *command.Env) *cobra.Command {
	var (
		lo      format.ListOptions
		filters []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List services",
		Long: `List services: ID, NAME, MODE, REPLICAS (running/desired tasks), IMAGE and
PORTS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := format.CheckFormat(lo.Format); err != nil {
				return err
			}
			f, err := opts.ParseFilters(filters)
			if err != nil {
				return err
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			services, err := c.ServiceList(cmd.Context(), swarm.ServiceListOptions{Filters: f, Status: true})
			if err != nil {
				return err
			}
			return format.Services(services, lo).Write(env.Out, lo)
		},
	}
	addListFlags(cmd, &lo)
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter KEY=VALUE: id, name, label, mode (repeatable)")
	return cmd
}

// addListFlags registers -q, --format and --no-trunc.
func addListFlags(cmd *cobra.Command, lo *format.ListOptions) {
	fs := cmd.Flags()
	fs.BoolVarP(&lo.Quiet, "quiet", "q", false, "print IDs only")
	fs.StringVar(&lo.Format, "format", format.Table, "table, or json (one object a line)")
	fs.BoolVar(&lo.NoTrunc, "no-trunc", false, "do not truncate IDs and errors")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]cobra.Completion{format.Table, format.JSON}, cobra.ShellCompDirectiveNoFileComp))
}
