package secret

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd"
)

func newRmCommand(env *command.Env) *cobra.Command {
	return objcmd.Rm(env, kind)
}
