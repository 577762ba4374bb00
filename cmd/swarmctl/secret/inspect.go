package secret

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd"
)

const inspectLong = `Show secrets, by ID, name or ID prefix, as a JSON array. The data is never
shown.`

func newInspectCommand(env *command.Env) *cobra.Command {
	return objcmd.Inspect(env, kind)
}
