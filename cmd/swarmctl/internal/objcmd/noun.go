package objcmd

import (
	"github.com/docker/docker/api/types/filters"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// NewCommand returns the noun command (`swarmctl secret`) with its verbs.
func NewCommand[O any](k Kind[O], verbs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   k.Noun,
		Short: "Manage the cluster's " + k.Plural,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(verbs...)
	return cmd
}

// complete completes the kind's names, for the shells.
func complete[O any](env *command.Env, k Kind[O]) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := env.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		list, err := k.List(cmd.Context(), c, filters.Args{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]cobra.Completion, 0, len(list))
		for _, o := range list {
			names = append(names, k.Name(o))
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
