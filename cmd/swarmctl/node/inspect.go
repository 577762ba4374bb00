package node

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
		Use:   "inspect [OPTIONS] NODE [NODE...]",
		Short: "Show nodes in detail",
		Long: `Show nodes, by ID, hostname or ID prefix ("self" is the node of the manager
answering): a JSON array by default, a summary with --pretty.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != format.JSON {
				return fmt.Errorf("--format %q: inspect writes json (or --pretty)", out)
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			var (
				nodes []swarm.Node
				errs  []error
			)
			for _, ref := range args {
				id, err := resolveSelf(cmd.Context(), c, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				n, _, err := c.NodeInspectWithRaw(cmd.Context(), id)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				nodes = append(nodes, n)
			}
			if pretty {
				for i, n := range nodes {
					if i > 0 {
						fmt.Fprintln(env.Out)
					}
					if err := format.PrettyNode(env.Out, n); err != nil {
						return err
					}
				}
			} else if len(nodes) > 0 || len(errs) == 0 {
				if nodes == nil {
					nodes = []swarm.Node{}
				}
				if err := format.IndentedJSON(env.Out, nodes); err != nil {
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
