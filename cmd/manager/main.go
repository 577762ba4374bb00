// Command manager runs a swarm manager: it keeps the cluster state in Raft,
// serves the Docker Engine API (swarm subset) and runs a local agent.
//
//	manager init --data-dir DIR                      new cluster, this node its first manager
//	manager join --data-dir DIR --token T ADDR       join a cluster as a manager
//	manager run  --data-dir DIR                      restart a node from its data dir
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/internal/nodecmd"
)

func main() {
	nodecmd.CatchSignals()
	root := &cobra.Command{
		Use:           "manager",
		Short:         "Run a swarm manager",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInitCommand(), newJoinCommand(), newRunCommand(), newUnlockCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}
