package network

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newRmCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove networks",
		Long: `Remove networks. A network is refused while a service uses it or a task
still runs on it.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNetworks(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if err := c.NetworkRemove(cmd.Context(), ref); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", ref, err))
					continue
				}
				fmt.Fprintln(env.Out, ref)
			}
			return errors.Join(errs...)
		},
	}
}
