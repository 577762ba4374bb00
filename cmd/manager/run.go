package main

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/internal/nodecmd"
)

func newRunCommand() *cobra.Command {
	var o nodecmd.Options
	cmd := &cobra.Command{
		Use:   "run --data-dir DIR",
		Short: "Restart a node from its data dir, with the settings given at init or join",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			d, err := daemon.Open(cfg)
			if err != nil {
				return err
			}
			return nodecmd.Serve(d)
		},
	}
	o.AddFlags(cmd, nodecmd.Flags{Addrs: true, API: true, Raft: true, Rejoin: true})
	return cmd
}
