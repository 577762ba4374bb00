package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// Roles a join token admits.
const (
	roleWorker  = "worker"
	roleManager = "manager"
)

func newJoinTokenCommand(env *command.Env) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "join-token [OPTIONS] worker|manager",
		Short: "Show, or rotate, the token that lets a node join",
		Long: `Show the command that adds a worker or a manager to the cluster, with its
join token and the address of the manager answering.

--rotate issues a new token: the old one stops admitting nodes; nodes that
already joined are not affected.`,
		Example: `  swarmctl cluster join-token worker
  swarmctl cluster join-token -q manager
  swarmctl cluster join-token --rotate worker`,
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []cobra.Completion{roleWorker, roleManager},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			return runJoinToken(cmd.Context(), env, c, args[0], quiet, rotate)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the token only")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the token with a new one")
	return cmd
}

func runJoinToken(ctx context.Context, env *command.Env, c command.Client, role string, quiet, rotate bool) error {
	if rotate {
		sw, err := c.SwarmInspect(ctx)
		if err != nil {
			return err
		}
		flags := swarm.UpdateFlags{RotateWorkerToken: role == roleWorker, RotateManagerToken: role == roleManager}
		if err := c.SwarmUpdate(ctx, sw.Version, sw.Spec, flags); err != nil {
			return err
		}
		if !quiet {
			fmt.Fprintf(env.Out, "Successfully rotated %s join token.\n\n", role)
		}
	}
	sw, err := c.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	token := sw.JoinTokens.Worker
	if role == roleManager {
		token = sw.JoinTokens.Manager
	}
	if quiet {
		_, err := fmt.Fprintln(env.Out, token)
		return err
	}
	addr, err := managerAddr(ctx, c)
	if err != nil {
		return err
	}
	return writeJoinCommand(env.Out, role, token, addr)
}

// managerAddr is the cluster address of the manager answering: its
// ManagerStatus.Addr, or the address it lists for itself among the
// managers it knows.
func managerAddr(ctx context.Context, c command.Client) (string, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	self := info.Swarm.NodeID
	if self != "" {
		n, _, err := c.NodeInspectWithRaw(ctx, self)
		if err != nil {
			return "", err
		}
		if n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
			return n.ManagerStatus.Addr, nil
		}
	}
	peers := slices.Clone(info.Swarm.RemoteManagers)
	slices.SortFunc(peers, func(a, b swarm.Peer) int { return strings.Compare(a.Addr, b.Addr) })
	for _, p := range peers {
		if p.NodeID == self {
			return p.Addr, nil
		}
	}
	if len(peers) > 0 {
		return peers[0].Addr, nil
	}
	return "", errors.New("the manager reports no cluster address for itself or any other manager")
}

// writeJoinCommand writes the instructions for joining a node, with the
// commands of shoal's own binaries.
func writeJoinCommand(w io.Writer, role, token, addr string) error {
	var err error
	if role == roleManager {
		_, err = fmt.Fprintf(w, "To add a manager to this cluster, run the following command on the new node,\n"+
			"with DIR the directory it will keep its state in:\n\n"+
			"    manager join --token %s --data-dir DIR %s\n\n", token, addr)
	} else {
		_, err = fmt.Fprintf(w, "To add a worker to this cluster, run the following command on the new node:\n\n"+
			"    worker join --token %s %s\n\n", token, addr)
	}
	return err
}
