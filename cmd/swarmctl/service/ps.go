package service

import (
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

func newPsCommand(env *command.Env) *cobra.Command {
	var (
		lo      format.ListOptions
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of services",
		Long: `List the tasks of services, the current task of each slot first and its
history indented under it, newest first.`,
		Example: `  swarmctl service ps web
  swarmctl service ps --filter desired-state=running web api`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(env),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			ctx := cmd.Context()
			tc := format.TaskContext{ServiceNames: map[string]string{}, NodeNames: map[string]string{}, Now: env.Now()}
			var errs []error
			for _, ref := range args {
				svc, _, err := c.ServiceInspectWithRaw(ctx, ref, swarm.ServiceInspectOptions{})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				tc.ServiceNames[svc.ID] = svc.Spec.Name
				f.Add("service", svc.ID)
			}
			if len(tc.ServiceNames) == 0 {
				return errors.Join(errs...)
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
			if err := format.Tasks(tasks, tc, lo).Write(env.Out, lo); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	addListFlags(cmd, &lo)
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter KEY=VALUE: desired-state (running, shutdown, accepted), node, id, name (repeatable)")
	return cmd
}
