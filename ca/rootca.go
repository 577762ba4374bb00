package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

const (
	// RootCommonName is the CN of every cluster root, as in Docker.
	RootCommonName = "swarm-ca"
	// RootValidity is the lifetime of a generated root: 20 years, Docker's
	// value. The root is not rotated automatically.
	RootValidity = 20 * 365 * 24 * time.Hour
	// ClockSkewAllowance backdates NotBefore of every certificate this
	// package makes so that a peer whose clock is slightly behind accepts
	// a certificate issued a moment ago.
	ClockSkewAllowance = time.Minute

	pemTypeCertificate = "CERTIFICATE"
	pemTypeECKey       = "EC PRIVATE KEY"
	pemTypeCSR         = "CERTIFICATE REQUEST"
)

// RootCA is the cluster's certificate authority. A RootCA loaded without its
// key can verify certificates but not issue them; every node has such a
// verify-only RootCA, managers have the key.
//
// A RootCA is immutable after creation and safe for concurrent use.
type RootCA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey // nil for a verify-only root
	keyPEM  []byte
	pool    *x509.CertPool
	digest  [sha256.Size]byte
}

// CreateRootCA generates a new root: an ECDSA P-256 key and a self-signed
// certificate with CN "swarm-ca", valid for RootValidity.
func CreateRootCA() (*RootCA, error) {
	return createRootCA(time.Now(), RootValidity)
}

func createRootCA(now time.Time, validity time.Duration) (*RootCA, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: RootCommonName},
		NotBefore:             now.Add(-ClockSkewAllowance),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("ca: create root certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: der})
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return NewRootCA(certPEM, keyPEM)
}

// NewRootCA loads a root from the PEM of its certificate and, optionally,
// of its key (nil or empty for a verify-only root). The certificate must be
// a CA certificate; the key, when given, must match it.
func NewRootCA(certPEM, keyPEM []byte) (*RootCA, error) {
	cert, err := parseRootCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	r := &RootCA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: cert.Raw}),
		pool:    x509.NewCertPool(),
		digest:  sha256.Sum256(cert.Raw),
	}
	r.pool.AddCert(cert)
	if len(keyPEM) == 0 {
		return r, nil
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRootKeyPEM, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, ErrRootKeyMismatch
	}
	r.key = key
	r.keyPEM, err = MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func parseRootCertPEM(certPEM []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != pemTypeCertificate {
		return nil, ErrRootCertPEM
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: more than one PEM block", ErrRootCertPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRootCertParse, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, ErrRootNotCA
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("%w: not self-signed: %w", ErrRootNotCA, err)
	}
	return cert, nil
}

// Cert returns the parsed root certificate. Do not modify it.
func (r *RootCA) Cert() *x509.Certificate { return r.cert }

// CertPEM returns the PEM of the root certificate, the bytes a joining
// node fetches and checks with FetchAndVerifyRoot. Do not modify it.
func (r *RootCA) CertPEM() []byte { return r.certPEM }

// KeyPEM returns the PEM of the root key, or ErrNoRootKey for a
// verify-only root. The key is the cluster's most sensitive secret: store
// it only encrypted (the Raft log is encrypted at rest).
func (r *RootCA) KeyPEM() ([]byte, error) {
	if r.key == nil {
		return nil, ErrNoRootKey
	}
	return r.keyPEM, nil
}

// CanSign tells whether the root has its key and can issue certificates.
func (r *RootCA) CanSign() bool { return r.key != nil }

// Digest returns the SHA-256 digest of the root certificate's DER, the
// value join tokens carry.
func (r *RootCA) Digest() [sha256.Size]byte { return r.digest }

// DigestHex returns Digest in lower-case hex, the form stored in
// model.RootCA.CACertDigest.
func (r *RootCA) DigestHex() string { return hex.EncodeToString(r.digest[:]) }

// Pool returns a pool holding only the root certificate. The pool is
// shared: do not add certificates to it.
func (r *RootCA) Pool() *x509.CertPool { return r.pool }

// VerifyNodeCertificate checks that cert was issued by this root, is valid
// at now and may be used for client authentication (every node certificate
// may), and
// returns the identity it carries. intermediates may be nil. It does not
// consult any revocation list: the TLS configurations of this package do.
func (r *RootCA) VerifyNodeCertificate(cert *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (Identity, error) {
	opts := x509.VerifyOptions{
		Roots:       r.pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := cert.Verify(opts); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUntrustedCert, err)
	}
	return ParseIdentity(cert)
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("ca: serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// GenerateKey returns a new ECDSA P-256 key, the key type of every node
// and root in the cluster.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generate key: %w", err)
	}
	return key, nil
}

// MarshalKeyPEM encodes an ECDSA key as an "EC PRIVATE KEY" PEM block
// (SEC 1, x509.MarshalECPrivateKey).
func MarshalKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyType, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeECKey, Bytes: der}), nil
}

// ParseKeyPEM decodes an "EC PRIVATE KEY" PEM block.
func ParseKeyPEM(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != pemTypeECKey {
		return nil, ErrKeyPEM
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyPEM, err)
	}
	return key, nil
}

// NewCSR returns the PEM of a certificate signing request for key. The
// request carries no subject: the CA sets the node's identity itself.
func NewCSR(key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrKeyType)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("ca: create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeCSR, Bytes: der}), nil
}
