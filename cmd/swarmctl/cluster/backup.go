package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// backupPath is the manager's backup endpoint (not part of Docker's API).
const backupPath = "/shoal/backup"

// httpDoer is what the Docker client offers to reach an endpoint it has no
// method for: its own HTTP client and the address it dials.
type httpDoer interface {
	HTTPClient() *http.Client
	DaemonHost() string
}

func newBackupCommand(env *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent snapshot of the cluster state to FILE",
		Long: `Write a consistent snapshot of the whole cluster state (every write
acknowledged before the command is in it) to FILE, mode 0600. It holds the
cluster's secrets: the root CA key and the join tokens. Start a new cluster
from it with ` + "`manager init --restore FILE --data-dir DIR`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			d, ok := c.(httpDoer)
			if !ok {
				return fmt.Errorf("backup needs a connection to a manager")
			}
			n, err := backup(cmd.Context(), d, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Out, "Wrote %d bytes to %s\n", n, args[0])
			return nil
		},
	}
}

// backup streams the snapshot into a temporary file next to path and
// renames it only once the whole stream arrived.
func backup(ctx context.Context, d httpDoer, path string) (int64, error) {
	// The Docker client's transport dials the daemon host whatever the URL
	// host is; the scheme is ours to set. The path has no version prefix:
	// the endpoint is not Docker's.
	scheme := "http"
	if d.HTTPClient().Transport != nil {
		if t, ok := d.HTTPClient().Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
			scheme = "https"
		}
	}
	host := "docker"
	if u := d.DaemonHost(); len(u) > 6 && u[:6] == "tcp://" {
		host = u[6:]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+backupPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.HTTPClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("backup refused: %s: %s", resp.Status, b)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return 0, err
	}
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("backup interrupted: %w", err)
	}
	return n, os.Rename(tmp.Name(), path)
}
