package command

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestResolveHost(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvHost {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct {
		name string
		o    HostOptions
		want string
		err  string
	}{
		{name: "flag", o: HostOptions{Host: "unix:///var/lib/shoal/swarm.sock", Getenv: env("tcp://1.2.3.4:2375")}, want: "unix:///var/lib/shoal/swarm.sock"},
		{name: "env", o: HostOptions{Getenv: env(" tcp://10.0.0.1:2375 ")}, want: "tcp://10.0.0.1:2375"},
		{name: "relative socket", o: HostOptions{Host: "unix://./data/swarm.sock", Getenv: env("")}, want: "unix://./data/swarm.sock"},
		{name: "tls", o: HostOptions{Host: "tcp://[::1]:2376", TLSCACert: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem"}, want: "tcp://[::1]:2376"},
		{name: "none", o: HostOptions{Getenv: env("")}, err: "set -H/--host or SWARM_HOST"},
		{name: "no scheme", o: HostOptions{Host: "/var/run/swarm.sock"}, err: "want unix:///path"},
		{name: "no port", o: HostOptions{Host: "tcp://10.0.0.1"}, err: "want tcp://HOST:PORT"},
		{name: "bad scheme", o: HostOptions{Host: "http://10.0.0.1:80"}, err: "unsupported scheme"},
		{name: "empty socket", o: HostOptions{Host: "unix://"}, err: "no socket path"},
		{name: "tls on unix", o: HostOptions{Host: "unix:///s.sock", TLSCACert: "ca.pem"}, err: "tcp:// hosts only"},
		{name: "cert without key", o: HostOptions{Host: "tcp://h:1", TLSCert: "c.pem"}, err: "go together"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.o.ResolveHost()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				if c.name == "none" && !errors.Is(err, ErrNoHost) {
					t.Errorf("error %v is not ErrNoHost", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ResolveHost = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// fakeManager answers /_ping like a manager and the requests of the
// tests: a service update refused as out of sequence.
func fakeManager(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Swarm", "active/manager")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/v1.41/info"):
			json.NewEncoder(w).Encode(map[string]any{"Swarm": map[string]any{"NodeID": "self"}})
		case strings.HasSuffix(r.URL.Path, "/v1.41/services/web/update"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"message":"update out of sequence"}`))
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	})
}

func TestUserMessage(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "swarm.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fakeManager(t)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	o := HostOptions{Host: "unix://" + sock}
	c, err := o.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ServiceUpdate(context.Background(), "web", swarm.Version{Index: 3}, swarm.ServiceSpec{}, swarm.ServiceUpdateOptions{})
	if got := UserMessage(err, o.Host); got != "update out of sequence" {
		t.Errorf("message %q, want the manager's, verbatim", got)
	}
	if got := UserMessage(errors.Join(errors.New("web: Error response from daemon: update out of sequence")), ""); got != "web: update out of sequence" {
		t.Errorf("message %q", got)
	}

	down := HostOptions{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock")}
	c2, err := down.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = c2.Info(context.Background())
	if got := UserMessage(err, down.Host); !strings.Contains(got, "cannot reach the manager at "+down.Host) {
		t.Errorf("message %q, want advice naming the host", got)
	}
	if UserMessage(nil, "") != "" {
		t.Error("a message for no error")
	}
}

// TestDialTLS reaches a manager that requires a client certificate, with
// the --tls* flags.
func TestDialTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(fakeManager(t))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	host := "tcp://" + srv.Listener.Addr().String()

	o := HostOptions{Host: host, TLSCACert: filepath.Join(dir, "ca.pem"), TLSCert: filepath.Join(dir, "client.pem"), TLSKey: filepath.Join(dir, "client-key.pem")}
	c, err := o.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Info(context.Background())
	if err != nil || info.Swarm.NodeID != "self" {
		t.Fatalf("Info over mutual TLS = %+v, %v", info.Swarm, err)
	}

	// Without a client certificate the handshake fails.
	noCert := HostOptions{Host: host, TLSCACert: filepath.Join(dir, "ca.pem")}
	c2, err := noCert.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Info(context.Background()); err == nil {
		t.Error("a manager requiring a client certificate answered without one")
	}
}

// newCert writes NAME.pem and NAME-key.pem in dir: a CA when parent is nil,
// otherwise a certificate for 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	return cert, key
}

func TestEnvDialsOnce(t *testing.T) {
	calls := 0
	e := NewEnv(nil, nil, func() (Client, error) {
		calls++
		return nil, errors.New("no manager")
	})
	for range 3 {
		if _, err := e.Client(); err == nil {
			t.Fatal("no error")
		}
	}
	if calls != 1 {
		t.Errorf("dialled %d times", calls)
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
}
