package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/manager"
)

func newJoinCommand() *cobra.Command {
	var o options
	var token string
	cmd := &cobra.Command{
		Use:   "join --data-dir DIR --token TOKEN [flags] MANAGER_ADDR",
		Short: "Join a cluster as a manager, and run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.config()
			if err != nil {
				return err
			}
			m, err := manager.Join(context.Background(), cfg, token, args[0])
			if err != nil {
				return err
			}
			return serve(m)
		},
	}
	o.addFlags(cmd, true)
	cmd.Flags().StringVar(&token, "token", "", "manager join token (swarmctl cluster join-token manager)")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}
