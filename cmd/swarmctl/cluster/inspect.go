package cluster

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

func newInspectCommand(env *command.Env) *cobra.Command {
	var (
		pretty bool
		out    string
	)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS]",
		Short: "Show the cluster's settings",
		Long: `Show the cluster object: its ID, settings and root CA, as JSON by default,
as a summary with --pretty. The join tokens are left out: they are secrets,
shown by "cluster join-token".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out != format.JSON {
				return fmt.Errorf("--format %q: inspect writes json (or --pretty)", out)
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			sw, err := c.SwarmInspect(cmd.Context())
			if err != nil {
				return err
			}
			// The ClusterInfo is GET /swarm without the join tokens.
			if pretty {
				return format.PrettyCluster(env.Out, sw.ClusterInfo)
			}
			return format.IndentedJSON(env.Out, sw.ClusterInfo)
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "print a human-readable summary")
	cmd.Flags().StringVar(&out, "format", format.JSON, "json")
	return cmd
}
