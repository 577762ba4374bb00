package ca

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

const testClusterID = "cluster-one"

// testRoot is shared by tests that do not care which root they use: root
// generation is cheap, but one root makes failures easier to read.
var testRoot = sync.OnceValue(func() *RootCA {
	r, err := CreateRootCA()
	if err != nil {
		panic(err)
	}
	return r
})

func newRoot(t testing.TB) *RootCA {
	t.Helper()
	r, err := CreateRootCA()
	if err != nil {
		t.Fatalf("CreateRootCA: %v", err)
	}
	return r
}

// nodeCreds issues a certificate for a fresh key and returns it as PEMs and
// as a tls.Certificate.
type nodeCreds struct {
	certPEM, keyPEM []byte
	tlsCert         tls.Certificate
}

func issue(t testing.TB, root *RootCA, nodeID string, role model.NodeRole, clusterID string, validity time.Duration) nodeCreds {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.IssueNodeCertificate(csr, nodeID, role, clusterID, validity)
	if err != nil {
		t.Fatalf("IssueNodeCertificate: %v", err)
	}
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return nodeCreds{certPEM: certPEM, keyPEM: keyPEM, tlsCert: c}
}

// testLogger routes the package's logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tcpPair returns the two ends of a loopback TCP connection. Loopback
// rather than net.Pipe: the kernel's buffers keep a TLS 1.3 server's
// tickets and a client's last flight from blocking each other.
func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.c, client
}

type handshakeResult struct {
	server    tls.ConnectionState
	client    tls.ConnectionState
	serverErr error
	clientErr error
}

// handshake runs a TLS handshake between the two configurations and then
// has the server send one byte: in TLS 1.3 the client finishes its
// handshake before the server has checked the client's certificate, and
// learns of a refusal only when it next reads.
func handshake(t testing.TB, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	sc, cc := tcpPair(t)
	_ = sc.SetDeadline(time.Now().Add(10 * time.Second))
	_ = cc.SetDeadline(time.Now().Add(10 * time.Second))
	srv := tls.Server(sc, serverCfg)
	cli := tls.Client(cc, clientCfg)

	var res handshakeResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := srv.Handshake()
		if err == nil {
			res.server = srv.ConnectionState()
			_, err = srv.Write([]byte{'x'})
		}
		res.serverErr = err
		_ = srv.Close()
	}()
	err := cli.Handshake()
	if err == nil {
		res.client = cli.ConnectionState()
		var b [1]byte
		_, err = io.ReadFull(cli, b[:])
	}
	res.clientErr = err
	_ = cli.Close()
	<-done
	return res
}

func mustServerConfig(t testing.TB, cert tls.Certificate, root *RootCA, opts ...TLSOption) *tls.Config {
	t.Helper()
	cfg, err := ServerTLSConfig(cert, root, append([]TLSOption{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("ServerTLSConfig: %v", err)
	}
	return cfg
}

func mustClientConfig(t testing.TB, cert *tls.Certificate, root *RootCA, opts ...TLSOption) *tls.Config {
	t.Helper()
	cfg, err := ClientTLSConfig(cert, root, append([]TLSOption{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("ClientTLSConfig: %v", err)
	}
	return cfg
}
