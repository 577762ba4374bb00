package node

import (
	"fmt"

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
		Short:   "List the nodes of the cluster",
		Long: `List the nodes of the cluster: ID (with a * on the node of the manager
answering), HOSTNAME, STATUS, AVAILABILITY, MANAGER STATUS (Leader,
Reachable, Unreachable; empty for workers) and ENGINE VERSION.`,
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
			nodes, err := c.NodeList(cmd.Context(), swarm.NodeListOptions{Filters: f})
			if err != nil {
				return err
			}
			info, err := c.Info(cmd.Context())
			if err != nil {
				return fmt.Errorf("finding the current node: %w", err)
			}
			return format.Nodes(nodes, info.Swarm.NodeID, lo).Write(env.Out, lo)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&lo.Quiet, "quiet", "q", false, "print IDs only")
	fs.StringVar(&lo.Format, "format", format.Table, "table, or json (one object a line)")
	fs.BoolVar(&lo.NoTrunc, "no-trunc", false, "do not truncate IDs")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "filter KEY=VALUE: id, name, role, membership, label (repeatable)")
	return cmd
}
