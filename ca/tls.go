package ca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// TLSOption changes a configuration made by ServerTLSConfig or
// ClientTLSConfig.
type TLSOption func(*tlsOptions)

type tlsOptions struct {
	isRevoked func(nodeID string) bool
	now       func() time.Time
	logger    *slog.Logger
}

func buildOptions(opts []TLSOption) tlsOptions {
	o := tlsOptions{now: time.Now, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithRevocation makes every handshake refuse a peer whose node ID
// isRevoked reports, with an error wrapping ErrNodeRevoked that names the
// node. Managers pass a lookup of model.Cluster.RemovedNodes. isRevoked is
// called on every handshake, including resumed ones, from many goroutines
// at once: it must be safe for concurrent use and fast.
func WithRevocation(isRevoked func(nodeID string) bool) TLSOption {
	return func(o *tlsOptions) { o.isRevoked = isRevoked }
}

// WithClock sets the clock used to check certificate validity periods;
// tests use it to move to the future. The default is time.Now.
func WithClock(now func() time.Time) TLSOption {
	return func(o *tlsOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// WithLogger sets the logger that records refused peers (at Warn level).
// The default is slog.Default().
func WithLogger(l *slog.Logger) TLSOption {
	return func(o *tlsOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// tlsCipherSuites are the TLS 1.2 suites offered: node keys are ECDSA, so
// only ECDHE-ECDSA AEAD suites can be used. TLS 1.3 suites are not
// configurable in Go and are all good.
var tlsCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerTLSConfig returns the configuration of a manager's listener. cert
// must be a manager certificate issued by root.
//
// Client certificates are verified when given but not required
// (tls.VerifyClientCertIfGiven): a joining node has no certificate yet and
// must still reach the CA endpoints. Handlers enforce roles with
// PeerIdentity. A client certificate that is presented must chain to root,
// be valid now, carry a known role, belong to the server's cluster and not
// be revoked (WithRevocation); otherwise the handshake fails.
//
// To serve a renewed certificate without restarting, the caller may set
// GetCertificate on the returned configuration.
func ServerTLSConfig(cert tls.Certificate, root *RootCA, opts ...TLSOption) (*tls.Config, error) {
	if root == nil {
		return nil, ErrNilRootCA
	}
	own, err := checkOwnCertificate(cert, root)
	if err != nil {
		return nil, err
	}
	if own.Role != model.RoleManager {
		return nil, fmt.Errorf("%w: server needs a manager certificate, got role %s", ErrInvalidTLSCert, own.Role)
	}
	o := buildOptions(opts)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsCipherSuites,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    root.Pool(),
		Time:         o.now,
		// VerifyConnection, unlike VerifyPeerCertificate, also runs on
		// resumed sessions, so a revoked node cannot come back through a
		// session ticket issued before its removal.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // joining node: only the CA endpoints will serve it
			}
			if err := o.checkPeer(cs, own.ClusterID); err != nil {
				o.logger.Warn("refused TLS client", "component", "ca", "error", err)
				return err
			}
			return nil
		},
	}, nil
}

// checkPeer checks the identity of a client already verified by crypto/tls.
func (o *tlsOptions) checkPeer(cs tls.ConnectionState, clusterID string) error {
	id, err := PeerIdentity(cs)
	if err != nil {
		return err
	}
	return o.checkIdentity(id, clusterID)
}

func (o *tlsOptions) checkIdentity(id Identity, clusterID string) error {
	if clusterID != "" && id.ClusterID != clusterID {
		return fmt.Errorf("%w: node %s is in cluster %q, not %q", ErrClusterMismatch, id.NodeID, id.ClusterID, clusterID)
	}
	if o.isRevoked != nil && o.isRevoked(id.NodeID) {
		return fmt.Errorf("%w: refusing the certificate of node %s", ErrNodeRevoked, id.NodeID)
	}
	return nil
}

// ClientTLSConfig returns the configuration to dial a manager. cert is the
// node's own certificate, or nil for a joining node that has verified the
// root (FetchAndVerifyRoot) and now sends its CSR.
//
// The server's chain is verified against root by custom code rather than
// by host name: nodes dial managers by IP address and certificates carry
// no IP SANs. The server must hold a manager certificate (OU
// swarm-manager) valid now, of the client's own cluster when cert is
// given, and not be revoked (WithRevocation).
func ClientTLSConfig(cert *tls.Certificate, root *RootCA, opts ...TLSOption) (*tls.Config, error) {
	if root == nil {
		return nil, ErrNilRootCA
	}
	o := buildOptions(opts)
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsCipherSuites,
		RootCAs:      root.Pool(),
		Time:         o.now,
		// The standard verification would check the server's name against
		// the dialled address; VerifyConnection below does the real check.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
	}
	var clusterID string
	if cert != nil {
		own, err := checkOwnCertificate(*cert, root)
		if err != nil {
			return nil, err
		}
		clusterID = own.ClusterID
		cfg.Certificates = []tls.Certificate{*cert}
	}
	pool := root.Pool()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := verifyServer(cs, pool, o.now())
		if err == nil {
			err = o.checkIdentity(id, clusterID)
		}
		if err != nil {
			o.logger.Warn("refused TLS server", "component", "ca", "server_name", cs.ServerName, "error", err)
			return err
		}
		return nil
	}
	return cfg, nil
}

// verifyServer does for the client what crypto/tls would do without
// InsecureSkipVerify, minus the host name check, plus the role check.
func verifyServer(cs tls.ConnectionState, roots *x509.CertPool, now time.Time) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, ErrNoPeerCertificate
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err != nil {
		return Identity{}, fmt.Errorf("%w: server: %w", ErrUntrustedCert, err)
	}
	id, err := ParseIdentity(leaf)
	if err != nil {
		return Identity{}, err
	}
	if id.Role != model.RoleManager {
		return Identity{}, fmt.Errorf("%w: node %s has role %s", ErrServerNotManager, id.NodeID, id.Role)
	}
	return id, nil
}

// checkOwnCertificate checks a node's own certificate before it is put in
// a configuration: a key, a leaf signed by root, a valid identity. It does
// not check the validity period: an expired certificate is refused by the
// peer, with an error that says so.
func checkOwnCertificate(cert tls.Certificate, root *RootCA) (Identity, error) {
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return Identity{}, fmt.Errorf("%w: no certificate or no key", ErrInvalidTLSCert)
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrInvalidTLSCert, err)
		}
	}
	if err := leaf.CheckSignatureFrom(root.Cert()); err != nil {
		return Identity{}, fmt.Errorf("%w: not issued by the cluster root: %w", ErrInvalidTLSCert, err)
	}
	id, err := ParseIdentity(leaf)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidTLSCert, err)
	}
	return id, nil
}

// InsecureBootstrapTLSConfig returns the configuration for a joining
// node's very first connection, made to fetch the root certificate before
// the node can verify anything. It does not authenticate the server: the
// fetched PEM must go through FetchAndVerifyRoot, which checks it against
// the digest in the join token, and nothing else may be sent or trusted on
// this connection (in particular not the join token).
func InsecureBootstrapTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       tlsCipherSuites,
		InsecureSkipVerify: true, //nolint:gosec // the root is checked against the join token
	}
}

// FetchAndVerifyRoot checks a root certificate fetched over
// InsecureBootstrapTLSConfig against the digest in the join token and
// returns it as a verify-only RootCA. A mismatch (a man in the middle, or
// a token of another cluster) fails with ErrRootCAMismatch.
func FetchAndVerifyRoot(certPEM []byte, token JoinToken) (*RootCA, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemTypeCertificate {
		return nil, ErrRootCertPEM
	}
	if !token.MatchesCA(&x509.Certificate{Raw: block.Bytes}) {
		return nil, ErrRootCAMismatch
	}
	return NewRootCA(certPEM, nil)
}
