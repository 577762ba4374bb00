package stack

import (
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

func newPsCommand(env *command.Env) *cobra.Command {
	var lo format.ListOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] NAME",
		Short: "List the tasks of a stack",
		Long:  `List the tasks of a stack's services, with their state and error: a task that fails shows why.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := format.CheckFormat(lo.Format); err != nil {
				return err
			}
			c, err := client(env)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			services, err := stackServices(ctx, c, args[0], false)
			if err != nil {
				return err
			}
			if len(services) == 0 {
				return fmt.Errorf("nothing found in stack: %s", args[0])
			}
			tc := format.TaskContext{ServiceNames: map[string]string{}, NodeNames: map[string]string{}, Now: env.Now()}
			f := filters.NewArgs()
			for _, s := range services {
				tc.ServiceNames[s.ID] = s.Spec.Name
				f.Add("service", s.ID)
			}
			tasks, err := c.TaskList(ctx, swarm.TaskListOptions{Filters: f})
			if err != nil {
				return err
			}
			nodes, err := c.NodeList(ctx, swarm.NodeListOptions{})
			if err != nil {
				return fmt.Errorf("reading node names: %w", err)
			}
			for _, n := range nodes {
				tc.NodeNames[n.ID] = n.Description.Hostname
			}
			return format.Tasks(tasks, tc, lo).Write(env.Out, lo)
		},
	}
	addListFlags(cmd, &lo)
	return cmd
}
