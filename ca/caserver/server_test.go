package caserver

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// localBackend applies commands straight to a store: a single manager
// without Raft.
type localBackend struct {
	mu    sync.Mutex
	store *state.Store
}

func (b *localBackend) ReadBarrier(context.Context) error { return nil }

func (b *localBackend) Propose(_ context.Context, cmd *state.Command) (state.Results, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.store.Apply(state.Entry{Index: b.store.Index() + 1, Cmd: cmd})[0], nil
}

// connCounter counts a server's connections by state.
type connCounter struct {
	mu          sync.Mutex
	open, total int
}

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
		c.total++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

func (c *connCounter) counts() (open, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.total
}

// TestJoinLeavesNoConnections joins a manager's CA server several times:
// every connection Join opened must be closed by the client once it has
// its answer. The server has no idle timeout here, so a connection the
// client kept alive would stay open.
func TestJoinLeavesNoConnections(t *testing.T) {
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	workerToken, err := ca.GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	managerToken, err := ca.GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := root.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewStore()
	backend := &localBackend{store: store}
	cluster := &model.Cluster{ID: clusterID, Spec: model.DefaultClusterSpec(),
		RootCA: model.RootCA{CACert: root.CertPEM(), CAKey: keyPEM,
			JoinTokens: model.JoinTokens{Worker: workerToken.String(), Manager: managerToken.String()}}}
	if res, err := backend.Propose(context.Background(), state.NewCommand(state.Op{Type: state.OpCreateCluster, Cluster: cluster})); err != nil || res.Err() != nil {
		t.Fatalf("creating the cluster: %v %v", err, res.Err())
	}

	mgr := testutil.IssueNode(t, root, "manager-1", model.RoleManager, clusterID, time.Hour).TLS
	srv := httptest.NewUnstartedServer(NewServer(store, backend, testutil.Logger(t, slog.LevelDebug)).Handler())
	srv.TLS, err = ca.ServerTLSConfig(mgr, root, ca.WithLogger(testutil.Logger(t, slog.LevelDebug)))
	if err != nil {
		t.Fatal(err)
	}
	var conns connCounter
	srv.Config.ConnState = conns.hook
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	const joins = 5
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range joins {
		res, err := ca.Join(ctx, addr, ca.JoinRequest{Token: workerToken.String(), Hostname: "worker", Role: model.RoleWorker})
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		if res.Role != model.RoleWorker || res.NodeID == "" {
			t.Fatalf("join %d: %+v", i, res.JoinResponse)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		open, total := conns.counts()
		if open == 0 {
			if total < joins {
				t.Fatalf("%d connections for %d joins", total, joins)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d connections of %d joins are still open", open, total, joins)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const clusterID = "cluster-one"
