package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/internal/nodecmd"
)

func newInitCommand() *cobra.Command {
	var o nodecmd.Options
	var forceNewCluster, autolock bool
	var restore string
	var addrPool []string
	var subnetSize uint32
	cmd := &cobra.Command{
		Use:   "init --data-dir DIR [flags]",
		Short: "Create a new cluster with this node as its first manager, and run it",
		Long: `Create a new cluster with this node as its first manager, and run it in the
foreground. With --force-new-cluster, recover a cluster that lost its quorum
for good: the manager in DIR becomes the only manager, keeping the state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			cfg.Manager.AutoLock = autolock
			cfg.Manager.RestoreFrom = restore
			cfg.Manager.DefaultAddrPool, cfg.Manager.SubnetSize = addrPool, subnetSize
			var d *daemon.Daemon
			if forceNewCluster {
				d, err = daemon.ForceNewCluster(cfg)
			} else {
				d, err = daemon.InitManager(cfg)
			}
			if err != nil {
				return err
			}
			if key := d.UnlockKey(); key != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Autolock is on. To restart this manager, run `manager unlock --data-dir %s`\nand give this unlock key (store it safely, it is not shown again):\n\n    %s\n\n", cfg.DataDir, key)
			}
			return nodecmd.Serve(d)
		},
	}
	o.AddFlags(cmd, nodecmd.Flags{Addrs: true, API: true, Raft: true})
	cmd.Flags().StringVar(&restore, "restore", "", "start the new cluster from a backup (swarmctl cluster backup FILE), with this node as its only manager")
	cmd.Flags().BoolVar(&autolock, "autolock", false, "protect the managers' Raft data keys with an unlock key, required on restart (manager unlock)")
	cmd.Flags().StringSliceVar(&addrPool, "default-addr-pool", nil, "address pools (IPv4 CIDR, repeatable) that networks' subnets are taken from (default 10.0.0.0/8)")
	cmd.Flags().Uint32Var(&subnetSize, "default-addr-pool-mask-length", 24, "prefix length of the subnets taken from the address pools")
	cmd.Flags().BoolVar(&forceNewCluster, "force-new-cluster", false, "make the manager in DIR the only manager of its cluster (after a permanent loss of quorum)")
	return cmd
}
