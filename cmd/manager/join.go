package main

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/internal/nodecmd"
)

func newJoinCommand() *cobra.Command {
	var o nodecmd.Options
	var token nodecmd.JoinToken
	cmd := &cobra.Command{
		Use:   "join --data-dir DIR --token TOKEN [flags] MANAGER_ADDR",
		Short: "Join a cluster as a manager, and run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			tok, err := token.Get()
			if err != nil {
				return err
			}
			d, err := daemon.JoinManager(nodecmd.CatchSignals(), cfg, tok, args[0])
			if err != nil {
				return nodecmd.ExplainJoinError(err)
			}
			return nodecmd.Serve(d)
		},
	}
	o.AddFlags(cmd, nodecmd.Flags{Addrs: true, API: true, Raft: true, Join: true})
	token.AddFlags(cmd, "manager join token (swarmctl cluster join-token manager)")
	return cmd
}
