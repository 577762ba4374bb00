package node

import (
	"fmt"
	"maps"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

// updateOptions are the flags of `node update`.
type updateOptions struct {
	availability string
	role         string
	labelAdd     []string
	labelRm      []string
}

// change is the spec change the flags ask for; changed tells which flags
// were given.
func (o *updateOptions) change(changed func(string) bool) (specChange, error) {
	var avail swarm.NodeAvailability
	if changed("availability") {
		switch a := swarm.NodeAvailability(o.availability); a {
		case swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
			avail = a
		default:
			return nil, fmt.Errorf("--availability %q: want active, pause or drain", o.availability)
		}
	}
	var role swarm.NodeRole
	if changed("role") {
		switch r := swarm.NodeRole(o.role); r {
		case swarm.NodeRoleWorker, swarm.NodeRoleManager:
			role = r
		default:
			return nil, fmt.Errorf("--role %q: want worker or manager", o.role)
		}
	}
	add, err := opts.ParseLabels(o.labelAdd)
	if err != nil {
		return nil, fmt.Errorf("--label-add %w", err)
	}
	if avail == "" && role == "" && len(add) == 0 && len(o.labelRm) == 0 {
		return nil, fmt.Errorf("nothing to change: give --availability, --role, --label-add or --label-rm")
	}
	return func(n swarm.Node, spec *swarm.NodeSpec) (string, error) {
		if avail != "" {
			spec.Availability = avail
		}
		if role != "" {
			spec.Role = role
		}
		if len(add)+len(o.labelRm) > 0 {
			labels := maps.Clone(spec.Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			for _, k := range o.labelRm {
				if _, ok := labels[k]; !ok {
					return "", fmt.Errorf("--label-rm %q: the node has no such label", k)
				}
				delete(labels, k)
			}
			maps.Copy(labels, add)
			spec.Labels = labels
		}
		return "", nil
	}, nil
}

func newUpdateCommand(env *command.Env) *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] NODE",
		Short: "Change a node's availability, role or labels",
		Long: `Change a node's availability, role or labels. Labels are what placement
constraints such as node.labels.zone==a match.`,
		Example: `  swarmctl node update --label-add zone=a --label-add ssd node-2
  swarmctl node update --availability drain node-3`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodes(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			change, err := o.change(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return updateNodes(cmd.Context(), env, args, change, printRef)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.availability, "availability", "", "active, pause or drain")
	fs.StringVar(&o.role, "role", "", "worker or manager")
	fs.StringArrayVar(&o.labelAdd, "label-add", nil, "add or change a label KEY=VALUE (repeatable)")
	fs.StringArrayVar(&o.labelRm, "label-rm", nil, "remove the label KEY (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("availability", cobra.FixedCompletions([]cobra.Completion{"active", "pause", "drain"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]cobra.Completion{"worker", "manager"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
