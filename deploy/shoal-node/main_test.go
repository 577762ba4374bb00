package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func saveNode(t *testing.T, dir string, st node.Record) {
	t.Helper()
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
}

func TestStartArgs(t *testing.T) {
	fresh := t.TempDir()
	joined := t.TempDir()
	saveNode(t, joined, node.Record{NodeID: "n1", ClusterID: "c1", Role: model.RoleWorker})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("SWMTKN-1-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--hostname", "w1"}
	for _, tc := range []struct {
		name, role, dir string
		env             map[string]string
		want            []string
		err             string
	}{
		{name: "existing node runs whatever the bootstrap says", role: "worker", dir: joined,
			env:  map[string]string{"SHOAL_BOOTSTRAP": "join"},
			want: []string{"run", "--data-dir", joined, "--hostname", "w1"}},
		{name: "init", role: "manager", dir: fresh, env: map[string]string{"SHOAL_BOOTSTRAP": "init"},
			want: []string{"init", "--data-dir", fresh, "--hostname", "w1"}},
		{name: "a worker cannot init", role: "worker", dir: fresh, env: map[string]string{"SHOAL_BOOTSTRAP": "init"},
			err: "only a manager"},
		{name: "join with a token", role: "worker", dir: fresh,
			env:  map[string]string{"SHOAL_BOOTSTRAP": "join", "SHOAL_JOIN_ADDR": "10.0.0.1:2377", "SHOAL_JOIN_TOKEN": " SWMTKN-1-env "},
			want: []string{"join", "--data-dir", fresh, "--token", "SWMTKN-1-env", "--hostname", "w1", "10.0.0.1:2377"}},
		{name: "join with a token file", role: "manager", dir: fresh,
			env:  map[string]string{"SHOAL_BOOTSTRAP": "join", "SHOAL_JOIN_ADDR": "10.0.0.1:2377", "SHOAL_JOIN_TOKEN_FILE": tokenFile},
			want: []string{"join", "--data-dir", fresh, "--token", "SWMTKN-1-file", "--hostname", "w1", "10.0.0.1:2377"}},
		{name: "join without an address", role: "worker", dir: fresh,
			env: map[string]string{"SHOAL_BOOTSTRAP": "join", "SHOAL_JOIN_TOKEN": "t"}, err: "SHOAL_JOIN_ADDR"},
		{name: "join without a token", role: "worker", dir: fresh,
			env: map[string]string{"SHOAL_BOOTSTRAP": "join", "SHOAL_JOIN_ADDR": "a:1"}, err: "SHOAL_JOIN_TOKEN"},
		{name: "nothing to do", role: "worker", dir: fresh, err: "holds no node"},
		{name: "unknown bootstrap", role: "worker", dir: fresh, env: map[string]string{"SHOAL_BOOTSTRAP": "yes"}, err: "want init or join"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startArgs(tc.role, tc.dir, flags, env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStartExecsTheNodeWithoutTheTokenInItsEnvironment(t *testing.T) {
	dir := t.TempDir()
	var gotBin string
	var gotArgv, gotEnv []string
	fake := func(argv0 string, argv, envv []string) error {
		gotBin, gotArgv, gotEnv = argv0, argv, envv
		return nil
	}
	var stderr bytes.Buffer
	e := map[string]string{
		"SHOAL_DATA_DIR": dir, "SHOAL_BINARY": "/opt/shoal/worker", "SHOAL_BOOTSTRAP": "join",
		"SHOAL_JOIN_ADDR": "10.0.0.1:2377", "SHOAL_JOIN_TOKEN": "SWMTKN-1-secret",
	}
	environ := []string{"PATH=/bin", "SHOAL_JOIN_TOKEN=SWMTKN-1-secret"}
	runStart([]string{"worker", "--hostname", "w1"}, env(e), environ, &stderr, fake)
	if gotBin != "/opt/shoal/worker" || gotArgv[0] != gotBin || gotArgv[1] != "join" {
		t.Fatalf("exec %s %q", gotBin, gotArgv)
	}
	if !reflect.DeepEqual(gotEnv, []string{"PATH=/bin"}) {
		t.Fatalf("environment passed on: %q", gotEnv)
	}
	if strings.Contains(stderr.String(), "secret") || !strings.Contains(stderr.String(), "--token <redacted>") {
		t.Fatalf("log shows the token or hides the command: %s", stderr.String())
	}
}

func TestRunRefusesUnknownCommands(t *testing.T) {
	var out, errb bytes.Buffer
	noExec := func(string, []string, []string) error { t.Fatal("exec"); return nil }
	if code := run(context.Background(), []string{"nope"}, env(nil), &out, &errb, noExec); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if code := run(context.Background(), []string{"start", "client"}, env(nil), &out, &errb, noExec); code != 2 {
		t.Fatalf("start client: exit %d", code)
	}
}

func TestID(t *testing.T) {
	a, empty := t.TempDir(), t.TempDir()
	saveNode(t, a, node.Record{NodeID: "node-a", ClusterID: "c1", Role: model.RoleManager})
	var out, errb bytes.Buffer
	if code := runID([]string{a, empty}, env(nil), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got, want := out.String(), a+" node-a\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// shortTempDir returns a directory whose paths fit a unix socket's limit.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestHealthManager(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "api.sock")
	saveNode(t, dir, node.Record{NodeID: "m1", ClusterID: "c1", Role: model.RoleManager,
		Settings: node.Settings{APISocket: sock}})
	ctx := context.Background()
	if _, err := checkHealth(ctx, dir); err == nil {
		t.Fatal("healthy without an API socket")
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	status := http.StatusOK
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	if what, err := checkHealth(ctx, dir); err != nil {
		t.Fatalf("unhealthy: %v", err)
	} else if !strings.Contains(what, "m1") {
		t.Fatalf("says %q", what)
	}
	status = http.StatusServiceUnavailable
	if _, err := checkHealth(ctx, dir); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("answered 503: %v", err)
	}
}

func TestHealthNoNode(t *testing.T) {
	var errb bytes.Buffer
	code := runHealth(context.Background(), []string{"--data-dir", t.TempDir()}, env(nil), &errb)
	if code != 1 || !strings.Contains(errb.String(), "no node yet") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

type issued struct{ certPEM, keyPEM []byte }

func issue(t *testing.T, root *ca.RootCA, id string, role model.NodeRole, validity time.Duration) issued {
	t.Helper()
	c := testutil.IssueNode(t, root, id, role, "cluster-1", validity)
	return issued{c.CertPEM, c.KeyPEM}
}

// TestHealthWorker runs a fake manager on the cluster port with a manager
// certificate of the worker's cluster, then one of another cluster.
func TestHealthWorker(t *testing.T) {
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := issue(t, root, "w1", model.RoleWorker, time.Hour)
	if err := ca.SaveNodeCredentials(dir, w.certPEM, w.keyPEM, root.CertPEM()); err != nil {
		t.Fatal(err)
	}

	manager := func(root *ca.RootCA) string {
		m := issue(t, root, "m1", model.RoleManager, time.Hour)
		cert, err := tls.X509KeyPair(m.certPEM, m.keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ca.ServerTLSConfig(cert, root)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ca/v1/root" && len(r.TLS.PeerCertificates) == 1 {
				w.Write(root.CertPEM())
				return
			}
			http.Error(w, "no", http.StatusForbidden)
		}))
		srv.TLS = cfg
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	good := manager(root)
	other, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	stranger := manager(other)
	dead := "127.0.0.1:1"

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	saveNode(t, dir, node.Record{NodeID: "w1", ClusterID: "cluster-1", Role: model.RoleWorker, Managers: []string{dead, stranger, good}})
	if what, err := checkHealth(ctx, dir); err != nil {
		t.Fatalf("unhealthy: %v", err)
	} else if !strings.Contains(what, good) {
		t.Fatalf("says %q", what)
	}
	saveNode(t, dir, node.Record{NodeID: "w1", ClusterID: "cluster-1", Role: model.RoleWorker, Managers: []string{dead, stranger}})
	if _, err := checkHealth(ctx, dir); err == nil || !strings.Contains(err.Error(), "no manager answers") {
		t.Fatalf("without a manager of its cluster: %v", err)
	}
}
