package objcmd

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

// Inspect returns `inspect NOUN [NOUN...]`, which prints a JSON array.
func Inspect[O any](env *command.Env, k Kind[O]) *cobra.Command {
	upper := strings.ToUpper(k.Noun)
	return &cobra.Command{
		Use:               "inspect " + upper + " [" + upper + "...]",
		Short:             "Show " + k.Plural + " in detail",
		Long:              k.InspectLong,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: complete(env, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			list := []O{}
			var errs []error
			for _, ref := range args {
				o, err := k.Inspect(cmd.Context(), c, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				list = append(list, o)
			}
			if len(list) > 0 || len(errs) == 0 {
				if err := format.IndentedJSON(env.Out, list); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}
