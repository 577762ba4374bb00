package objcmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// Rm returns `rm NOUN [NOUN...]`.
func Rm[O any](env *command.Env, k Kind[O]) *cobra.Command {
	upper := strings.ToUpper(k.Noun)
	return &cobra.Command{
		Use:               "rm " + upper + " [" + upper + "...]",
		Aliases:           []string{"remove"},
		Short:             "Remove " + k.Plural,
		Long:              "Remove " + k.Plural + ". A " + k.Noun + " is refused while a service uses it.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: complete(env, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if err := k.Remove(cmd.Context(), c, ref); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", ref, err))
					continue
				}
				fmt.Fprintln(env.Out, ref)
			}
			return errors.Join(errs...)
		},
	}
}
