package cluster

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

func newUnlockKeyCommand(env *command.Env) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "unlock-key [-q] [--rotate]",
		Short: "Show, or rotate, the key that unlocks managers when autolock is on",
		Long: `Show the unlock key a locked manager needs to restart (manager unlock).
--rotate makes a new key; managers rewrap their data keys with it. A manager
that is down during the rotation still needs the previous key once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			return runUnlockKey(cmd.Context(), env, c, quiet, rotate)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the key only")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the key with a new one")
	return cmd
}

func runUnlockKey(ctx context.Context, env *command.Env, c command.Client, quiet, rotate bool) error {
	if rotate {
		sw, err := c.SwarmInspect(ctx)
		if err != nil {
			return err
		}
		if !sw.Spec.EncryptionConfig.AutoLockManagers {
			return fmt.Errorf("autolock is off: turn it on with `%s cluster update --autolock=true`", env.ProgramName)
		}
		if err := c.SwarmUpdate(ctx, sw.Version, sw.Spec, swarm.UpdateFlags{RotateManagerUnlockKey: true}); err != nil {
			return err
		}
		if !quiet {
			fmt.Fprintln(env.Out, "Successfully rotated the manager unlock key.")
			fmt.Fprintln(env.Out)
		}
	}
	key, err := c.SwarmGetUnlockKey(ctx)
	if err != nil {
		return err
	}
	if quiet {
		_, err := fmt.Fprintln(env.Out, key.UnlockKey)
		return err
	}
	_, err = fmt.Fprintf(env.Out, "To unlock a manager after it restarts, run `manager unlock --data-dir DIR`\nand give this key:\n\n    %s\n\nKeep it safe: without it a locked manager cannot restart.\n", key.UnlockKey)
	return err
}
