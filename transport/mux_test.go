package transport_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/transport"
)

type pki struct {
	root    *ca.RootCA
	cluster string
}

func (p *pki) cert(t *testing.T, role model.NodeRole) tls.Certificate {
	t.Helper()
	return testutil.IssueNode(t, p.root, model.NewID(), role, p.cluster, time.Hour).TLS
}

func newPKI(t *testing.T) *pki {
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	return &pki{root: root, cluster: model.NewID()}
}

// startMux serves HTTP "hello" and echoes Raft connections. opts adjust
// the HTTP server before it starts.
func startMux(t *testing.T, p *pki, opts ...func(*http.Server)) *transport.Mux {
	t.Helper()
	serverTLS, err := ca.ServerTLSConfig(p.cert(t, model.RoleManager), p.root)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := transport.New(ln, transport.Config{
		TLS: serverTLS,
		AuthorizeRaft: func(cs tls.ConnectionState) error {
			id, err := ca.PeerIdentity(cs)
			if err != nil {
				return err
			}
			if id.Role != model.RoleManager {
				return fmt.Errorf("node %s is a %s, not a manager", id.NodeID, id.Role)
			}
			return nil
		},
		HandshakeTimeout: 2 * time.Second,
	})
	go m.Serve()
	srv := transport.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Proto)
	}), nil)
	for _, o := range opts {
		o(srv)
	}
	go srv.Serve(m.HTTPListener())
	layer := m.RaftLayer(ln.Addr(), nil)
	go func() {
		for {
			c, err := layer.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	t.Cleanup(func() { srv.Close(); m.Close() })
	return m
}

func TestHTTPOverTLS(t *testing.T) {
	p := newPKI(t)
	m := startMux(t, p)
	worker := p.cert(t, model.RoleWorker)
	cfg, err := ca.ClientTLSConfig(&worker, p.root)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	resp, err := cl.Get("https://" + m.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello HTTP/2.0" {
		t.Fatalf("got %q", body)
	}
}

func TestRaftNeedsManagerCertificate(t *testing.T) {
	p := newPKI(t)
	m := startMux(t, p)
	dial := func(role model.NodeRole) error {
		cert := p.cert(t, role)
		cfg, err := ca.ClientTLSConfig(&cert, p.root)
		if err != nil {
			return err
		}
		layer := m.RaftLayer(m.Addr(), func() (*tls.Config, error) { return cfg, nil })
		c, err := layer.Dial(transport.ServerAddress(m.Addr().String()), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "ping" {
			return errors.New("bad echo")
		}
		return nil
	}
	if err := dial(model.RoleManager); err != nil {
		t.Fatalf("manager: %v", err)
	}
	if err := dial(model.RoleWorker); err == nil {
		t.Fatal("a worker certificate reached Raft")
	}
}

func TestPlainHTTPGetsAClearAnswer(t *testing.T) {
	p := newPKI(t)
	m := startMux(t, p)
	resp, err := http.Get("http://" + m.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "requires TLS") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestGarbageAndForeignCAAreRefused(t *testing.T) {
	p := newPKI(t)
	m := startMux(t, p)
	// Garbage bytes: the connection is closed.
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5})
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("garbage handshake: %v", err)
	}
	c.Close()
	// A certificate of another cluster's CA fails the handshake.
	other := newPKI(t)
	foreign := other.cert(t, model.RoleManager)
	// ClientTLSConfig refuses to build with it; a hostile client would not.
	if _, err := ca.ClientTLSConfig(&foreign, p.root); err == nil {
		t.Fatal("client config built with another CA's certificate")
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{foreign}, InsecureSkipVerify: true}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	if _, err := cl.Get("https://" + m.Addr().String() + "/"); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
}

// TestIdleHTTPConnectionsAreClosed checks that the server closes a
// connection its client left idle, over HTTP/2 and HTTP/1.1, for
// connections that reach it through the Mux.
func TestIdleHTTPConnectionsAreClosed(t *testing.T) {
	if s := transport.NewHTTPServer(http.NotFoundHandler(), nil); s.IdleTimeout != transport.HTTPIdleTimeout {
		t.Fatalf("IdleTimeout %v, want %v", s.IdleTimeout, transport.HTTPIdleTimeout)
	}
	p := newPKI(t)
	var mu sync.Mutex
	open := 0
	m := startMux(t, p, func(s *http.Server) {
		s.IdleTimeout = 100 * time.Millisecond
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case http.StateNew:
				open++
			case http.StateClosed, http.StateHijacked:
				open--
			}
		}
	})
	worker := p.cert(t, model.RoleWorker)
	cfg, err := ca.ClientTLSConfig(&worker, p.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{true, false} {
		// The client keeps its connection in its pool, as a client that
		// forgot about it would. Each has its own TLS configuration: an
		// HTTP/2 transport adds "h2" to the NextProtos of the one it has.
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: h2}}
		resp, err := cl.Get("https://" + m.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := open
			mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d idle connections still open", resp.Proto, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
