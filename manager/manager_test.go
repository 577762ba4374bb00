package manager_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/manager"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func testConfig(t *testing.T, name string) manager.Config {
	t.Helper()
	cfg := manager.DefaultConfig(filepath.Join(t.TempDir(), name))
	addr := freeAddr(t)
	cfg.Settings = node.Settings{Hostname: name, ListenAddr: addr, AdvertiseAddr: addr}
	cfg.Logger = testutil.Logger(t, slog.LevelWarn).With("m", name)
	return cfg
}

// running starts m and stops it at the end of the test.
func running(t *testing.T, m *manager.Manager) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("manager %s stopped: %v", m.NodeID(), err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("manager %s did not stop", m.NodeID())
		}
	}
	t.Cleanup(stop)
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("manager failed to start: %v", err)
	}
	return stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
}

func cluster(m *manager.Manager) *model.Cluster {
	var c *model.Cluster
	_ = m.Store().View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
	return c
}

func TestInitJoinThreeManagers(t *testing.T) {
	cfg1 := testConfig(t, "m1")
	m1, err := manager.Init(cfg1)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	c := cluster(m1)
	if !strings.HasPrefix(c.RootCA.JoinTokens.Manager, "SWMTKN-1-") {
		t.Fatalf("manager token %q", c.RootCA.JoinTokens.Manager)
	}
	// Init refuses a data dir that holds a node.
	if _, err := manager.Init(cfg1); err == nil || !strings.Contains(err.Error(), "manager run") {
		t.Fatalf("second init: %v", err)
	}

	ctx := context.Background()
	var ms = []*manager.Manager{m1}
	for _, name := range []string{"m2", "m3"} {
		m, err := manager.Join(ctx, testConfig(t, name), c.RootCA.JoinTokens.Manager, m1.Addr())
		if err != nil {
			t.Fatalf("join %s: %v", name, err)
		}
		running(t, m)
		ms = append(ms, m)
	}
	waitFor(t, "three voters", 20*time.Second, func() bool {
		members, err := m1.Raft().Members()
		return err == nil && len(members) == 3
	})
	// A write through a follower reaches every manager.
	var follower *manager.Manager
	for _, m := range ms {
		if !m.Raft().IsLeader() {
			follower = m
		}
	}
	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: "web"},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demo"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 0}},
	}}
	res, err := follower.Raft().Propose(ctx, state.NewCommand(state.Op{Type: state.OpCreateService, Service: svc}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("write via follower: %v", err)
	}
	for _, m := range ms {
		if err := m.Raft().ReadBarrier(ctx); err != nil {
			t.Fatal(err)
		}
		var s *model.Service
		_ = m.Store().View(func(tx state.ReadTx) error { s = tx.GetService(svc.ID); return nil })
		if s == nil {
			t.Fatalf("manager %s misses the service", m.NodeID())
		}
		var nodes []*model.Node
		_ = m.Store().View(func(tx state.ReadTx) error { nodes, _ = tx.FindNodes(state.ByRole(model.RoleManager)); return nil })
		if len(nodes) != 3 {
			t.Fatalf("manager %s sees %d manager nodes", m.NodeID(), len(nodes))
		}
	}
}

func TestJoinRefusals(t *testing.T) {
	m1, err := manager.Init(testConfig(t, "m1"))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	c := cluster(m1)

	other, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := ca.GenerateJoinToken(other)
	root, _ := ca.NewRootCA(c.RootCA.CACert, nil)
	wrongSecret, _ := ca.GenerateJoinToken(root)

	ctx := context.Background()
	cases := []struct {
		name, token, want string
	}{
		{"garbage", "hello", "SWMTKN"},
		{"token of another cluster's CA", foreign.String(), "does not match the join token"},
		{"wrong secret", wrongSecret.String(), "not valid"},
		{"worker token used to join as manager", c.RootCA.JoinTokens.Worker, "grants the worker role"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manager.Join(ctx, testConfig(t, "mx"), tc.token, m1.Addr())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	var n int
	_ = m1.Store().View(func(tx state.ReadTx) error { nodes, _ := tx.FindNodes(state.All); n = len(nodes); return nil })
	if n != 1 {
		t.Fatalf("refused joins left %d nodes", n)
	}
}

func TestRestartFromDataDir(t *testing.T) {
	cfg := testConfig(t, "m1")
	m1, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	id := cluster(m1).ID
	stop()
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "bootstrap.json")); !os.IsNotExist(err) {
		t.Fatalf("the bootstrap file with the CA key was left behind: %v", err)
	}
	m2, err := manager.Open(manager.Config{DataDir: cfg.DataDir, Raft: cfg.Raft, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	running(t, m2)
	waitFor(t, "leadership after restart", 10*time.Second, func() bool { return m2.Raft().Ready() })
	if c := cluster(m2); c == nil || c.ID != id {
		t.Fatalf("cluster after restart: %+v", c)
	}
}

func TestAutolock(t *testing.T) {
	cfg := testConfig(t, "m1")
	cfg.AutoLock = true
	m1, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := m1.UnlockKey()
	if !strings.HasPrefix(key, "SWMKEY-1-") {
		t.Fatalf("unlock key %q", key)
	}
	stop := running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	if c := cluster(m1); c.UnlockKey != key || !c.Spec.Encryption.AutoLockManagers {
		t.Fatalf("cluster autolock state: %v %q", c.Spec.Encryption.AutoLockManagers, c.UnlockKey)
	}
	// Rotate the unlock key as the API does.
	newKey := encryption.GenerateUnlockKey().String()
	c := cluster(m1).Copy()
	c.UnlockKey = newKey
	res, err := m1.Raft().Propose(context.Background(), state.NewCommand(state.Op{Type: state.OpUpdateCluster, Cluster: c, Version: c.Version.Index}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	nk, _ := encryption.ParseUnlockKey(newKey)
	waitFor(t, "the data key rewrapped with the new unlock key", 10*time.Second, func() bool {
		_, err := encryption.LoadDEK(filepath.Join(cfg.DataDir, manager.DEKFile), nk)
		return err == nil
	})
	stop()

	reopen := func(k string) error {
		rc := manager.Config{DataDir: cfg.DataDir, Raft: cfg.Raft, Logger: cfg.Logger}
		if k != "" {
			uk, err := encryption.ParseUnlockKey(k)
			if err != nil {
				return err
			}
			rc.UnlockKey = uk
		}
		_, err := manager.Open(rc)
		return err
	}
	if err := reopen(""); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("open without the key: %v", err)
	}
	if err := reopen(key); err == nil {
		t.Fatal("the rotated-out unlock key still opens the manager")
	}
	if err := reopen(newKey); err != nil {
		t.Fatalf("open with the new key: %v", err)
	}
}

func TestRotatedTokenIsRefused(t *testing.T) {
	m1, err := manager.Init(testConfig(t, "m1"))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	old := cluster(m1).RootCA.JoinTokens.Manager
	c := cluster(m1).Copy()
	root, _ := ca.NewRootCA(c.RootCA.CACert, nil)
	tok, _ := ca.GenerateJoinToken(root)
	c.RootCA.JoinTokens.Manager = tok.String()
	res, err := m1.Raft().Propose(context.Background(), state.NewCommand(state.Op{Type: state.OpUpdateCluster, Cluster: c, Version: c.Version.Index}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := manager.Join(context.Background(), testConfig(t, "m2"), old, m1.Addr()); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("join with a rotated-out token: %v", err)
	}
	m3, err := manager.Join(context.Background(), testConfig(t, "m3"), tok.String(), m1.Addr())
	if err != nil {
		t.Fatalf("join with the new token: %v", err)
	}
	running(t, m3)
}

// expiredCert re-signs a node certificate with validity in the past, as if
// the node had been offline past its expiry.
func expiredCert(t *testing.T, c *model.Cluster, certPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := pem.Decode(c.RootCA.CACert)
	rootCert, _ := x509.ParseCertificate(rb.Bytes)
	kb, _ := pem.Decode(c.RootCA.CAKey)
	rootKey, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *leaf
	tmpl.NotBefore = time.Now().Add(-100 * 24 * time.Hour)
	tmpl.NotAfter = time.Now().Add(-24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, rootCert, leaf.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestRejoinAfterExpiry(t *testing.T) {
	m1, err := manager.Init(testConfig(t, "m1"))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	c := cluster(m1)
	ctx := context.Background()
	joined, err := ca.Join(ctx, m1.Addr(), ca.JoinRequest{Token: c.RootCA.JoinTokens.Worker, Hostname: "w1", Role: model.RoleWorker})
	if err != nil {
		t.Fatal(err)
	}
	expired := expiredCert(t, c, []byte(joined.Certificate))

	otherKey, _ := ca.GenerateKey()
	otherKeyPEM, _ := ca.MarshalKeyPEM(otherKey)
	cases := []struct {
		name   string
		token  string
		cert   []byte
		key    []byte
		refuse string
	}{
		{"wrong token", c.RootCA.JoinTokens.Worker[:len(c.RootCA.JoinTokens.Worker)-3] + "zzz", expired, joined.KeyPEM, "not valid"},
		{"key of another node", c.RootCA.JoinTokens.Worker, expired, otherKeyPEM, "not signed with the certificate's key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.Rejoin(ctx, m1.Addr(), tc.token, tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("got %v, want an error containing %q", err, tc.refuse)
			}
		})
	}

	renewed, err := ca.Rejoin(ctx, m1.Addr(), c.RootCA.JoinTokens.Worker, expired, joined.KeyPEM)
	if err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	block, _ := pem.Decode(renewed)
	leaf, _ := x509.ParseCertificate(block.Bytes)
	if leaf.Subject.CommonName != joined.NodeID || time.Now().After(leaf.NotAfter) {
		t.Fatalf("renewed certificate: CN %s, not after %v", leaf.Subject.CommonName, leaf.NotAfter)
	}

	// A removed node cannot come back this way.
	res, err := m1.Raft().Propose(ctx, state.NewCommand(state.Op{Type: state.OpDeleteNode, ID: joined.NodeID}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Rejoin(ctx, m1.Addr(), c.RootCA.JoinTokens.Worker, expired, joined.KeyPEM); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("rejoin of a removed node: %v", err)
	}
}

// nodeTLS turns a join result into a client TLS configuration.
func nodeTLS(t *testing.T, res *ca.JoinResult) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(res.Certificate), res.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRootCA([]byte(res.RootCA), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ClientTLSConfig(&cert, root)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRemovedNodeIsRefused(t *testing.T) {
	m1, err := manager.Init(testConfig(t, "m1"))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	c := cluster(m1)
	ctx := context.Background()
	w, err := ca.Join(ctx, m1.Addr(), ca.JoinRequest{Token: c.RootCA.JoinTokens.Worker, Hostname: "w1", Role: model.RoleWorker})
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeTLS(t, w)
	if _, _, _, err := ca.Renew(ctx, cfg, m1.Addr()); err != nil {
		t.Fatalf("renewal before removal: %v", err)
	}
	res, err := m1.Raft().Propose(ctx, state.NewCommand(state.Op{Type: state.OpDeleteNode, ID: w.NodeID}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = ca.Renew(ctx, nodeTLS(t, w), m1.Addr())
	if err == nil {
		t.Fatal("a removed node renewed its certificate")
	}
	t.Logf("removed node refused: %v", err)
}

func TestWorkerCertificateCannotUseTheAPIOverTCP(t *testing.T) {
	host := nonLoopbackIP(t)
	cfg := testConfig(t, "m1")
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	cfg.Settings.APIAddr = l.Addr().String()
	l.Close()
	m1, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	c := cluster(m1)
	ctx := context.Background()
	get := func(tc *tls.Config) error {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
		resp, err := cl.Get("https://" + cfg.Settings.APIAddr + "/v1.41/services")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	w, err := ca.Join(ctx, m1.Addr(), ca.JoinRequest{Token: c.RootCA.JoinTokens.Worker, Hostname: "w1", Role: model.RoleWorker})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(nodeTLS(t, w)); err == nil {
		t.Fatal("a worker certificate reached the control API")
	}
	root, _ := ca.NewRootCA(c.RootCA.CACert, nil)
	noCert, _ := ca.ClientTLSConfig(nil, root)
	if err := get(noCert); err == nil {
		t.Fatal("a client without a certificate reached the control API over TCP")
	}
	mgr := m1.Credentials().Current()
	mcfg, _ := ca.ClientTLSConfig(&mgr.Certificate, root)
	if err := get(mcfg); err != nil {
		t.Fatalf("a manager certificate was refused: %v", err)
	}
	// Plain HTTP on a non-loopback address is refused too.
	if resp, err := http.Get("http://" + cfg.Settings.APIAddr + "/v1.41/services"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP reached the control API on a non-loopback address")
		}
	}
}

func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return ""
}

// TestDamagedLogRefusesToStart: a manager whose raft.db was emptied
// refuses to start, names what is damaged and says how to recover; it
// neither panics nor comes up with an empty cluster (issue 21, finding 4:
// a zero-length raft.db used to start silently with no state).
func TestDamagedLogRefusesToStart(t *testing.T) {
	cfg := testConfig(t, "m1")
	m1, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, m1)
	waitFor(t, "the cluster object", 10*time.Second, func() bool { return cluster(m1) != nil })
	stop()
	if err := os.Truncate(filepath.Join(cfg.DataDir, "raft", "raft.db"), 0); err != nil {
		t.Fatal(err)
	}
	m2, err := manager.Open(manager.Config{DataDir: cfg.DataDir, Raft: cfg.Raft, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = m2.Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("a manager with an empty raft.db ran: %v", err)
	}
	for _, want := range []string{"refuses to start", "raft.db: empty (0 bytes)", "swarmctl node demote", "manager join",
		"manager init --force-new-cluster", "swarmctl cluster backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	t.Log(err)
}

// TestFailedStartShutsDown: when Run fails after Raft and the cluster port
// started (here the API address is taken), it shuts them down before it
// returns: the cluster port is free again and Raft refuses writes.
func TestFailedStartShutsDown(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t, "m1")
	cfg.Settings.APIAddr = taken.Addr().String()
	m, err := manager.Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Run(ctx); err == nil {
		t.Fatal("Run with its API address taken succeeded")
	}
	ln, err := net.Listen("tcp", cfg.Settings.ListenAddr)
	if err != nil {
		t.Fatalf("the cluster port is still held after the failed start: %v", err)
	}
	ln.Close()
	if _, err := m.Raft().Propose(ctx, state.NewCommand(state.Op{Type: state.OpNoop})); !errors.Is(err, raft.ErrShutdown) {
		t.Fatalf("Propose after the failed start: %v, want raft.ErrShutdown", err)
	}
}
