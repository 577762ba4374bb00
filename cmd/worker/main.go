// Command worker runs a swarm worker: it joins a cluster with a worker
// token, pulls the tasks assigned to it from the managers and runs them as
// containers on the local Docker daemon.
//
//	worker join --data-dir DIR --token T MANAGER_ADDR   join a cluster as a worker
//	worker run  --data-dir DIR                          restart from the data dir
//
// A worker that is promoted becomes a manager in place; `worker run` and
// `manager run` both restart a node in the role it has.
//
// A worker serves a Docker Engine API socket of its own, DATA_DIR/swarm.sock
// (mode 0600) unless --api-socket names another path or is "off", as a
// Docker worker's socket answers: `docker info` shows the engine and
// "Swarm: active" with the node's ID and address, "Is Manager: false" and
// the managers' addresses; every command that reads or writes the cluster
// state (docker node ls, docker service ls, ...) is refused with Docker's
// 503 "This node is not a swarm manager. Worker nodes can't be used to
// view or modify cluster state. ...". Once promoted, the node's manager
// serves the control API on the same socket; once demoted, the socket
// answers as a worker's again.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/internal/nodecmd"
)

func main() {
	nodecmd.CatchSignals()
	root := &cobra.Command{
		Use:           "worker",
		Short:         "Run a swarm worker",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newJoinCommand(), newRunCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func newJoinCommand() *cobra.Command {
	var o nodecmd.Options
	var token nodecmd.JoinToken
	cmd := &cobra.Command{
		Use:   "join --data-dir DIR --token TOKEN [flags] MANAGER_ADDR",
		Short: "Join a cluster as a worker, and run",
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
			d, err := daemon.JoinWorker(nodecmd.CatchSignals(), cfg, tok, args[0])
			if err != nil {
				return nodecmd.ExplainJoinError(err)
			}
			return nodecmd.Serve(d)
		},
	}
	o.AddFlags(cmd, nodecmd.Flags{Addrs: true, Join: true, Socket: true})
	token.AddFlags(cmd, "worker join token (swarmctl cluster join-token worker)")
	return cmd
}

func newRunCommand() *cobra.Command {
	var o nodecmd.Options
	cmd := &cobra.Command{
		Use:   "run --data-dir DIR",
		Short: "Restart a node from its data dir, with the settings given at join",
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
	o.AddFlags(cmd, nodecmd.Flags{Addrs: true, Rejoin: true, Socket: true})
	return cmd
}
