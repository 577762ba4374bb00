package ca

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestHandshakeIdentities(t *testing.T) {
	root := testRoot()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	mgr2 := issue(t, root, "mgr2", model.RoleManager, testClusterID, time.Hour)
	worker := issue(t, root, "wrk1", model.RoleWorker, testClusterID, time.Hour)
	srv := mustServerConfig(t, mgr.tlsCert, root)

	tests := []struct {
		name       string
		clientCert *tls.Certificate
		wantID     Identity
		wantErr    error
	}{
		{"manager client", &mgr2.tlsCert, Identity{"mgr2", model.RoleManager, testClusterID}, nil},
		{"worker client is accepted as a worker", &worker.tlsCert, Identity{"wrk1", model.RoleWorker, testClusterID}, nil},
		{"joining node without certificate", nil, Identity{}, ErrNoPeerCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := handshake(t, srv, mustClientConfig(t, tt.clientCert, root))
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
			}
			if res.server.Version != tls.VersionTLS13 {
				t.Errorf("negotiated version %x, want TLS 1.3", res.server.Version)
			}
			id, err := PeerIdentity(res.server)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PeerIdentity = %v, want %v", err, tt.wantErr)
			}
			if id != tt.wantID {
				t.Fatalf("PeerIdentity = %+v, want %+v", id, tt.wantID)
			}
			// The client sees the server as manager mgr1.
			sid, err := ParseIdentity(res.client.PeerCertificates[0])
			if err != nil || sid.NodeID != "mgr1" || sid.Role != model.RoleManager {
				t.Fatalf("server identity %+v, %v", sid, err)
			}
		})
	}
}

func TestHandshakeRefusals(t *testing.T) {
	root := testRoot()
	otherRoot := newRoot(t)
	now := time.Now()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, 90*24*time.Hour)
	shortMgr := issue(t, root, "mgr-short", model.RoleManager, testClusterID, time.Hour)
	worker := issue(t, root, "wrk1", model.RoleWorker, testClusterID, 90*24*time.Hour)
	shortWorker := issue(t, root, "wrk-short", model.RoleWorker, testClusterID, time.Hour)
	foreignWorker := issue(t, otherRoot, "wrk1", model.RoleWorker, testClusterID, time.Hour)
	foreignMgr := issue(t, otherRoot, "mgr1", model.RoleManager, testClusterID, time.Hour)
	otherClusterWorker := issue(t, root, "wrk2", model.RoleWorker, "cluster-two", time.Hour)
	later := func() time.Time { return now.Add(2 * time.Hour) }
	earlier := func() time.Time { return now.Add(-time.Hour) }
	revoked := func(id string) bool { return id == "wrk1" || id == "mgr1" }

	// A server that wrongly serves a worker certificate, built by hand
	// because ServerTLSConfig refuses to.
	workerServer := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{worker.tlsCert}}
	// Clients that present a certificate ClientTLSConfig would refuse to
	// load, as an attacker would.
	withCert := func(c nodeCreds) *tls.Config {
		cfg := mustClientConfig(t, nil, root)
		cfg.Certificates = []tls.Certificate{c.tlsCert}
		return cfg
	}
	tls11Client := mustClientConfig(t, &worker.tlsCert, root)
	tls11Client.MaxVersion = tls.VersionTLS11

	tests := []struct {
		name       string
		server     *tls.Config
		client     *tls.Config
		wantServer error // nil: only check that the handshake failed
		wantClient error
		contains   string // in the error of the refusing side
	}{
		{
			name:     "expired client certificate",
			server:   mustServerConfig(t, mgr.tlsCert, root, WithClock(later)),
			client:   mustClientConfig(t, &shortWorker.tlsCert, root),
			contains: "expired",
		},
		{
			name:     "client certificate not yet valid",
			server:   mustServerConfig(t, mgr.tlsCert, root, WithClock(earlier)),
			client:   mustClientConfig(t, &shortWorker.tlsCert, root),
			contains: "not yet valid",
		},
		{
			name:       "expired server certificate",
			server:     mustServerConfig(t, shortMgr.tlsCert, root),
			client:     mustClientConfig(t, &worker.tlsCert, root, WithClock(later)),
			wantClient: ErrUntrustedCert,
			contains:   "expired",
		},
		{
			name:     "client certificate from another cluster's CA",
			server:   mustServerConfig(t, mgr.tlsCert, root),
			client:   withCert(foreignWorker),
			contains: "unknown authority",
		},
		{
			name:       "server certificate from another cluster's CA",
			server:     mustServerConfig(t, foreignMgr.tlsCert, otherRoot),
			client:     mustClientConfig(t, &worker.tlsCert, root),
			wantClient: ErrUntrustedCert,
			contains:   "unknown authority",
		},
		{
			name:       "joining node refuses a server of another CA",
			server:     mustServerConfig(t, foreignMgr.tlsCert, otherRoot),
			client:     mustClientConfig(t, nil, root),
			wantClient: ErrUntrustedCert,
		},
		{
			name:       "server with a worker certificate",
			server:     workerServer,
			client:     mustClientConfig(t, &worker.tlsCert, root),
			wantClient: ErrServerNotManager,
			contains:   "wrk1",
		},
		{
			name:       "revoked client",
			server:     mustServerConfig(t, mgr.tlsCert, root, WithRevocation(revoked)),
			client:     mustClientConfig(t, &worker.tlsCert, root),
			wantServer: ErrNodeRevoked,
			contains:   "wrk1",
		},
		{
			name:       "revoked server",
			server:     mustServerConfig(t, mgr.tlsCert, root),
			client:     mustClientConfig(t, &worker.tlsCert, root, WithRevocation(revoked)),
			wantClient: ErrNodeRevoked,
			contains:   "mgr1",
		},
		{
			name:       "client of another cluster under the same root",
			server:     mustServerConfig(t, mgr.tlsCert, root),
			client:     withCert(otherClusterWorker),
			wantServer: ErrClusterMismatch,
			contains:   "cluster-two",
		},
		{
			name:       "server of another cluster under the same root",
			server:     mustServerConfig(t, mgr.tlsCert, root),
			client:     mustClientConfig(t, &otherClusterWorker.tlsCert, root),
			wantClient: ErrClusterMismatch,
			contains:   "cluster-one",
		},
		{
			name:   "TLS 1.1 client",
			server: mustServerConfig(t, mgr.tlsCert, root),
			client: tls11Client,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := handshake(t, tt.server, tt.client)
			if res.serverErr == nil && res.clientErr == nil {
				t.Fatal("handshake succeeded")
			}
			t.Logf("server: %v; client: %v", res.serverErr, res.clientErr)
			if tt.wantServer != nil && !errors.Is(res.serverErr, tt.wantServer) {
				t.Errorf("server error %v, want %v", res.serverErr, tt.wantServer)
			}
			if tt.wantClient != nil && !errors.Is(res.clientErr, tt.wantClient) {
				t.Errorf("client error %v, want %v", res.clientErr, tt.wantClient)
			}
			refuser := res.serverErr
			if tt.wantClient != nil {
				refuser = res.clientErr
			}
			if tt.contains != "" && (refuser == nil || !strings.Contains(refuser.Error(), tt.contains)) {
				t.Errorf("error %v does not mention %q", refuser, tt.contains)
			}
		})
	}
}

// TestRevocationAppliesToResumedSessions checks that a node removed after
// it got a session ticket cannot come back by resuming that session.
func TestRevocationAppliesToResumedSessions(t *testing.T) {
	root := testRoot()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	worker := issue(t, root, "wrk1", model.RoleWorker, testClusterID, time.Hour)
	var removed atomic.Bool
	srv := mustServerConfig(t, mgr.tlsCert, root, WithRevocation(func(id string) bool {
		return removed.Load() && id == "wrk1"
	}))
	cli := mustClientConfig(t, &worker.tlsCert, root)
	cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	cli.ServerName = "swarm-manager" // the session cache key; loopback ports change

	if res := handshake(t, srv, cli); res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("first handshake: %v / %v", res.serverErr, res.clientErr)
	}
	res := handshake(t, srv, cli)
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("second handshake: %v / %v", res.serverErr, res.clientErr)
	}
	if !res.server.DidResume {
		t.Fatal("second handshake did not resume; the test proves nothing")
	}
	if id, err := PeerIdentity(res.server); err != nil || id.NodeID != "wrk1" {
		t.Fatalf("identity on resumed session: %+v, %v", id, err)
	}

	removed.Store(true)
	res = handshake(t, srv, cli)
	if !errors.Is(res.serverErr, ErrNodeRevoked) {
		t.Fatalf("resumed handshake of a removed node: server error %v, want ErrNodeRevoked", res.serverErr)
	}
}

func TestServerTLSConfig(t *testing.T) {
	root := testRoot()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	worker := issue(t, root, "wrk1", model.RoleWorker, testClusterID, time.Hour)
	foreign := issue(t, newRoot(t), "mgr1", model.RoleManager, testClusterID, time.Hour)
	noKey := mgr.tlsCert
	noKey.PrivateKey = nil

	cfg, err := ServerTLSConfig(mgr.tlsCert, root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.ClientCAs != root.Pool() {
		t.Fatalf("config %+v", cfg)
	}

	tests := []struct {
		name string
		cert tls.Certificate
		root *RootCA
		want error
	}{
		{"worker certificate", worker.tlsCert, root, ErrInvalidTLSCert},
		{"certificate of another CA", foreign.tlsCert, root, ErrInvalidTLSCert},
		{"empty certificate", tls.Certificate{}, root, ErrInvalidTLSCert},
		{"no key", noKey, root, ErrInvalidTLSCert},
		{"nil root", mgr.tlsCert, nil, ErrNilRootCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ServerTLSConfig(tt.cert, tt.root); !errors.Is(err, tt.want) {
				t.Fatalf("ServerTLSConfig = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClientTLSConfig(t *testing.T) {
	root := testRoot()
	worker := issue(t, root, "wrk1", model.RoleWorker, testClusterID, time.Hour)
	foreign := issue(t, newRoot(t), "wrk1", model.RoleWorker, testClusterID, time.Hour)

	cfg := mustClientConfig(t, &worker.tlsCert, root)
	if cfg.MinVersion != tls.VersionTLS12 || len(cfg.Certificates) != 1 || cfg.VerifyConnection == nil {
		t.Fatalf("config %+v", cfg)
	}
	// VerifyConnection refuses a connection without a server certificate.
	if err := cfg.VerifyConnection(tls.ConnectionState{}); !errors.Is(err, ErrNoPeerCertificate) {
		t.Fatalf("VerifyConnection(no certificate) = %v", err)
	}
	if _, err := ClientTLSConfig(&foreign.tlsCert, root); !errors.Is(err, ErrInvalidTLSCert) {
		t.Fatalf("ClientTLSConfig(foreign cert) = %v", err)
	}
	if _, err := ClientTLSConfig(nil, nil); !errors.Is(err, ErrNilRootCA) {
		t.Fatalf("ClientTLSConfig(nil root) = %v", err)
	}
}

func TestBootstrapAndFetchAndVerifyRoot(t *testing.T) {
	root := testRoot()
	otherRoot := newRoot(t)
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	tok, _ := GenerateJoinToken(root)
	otherTok, _ := GenerateJoinToken(otherRoot)

	boot := InsecureBootstrapTLSConfig()
	if boot.MinVersion != tls.VersionTLS12 || len(boot.Certificates) != 0 {
		t.Fatalf("bootstrap config %+v", boot)
	}
	res := handshake(t, mustServerConfig(t, mgr.tlsCert, root), boot)
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("bootstrap handshake: %v / %v", res.serverErr, res.clientErr)
	}
	if _, err := PeerIdentity(res.server); !errors.Is(err, ErrNoPeerCertificate) {
		t.Fatalf("bootstrap client identity: %v", err)
	}

	tests := []struct {
		name    string
		certPEM []byte
		token   JoinToken
		want    error
	}{
		{"matching root", root.CertPEM(), tok, nil},
		{"root of another cluster", otherRoot.CertPEM(), tok, ErrRootCAMismatch},
		{"token of another cluster", root.CertPEM(), otherTok, ErrRootCAMismatch},
		{"garbage", []byte("<html>hello</html>"), tok, ErrRootCertPEM},
		{"empty", nil, tok, ErrRootCertPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FetchAndVerifyRoot(tt.certPEM, tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("FetchAndVerifyRoot = %v, want %v", err, tt.want)
			}
			if err == nil {
				if got.Digest() != root.Digest() || got.CanSign() {
					t.Fatal("returned root is not the verify-only cluster root")
				}
				return
			}
			if tt.want == ErrRootCAMismatch && !strings.Contains(err.Error(), "manager's CA does not match the join token") {
				t.Fatalf("error %q does not explain the mismatch", err)
			}
		})
	}
}

// TestJoinFlowOverTCP runs the whole join sequence a node goes through
// against a toy manager on loopback: fetch the root insecurely, verify it
// against the token, send a CSR with the token over server-authenticated
// TLS, then talk mutual TLS with the new certificate. It shows that the
// package's pieces fit and that dialling by IP needs no IP SANs.
func TestJoinFlowOverTCP(t *testing.T) {
	root := testRoot()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	workerTok, _ := GenerateJoinToken(root)
	managerTok, _ := GenerateJoinToken(root)
	tokens := model.JoinTokens{Worker: workerTok.String(), Manager: managerTok.String()}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", mustServerConfig(t, mgr.tlsCert, root))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type request struct {
		Op    string `json:"op"`
		Token string `json:"token,omitempty"`
		CSR   []byte `json:"csr,omitempty"`
	}
	type response struct {
		Cert     []byte `json:"cert,omitempty"`
		Identity string `json:"identity,omitempty"`
		Error    string `json:"error,omitempty"`
	}
	serve := func(conn net.Conn) {
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			return
		}
		var req request
		if err := json.NewDecoder(bufio.NewReader(tc)).Decode(&req); err != nil {
			return
		}
		var resp response
		id, idErr := PeerIdentity(tc.ConnectionState())
		switch req.Op {
		case "root":
			resp.Cert = root.CertPEM()
		case "join":
			role, err := CheckJoinToken(req.Token, root, tokens)
			if err != nil {
				resp.Error = err.Error()
				break
			}
			cert, err := root.IssueNodeCertificate(req.CSR, model.NewID(), role, testClusterID, time.Hour)
			if err != nil {
				resp.Error = err.Error()
			}
			resp.Cert = cert
		case "whoami":
			if idErr != nil {
				resp.Error = idErr.Error()
			} else {
				resp.Identity = string(id.Role) + ":" + id.NodeID
			}
		}
		_ = json.NewEncoder(tc).Encode(resp)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()

	call := func(cfg *tls.Config, req request) response {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := json.NewEncoder(conn).Encode(req); err != nil {
			t.Fatal(err)
		}
		var resp response
		if err := json.NewDecoder(conn).Decode(&resp); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		return resp
	}

	// 1-3: parse the token, fetch the root, check it.
	tok, err := ParseJoinToken(workerTok.String())
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := FetchAndVerifyRoot(call(InsecureBootstrapTLSConfig(), request{Op: "root"}).Cert, tok)
	if err != nil {
		t.Fatal(err)
	}
	// 4-5: CSR over a server-authenticated connection.
	key, _ := GenerateKey()
	csr, _ := NewCSR(key)
	resp := call(mustClientConfig(t, nil, fetched), request{Op: "join", Token: tok.String(), CSR: csr})
	if resp.Error != "" {
		t.Fatalf("join: %s", resp.Error)
	}
	// A wrong token is refused.
	other, _ := GenerateJoinToken(root)
	if r := call(mustClientConfig(t, nil, fetched), request{Op: "join", Token: other.String(), CSR: csr}); !strings.Contains(r.Error, "not valid") {
		t.Fatalf("join with a wrong token: %+v", r)
	}
	// 6: save, load, and talk mutual TLS.
	dir := t.TempDir()
	keyPEM, _ := MarshalKeyPEM(key)
	if err := SaveNodeCredentials(dir, resp.Cert, keyPEM, fetched.CertPEM()); err != nil {
		t.Fatal(err)
	}
	creds, err := LoadNodeCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Identity.Role != model.RoleWorker || creds.Identity.ClusterID != testClusterID {
		t.Fatalf("identity %+v", creds.Identity)
	}
	who := call(mustClientConfig(t, &creds.Certificate, creds.Root), request{Op: "whoami"})
	if who.Identity != "worker:"+creds.Identity.NodeID {
		t.Fatalf("whoami = %+v", who)
	}
	// Without its certificate the node is anonymous.
	if who := call(mustClientConfig(t, nil, creds.Root), request{Op: "whoami"}); !strings.Contains(who.Error, ErrNoPeerCertificate.Error()) {
		t.Fatalf("anonymous whoami = %+v", who)
	}
}

// TestVerifyServerChain checks the client's custom
// verification with a chain sent by the server: a leaf signed by an
// unknown CA must not be accepted just because the chain is long.
func TestVerifyServerChain(t *testing.T) {
	root := testRoot()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	foreignRoot := newRoot(t)
	foreign := issue(t, foreignRoot, "mgr1", model.RoleManager, testClusterID, time.Hour)
	tests := []struct {
		name  string
		chain []*x509.Certificate
		want  error
	}{
		{"leaf only", []*x509.Certificate{mgr.tlsCert.Leaf}, nil},
		{"leaf and root", []*x509.Certificate{mgr.tlsCert.Leaf, root.Cert()}, nil},
		{"foreign leaf with foreign root", []*x509.Certificate{foreign.tlsCert.Leaf, foreignRoot.Cert()}, ErrUntrustedCert},
		{"foreign leaf with our root", []*x509.Certificate{foreign.tlsCert.Leaf, root.Cert()}, ErrUntrustedCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyServer(tls.ConnectionState{PeerCertificates: tt.chain}, root.Pool(), time.Now())
			if !errors.Is(err, tt.want) {
				t.Fatalf("verifyServer = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestTLS12 checks that mutual TLS, identities and revocation also work
// when a peer only speaks TLS 1.2, the minimum.
func TestTLS12(t *testing.T) {
	root := testRoot()
	mgr := issue(t, root, "mgr1", model.RoleManager, testClusterID, time.Hour)
	worker := issue(t, root, "wrk1", model.RoleWorker, testClusterID, time.Hour)
	var removed atomic.Bool
	srv := mustServerConfig(t, mgr.tlsCert, root, WithRevocation(func(id string) bool { return removed.Load() }))
	cli := mustClientConfig(t, &worker.tlsCert, root)
	cli.MaxVersion = tls.VersionTLS12

	res := handshake(t, srv, cli)
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake: %v / %v", res.serverErr, res.clientErr)
	}
	if res.server.Version != tls.VersionTLS12 {
		t.Fatalf("version %x, want TLS 1.2", res.server.Version)
	}
	if id, err := PeerIdentity(res.server); err != nil || id.Role != model.RoleWorker {
		t.Fatalf("identity %+v, %v", id, err)
	}
	removed.Store(true)
	if res := handshake(t, srv, cli); !errors.Is(res.serverErr, ErrNodeRevoked) {
		t.Fatalf("revoked TLS 1.2 client: server error %v", res.serverErr)
	}
}
