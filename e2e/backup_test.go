package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// getBackup fetches a manager's backup over its unix socket.
func getBackup(t *testing.T, sock, path string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := cl.Get("http://manager/shoal/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("backup: %s %s", resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestBackupAndRestore backs a cluster up through the API and starts a new
// cluster from the backup: same cluster ID, join tokens and services.
func TestBackupAndRestore(t *testing.T) {
	c, nodes := startManagers(t, 1)
	m1 := nodes[0]
	ctx := context.Background()
	cl := m1.Client()
	for _, name := range []string{"web", "api"} {
		if err := create(ctx, cl, name); err != nil {
			t.Fatal(err)
		}
	}
	net, err := cl.NetworkCreate(ctx, "backed_up", network.CreateOptions{Driver: "overlay", Attachable: true})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := cl.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "backed_up_pw"}, Data: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := cl.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "backed_up.conf"}, Data: []byte("conf")})
	if err != nil {
		t.Fatal(err)
	}
	before, err := cl.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "cluster.backup")
	getBackup(t, m1.Socket, backup)
	m1.Kill()

	r := c.InitManager("restored", "--restore", backup)
	after := r.WaitReady(30 * time.Second)
	if after.ID != before.ID || after.JoinTokens != before.JoinTokens {
		t.Fatalf("restored cluster %s tokens %+v, want %s %+v", after.ID, after.JoinTokens, before.ID, before.JoinTokens)
	}
	rc := r.Client()
	proctest.Eventually(t, 20*time.Second, "the restored services", func() error {
		for _, name := range []string{"web", "api"} {
			if _, _, err := rc.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	ns, err := rc.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 {
		t.Fatalf("restored cluster has %d nodes, want the new manager and the old one", len(ns))
	}
	// Networks, secrets and configs come back with their IDs.
	if n, err := rc.NetworkInspect(ctx, "backed_up", network.InspectOptions{}); err != nil || n.ID != net.ID || !n.Attachable {
		t.Errorf("restored network: %+v %v", n, err)
	}
	if s, _, err := rc.SecretInspectWithRaw(ctx, "backed_up_pw"); err != nil || s.ID != sec.ID {
		t.Errorf("restored secret: %+v %v", s, err)
	}
	if c, _, err := rc.ConfigInspectWithRaw(ctx, "backed_up.conf"); err != nil || c.ID != cfg.ID || string(c.Spec.Data) != "conf" {
		t.Errorf("restored config: %+v %v", c, err)
	}
	// Writes work in the new cluster.
	if err := create(ctx, rc, "after-restore"); err != nil {
		t.Fatal(err)
	}
}
