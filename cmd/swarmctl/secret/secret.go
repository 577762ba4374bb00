// Package secret holds the `swarmctl secret` commands, one file per verb.
// A secret's data goes to the managers and to the nodes whose tasks use
// it; no command shows it again.
package secret

import (
	"context"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd"
)

// kind is what the secret verbs share with the other nouns of objcmd.
var kind = objcmd.Kind[swarm.Secret]{
	Noun:        "secret",
	Plural:      "secrets",
	MaxRead:     maxRead,
	CreateLong:  createLong,
	InspectLong: inspectLong,
	List: func(ctx context.Context, c command.Client, f filters.Args) ([]swarm.Secret, error) {
		return c.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	},
	Create: func(ctx context.Context, c command.Client, name string, labels map[string]string, data []byte) (string, error) {
		resp, err := c.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
		return resp.ID, err
	},
	Inspect: func(ctx context.Context, c command.Client, ref string) (swarm.Secret, error) {
		o, _, err := c.SecretInspectWithRaw(ctx, ref)
		return o, err
	},
	Remove:  func(ctx context.Context, c command.Client, ref string) error { return c.SecretRemove(ctx, ref) },
	Name:    func(o swarm.Secret) string { return o.Spec.Name },
	Listing: format.Secrets,
}

// NewCommand returns `swarmctl secret` with its verbs.
func NewCommand(env *command.Env) *cobra.Command {
	return objcmd.NewCommand(kind,
		newCreateCommand(env),
		newLsCommand(env),
		newInspectCommand(env),
		newRmCommand(env),
	)
}
