package service

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newRmCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove services",
		Long: `Remove services; their tasks are shut down. Every service is tried; the
command fails if one could not be removed.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if err := c.ServiceRemove(cmd.Context(), ref); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", ref, err))
					continue
				}
				fmt.Fprintln(env.Out, ref)
			}
			return errors.Join(errs...)
		},
	}
}
