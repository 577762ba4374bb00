package main

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/manager"
)

func newRunCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "run --data-dir DIR",
		Short: "Restart a manager from its data dir, with the settings given at init or join",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config()
			if err != nil {
				return err
			}
			m, err := manager.Open(cfg)
			if err != nil {
				return err
			}
			return serve(m)
		},
	}
	o.addFlags(cmd, true)
	return cmd
}
