// Package config holds the `swarmctl config` commands, one file per verb.
// A config is data that is not secret: inspect shows it.
package config

import (
	"context"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd"
)

// kind is what the config verbs share with the other nouns of objcmd.
var kind = objcmd.Kind[swarm.Config]{
	Noun:        "config",
	Plural:      "configs",
	MaxRead:     maxRead,
	CreateLong:  createLong,
	InspectLong: inspectLong,
	List: func(ctx context.Context, c command.Client, f filters.Args) ([]swarm.Config, error) {
		return c.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	},
	Create: func(ctx context.Context, c command.Client, name string, labels map[string]string, data []byte) (string, error) {
		resp, err := c.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
		return resp.ID, err
	},
	Inspect: func(ctx context.Context, c command.Client, ref string) (swarm.Config, error) {
		o, _, err := c.ConfigInspectWithRaw(ctx, ref)
		return o, err
	},
	Remove:  func(ctx context.Context, c command.Client, ref string) error { return c.ConfigRemove(ctx, ref) },
	Name:    func(o swarm.Config) string { return o.Spec.Name },
	Listing: format.Configs,
}

// NewCommand returns `swarmctl config` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	return objcmd.NewCommand(kind,
		newCreateCommand(env),
		newLsCommand(env),
		newInspectCommand(env),
		newRmCommand(env),
	)
}
