package stack

import (
	"fmt"
	"slices"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

func newLsCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List stacks",
		Long:    `List the stacks: the namespaces of services labelled com.docker.stack.namespace, with their number of services.`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(env)
			if err != nil {
				return err
			}
			services, err := c.ServiceList(cmd.Context(), swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNamespace))})
			if err != nil {
				return err
			}
			counts := map[string]int{}
			for _, s := range services {
				if ns := s.Spec.Labels[LabelNamespace]; ns != "" {
					counts[ns]++
				}
			}
			names := sortedKeys(counts)
			slices.Sort(names)
			w := format.NewTabWriter(env.Out)
			fmt.Fprintln(w, "NAME\tSERVICES")
			for _, n := range names {
				fmt.Fprintf(w, "%s\t%d\n", n, counts[n])
			}
			return w.Flush()
		},
	}
}
