package network

import (
	"fmt"

	"github.com/docker/docker/api/types/network"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

func newCreateCommand(env *command.Env) *cobra.Command {
	var (
		o                        network.CreateOptions
		labels                   []string
		subnet, gateway, ipRange string
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NAME",
		Short: "Create an overlay network",
		Long: `Create an overlay network that services attach their tasks to
(service create --network NAME), and print its ID. Its subnet is taken from
the cluster's address pool unless --subnet names one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := opts.ParseLabels(labels)
			if err != nil {
				return err
			}
			o.Driver, o.Scope, o.Labels = "overlay", "swarm", l
			switch {
			case subnet != "":
				o.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gateway, IPRange: ipRange}}}
			case gateway != "" || ipRange != "":
				return fmt.Errorf("--gateway and --ip-range need --subnet")
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			resp, err := c.NetworkCreate(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Out, resp.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.Attachable, "attachable", false, "let containers that are not tasks attach")
	fs.BoolVar(&o.Internal, "internal", false, "give the network no route outside the cluster")
	fs.StringArrayVarP(&labels, "label", "l", nil, "label KEY[=VALUE] (repeatable)")
	fs.StringVar(&subnet, "subnet", "", "subnet in CIDR notation, e.g. 10.20.0.0/24")
	fs.StringVar(&gateway, "gateway", "", "gateway address in the subnet")
	fs.StringVar(&ipRange, "ip-range", "", "part of the subnet that task addresses come from, in CIDR notation")
	return cmd
}
