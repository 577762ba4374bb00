package main

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/manager"
)

func newInitCommand() *cobra.Command {
	var o options
	var forceNewCluster bool
	cmd := &cobra.Command{
		Use:   "init --data-dir DIR [flags]",
		Short: "Create a new cluster with this node as its first manager, and run it",
		Long: `Create a new cluster with this node as its first manager, and run it in the
foreground. With --force-new-cluster, recover a cluster that lost its quorum
for good: the manager in DIR becomes the only manager, keeping the state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config()
			if err != nil {
				return err
			}
			var m *manager.Manager
			if forceNewCluster {
				m, err = manager.ForceNewCluster(cfg)
			} else {
				m, err = manager.Init(cfg)
			}
			if err != nil {
				return err
			}
			return serve(m)
		},
	}
	o.addFlags(cmd, true)
	cmd.Flags().BoolVar(&forceNewCluster, "force-new-cluster", false, "make the manager in DIR the only manager of its cluster (after a permanent loss of quorum)")
	return cmd
}
