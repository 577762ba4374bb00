package secret

import (
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/objcmd"
)

// maxRead bounds what create reads: twice the manager's limit, so that a
// larger input is refused by the manager with its message, not cut.
const maxRead = 2 * 500 * 1024

const createLong = `Create a secret with the content of FILE, or of standard input if FILE is
"-", and print its ID. The data is
never shown again: inspect shows the name and labels only.`

func newCreateCommand(env *command.Env) *cobra.Command {
	return objcmd.Create(env, kind)
}
