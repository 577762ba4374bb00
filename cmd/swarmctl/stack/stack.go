// Package stack holds the `swarmctl stack` commands, one file per verb: a
// compose file deployed as a stack of services, networks, secrets and
// configs, as `docker stack` does. The compose file is parsed by
// compose-go (Load) and converted as docker/cli's cli/compose/convert
// does (Convert): objects are named NAMESPACE_name and labelled
// com.docker.stack.namespace=NAMESPACE, services without networks join
// NAMESPACE_default, and each service is reachable on its networks by its
// short name.
package stack

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// Client is what the stack commands need of a manager: the Docker
// client's services, tasks, nodes, networks, secrets and configs.
type Client interface {
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceCreate(ctx context.Context, service swarm.ServiceSpec, options swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceUpdate(ctx context.Context, serviceID string, version swarm.Version, service swarm.ServiceSpec, options swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, network string) error
	SecretList(ctx context.Context, options swarm.SecretListOptions) ([]swarm.Secret, error)
	SecretCreate(ctx context.Context, secret swarm.SecretSpec) (swarm.SecretCreateResponse, error)
	SecretUpdate(ctx context.Context, id string, version swarm.Version, secret swarm.SecretSpec) error
	SecretRemove(ctx context.Context, id string) error
	ConfigList(ctx context.Context, options swarm.ConfigListOptions) ([]swarm.Config, error)
	ConfigCreate(ctx context.Context, config swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigUpdate(ctx context.Context, id string, version swarm.Version, config swarm.ConfigSpec) error
	ConfigRemove(ctx context.Context, id string) error
}

// NewCommand returns `swarmctl stack` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Manage stacks (compose files deployed as services)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newDeployCommand(env),
		newLsCommand(env),
		newServicesCommand(env),
		newPsCommand(env),
		newRmCommand(env),
	)
	return cmd
}

// client returns the manager's client with the stack's needs.
func client(env *command.Env) (Client, error) {
	c, err := env.Client()
	if err != nil {
		return nil, err
	}
	sc, ok := c.(Client)
	if !ok {
		return nil, fmt.Errorf("this client cannot manage networks, secrets and configs")
	}
	return sc, nil
}

// namespaceFilter selects a stack's objects.
func namespaceFilter(namespace string) filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelNamespace+"="+namespace))
}

// stackServices lists a stack's services.
func stackServices(ctx context.Context, c Client, namespace string, status bool) ([]swarm.Service, error) {
	return c.ServiceList(ctx, swarm.ServiceListOptions{Filters: namespaceFilter(namespace), Status: status})
}
