package network

import (
	"github.com/docker/docker/api/types/network"
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
		Short:   "List the cluster's networks",
		Long:    `List the cluster's networks: NETWORK ID, NAME, DRIVER, SCOPE and SUBNET.`,
		Args:    cobra.NoArgs,
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
			nets, err := c.NetworkList(cmd.Context(), network.ListOptions{Filters: f})
			if err != nil {
				return err
			}
			return format.Networks(nets, lo).Write(env.Out, lo)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&lo.Quiet, "quiet", "q", false, "print IDs only")
	fs.StringVar(&lo.Format, "format", format.Table, "table, or json (one object a line)")
	fs.BoolVar(&lo.NoTrunc, "no-trunc", false, "do not truncate IDs")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "filter KEY=VALUE: id, name, label, driver, scope, type, dangling (repeatable)")
	return cmd
}
