package objcmd

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

// Ls returns `ls [OPTIONS]`.
func Ls[O any](env *command.Env, k Kind[O]) *cobra.Command {
	var (
		lo      format.ListOptions
		filters []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List the cluster's " + k.Plural,
		Long:    "List the cluster's " + k.Plural + ": ID, NAME, CREATED and UPDATED.",
		Args:    cobra.NoArgs,
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
			list, err := k.List(cmd.Context(), c, f)
			if err != nil {
				return err
			}
			return k.Listing(list, env.Now(), lo).Write(env.Out, lo)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&lo.Quiet, "quiet", "q", false, "print IDs only")
	fs.StringVar(&lo.Format, "format", format.Table, "table, or json (one object a line)")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "filter KEY=VALUE: id, name (prefixes), names (exact), label (repeatable)")
	return cmd
}
