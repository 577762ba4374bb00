package objcmd

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

// Create returns `create [OPTIONS] NAME FILE|-`.
func Create[O any](env *command.Env, k Kind[O]) *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NAME FILE|-",
		Short: "Create a " + k.Noun + " from a file or standard input",
		Long:  k.CreateLong,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := opts.ParseLabels(labels)
			if err != nil {
				return err
			}
			var in io.Reader = cmd.InOrStdin()
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			data, err := io.ReadAll(io.LimitReader(in, k.MaxRead))
			if err != nil {
				return fmt.Errorf("reading the %s: %w", k.Noun, err)
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			id, err := k.Create(cmd.Context(), c, args[0], l, data)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Out, id)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "label KEY[=VALUE] (repeatable)")
	return cmd
}
