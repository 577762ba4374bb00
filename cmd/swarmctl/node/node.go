// Package node holds the `swarmctl node` commands, one file per verb.
// Changes read the node with its version and send its whole spec back, as
// the docker CLI does, so a concurrent change fails with "update out of
// sequence" instead of being overwritten.
package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// NewCommand returns `swarmctl node` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage the nodes of the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newLsCommand(env),
		newInspectCommand(env),
		newDrainCommand(env),
		newActivateCommand(env),
		newPauseCommand(env),
		newPromoteCommand(env),
		newDemoteCommand(env),
		newRmCommand(env),
		newUpdateCommand(env),
	)
	return cmd
}

// specChange edits a node's spec. It returns done with a message when there
// is nothing to change (the node is already as asked), and an error to
// refuse the change.
type specChange func(n swarm.Node, spec *swarm.NodeSpec) (done string, err error)

// updateNodes applies change to each node in refs and prints what
// happened: success(ref) for a node that was changed. Every node is tried;
// the errors are returned together.
func updateNodes(ctx context.Context, env *command.Env, refs []string, change specChange, success func(ref string) string) error {
	c, err := env.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		if err := updateNode(ctx, env, c, ref, change, success); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

func updateNode(ctx context.Context, env *command.Env, c command.Client, ref string, change specChange, success func(string) string) error {
	id, err := resolveSelf(ctx, c, ref)
	if err != nil {
		return err
	}
	n, _, err := c.NodeInspectWithRaw(ctx, id)
	if err != nil {
		return err
	}
	spec := n.Spec
	done, err := change(n, &spec)
	if err != nil {
		return err
	}
	if done != "" {
		fmt.Fprintln(env.Out, done)
		return nil
	}
	if err := c.NodeUpdate(ctx, n.ID, n.Version, spec); err != nil {
		return err
	}
	fmt.Fprintln(env.Out, success(ref))
	return nil
}

// self names the node of the manager answering, as in the docker CLI.
const self = "self"

// resolveSelf turns "self" into the ID of the manager's own node (GET
// /info); other references go to the manager as they are.
func resolveSelf(ctx context.Context, c command.Client, ref string) (string, error) {
	if ref != self {
		return ref, nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Swarm.NodeID == "" {
		return "", errors.New("the manager reports no node of its own")
	}
	return info.Swarm.NodeID, nil
}

// setAvailability is the change of drain, activate and pause.
func setAvailability(a swarm.NodeAvailability) specChange {
	return func(_ swarm.Node, spec *swarm.NodeSpec) (string, error) {
		spec.Availability = a
		return "", nil
	}
}

// printRef is the success message of most commands: the node as named.
func printRef(ref string) string { return ref }

// completeNodes completes node hostnames, for the shells.
func completeNodes(env *command.Env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := env.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		nodes, err := c.NodeList(cmd.Context(), swarm.NodeListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]cobra.Completion, 0, len(nodes))
		for _, n := range nodes {
			names = append(names, n.Description.Hostname)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
