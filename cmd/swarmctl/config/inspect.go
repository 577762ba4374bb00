package config

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd"
)

const inspectLong = `Show configs, by ID, name or ID prefix, as a JSON array. The data is
shown, base64-encoded as in Docker's API.`

func newInspectCommand(env *command.Env) *cobra.Command {
	return objcmd.Inspect(env, kind)
}
