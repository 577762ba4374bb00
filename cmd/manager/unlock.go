package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/internal/nodecmd"
)

func newUnlockCommand() *cobra.Command {
	var o nodecmd.Options
	var keyFile string
	cmd := &cobra.Command{
		Use:   "unlock --data-dir DIR [--unlock-key-file FILE]",
		Short: "Restart a locked manager (autolock): read the unlock key, then run",
		Long: `Restart a manager of a cluster with autolock on. The unlock key
(swarmctl cluster unlock-key, docker swarm unlock-key) is read from
--unlock-key-file, or from standard input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			raw, err := readUnlockKey(cmd, keyFile)
			if err != nil {
				return err
			}
			key, err := encryption.ParseUnlockKey(raw)
			if err != nil {
				return err
			}
			cfg.Manager.UnlockKey = key
			d, err := daemon.Open(cfg)
			if err != nil {
				return err
			}
			return nodecmd.Serve(d)
		},
	}
	o.AddFlags(cmd, nodecmd.Flags{Addrs: true, API: true, Raft: true})
	cmd.Flags().StringVar(&keyFile, "unlock-key-file", "", "file holding the unlock key (default: read it from standard input)")
	return cmd
}

func readUnlockKey(cmd *cobra.Command, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Unlock key: ")
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the unlock key: %w", err)
	}
	return strings.TrimSpace(line), nil
}
