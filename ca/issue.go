package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/model"
)

const (
	// DefaultNodeCertValidity is Docker's default node certificate
	// lifetime (model.CAConfig.NodeCertExpiry starts with it).
	DefaultNodeCertValidity = 90 * 24 * time.Hour
	// MinNodeCertValidity is the shortest lifetime IssueNodeCertificate
	// accepts, Docker's minimum: shorter lives would have nodes renewing
	// all the time.
	MinNodeCertValidity = time.Hour

	// maxNameLen is the X.509 upper bound for CN and O.
	maxNameLen = 64
)

// IssueNodeCertificate signs a node certificate for the key in csrPEM.
//
// The CSR's signature is checked (the node owns the key) and its key must be
// ECDSA P-256 or P-384. Everything else the CSR asks for is ignored: the
// certificate's subject is CN=nodeID, OU=role ("swarm-manager" or
// "swarm-worker"), O=clusterID, its DNS names are the OU and the node ID,
// and it is valid for client and server authentication. NotBefore is
// backdated by ClockSkewAllowance; the lifetime is validity (at least
// MinNodeCertValidity), cut to the root's own expiry.
//
// The caller decides nodeID and role (from the join token or the node's
// stored role); it must never take them from the CSR.
func (r *RootCA) IssueNodeCertificate(csrPEM []byte, nodeID string, role model.NodeRole, clusterID string, validity time.Duration) ([]byte, error) {
	return r.issueNodeCertificate(csrPEM, nodeID, role, clusterID, validity, time.Now())
}

func (r *RootCA) issueNodeCertificate(csrPEM []byte, nodeID string, role model.NodeRole, clusterID string, validity time.Duration, now time.Time) ([]byte, error) {
	if r.key == nil {
		return nil, ErrNoRootKey
	}
	ou, err := RoleOU(role)
	if err != nil {
		return nil, err
	}
	if err := validateNodeID(nodeID); err != nil {
		return nil, err
	}
	if err := validateClusterID(clusterID); err != nil {
		return nil, err
	}
	if validity < MinNodeCertValidity {
		return nil, fmt.Errorf("%w: got %s", ErrValidityTooShort, validity)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(r.cert.NotAfter) {
		notAfter = r.cert.NotAfter
	}
	if notAfter.Sub(now) < MinNodeCertValidity {
		return nil, fmt.Errorf("%w: the root CA expires at %s", ErrValidityTooShort, r.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{ou},
			Organization:       []string{clusterID},
		},
		DNSNames:              []string{ou, nodeID},
		NotBefore:             now.Add(-ClockSkewAllowance),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.cert, csr.PublicKey, r.key)
	if err != nil {
		return nil, fmt.Errorf("ca: sign node certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: der}), nil
}

// ParseCSR decodes and checks a CSR the way IssueNodeCertificate does:
// exactly one "CERTIFICATE REQUEST" PEM block, a valid self-signature and
// an ECDSA P-256 or P-384 key.
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(csrPEM)
	if block == nil {
		return nil, ErrCSRNotPEM
	}
	if block.Type != pemTypeCSR {
		return nil, fmt.Errorf("%w: got %.40q", ErrCSRPEMType, block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, ErrCSRTrailingData
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSRParse, err)
	}
	// Check the key type before the signature so that an RSA CSR gets the
	// error that explains what to do.
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: got %s", ErrCSRKeyType, csr.PublicKeyAlgorithm)
	}
	if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
		return nil, fmt.Errorf("%w: got curve %s", ErrCSRKeyType, pub.Curve.Params().Name)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSRSignature, err)
	}
	return csr, nil
}

// validateNodeID accepts what model.NewID makes and other short DNS-safe
// names: the node ID goes into the CN and a DNS name of the certificate.
func validateNodeID(id string) error {
	if id == "" || len(id) > maxNameLen {
		return fmt.Errorf("%w: length %d, want 1 to %d", ErrInvalidNodeID, len(id), maxNameLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q has characters other than letters, digits and '-'", ErrInvalidNodeID, id)
		}
	}
	return nil
}

func validateClusterID(id string) error {
	if id == "" || len(id) > maxNameLen {
		return fmt.Errorf("%w: length %d, want 1 to %d", ErrInvalidClusterID, len(id), maxNameLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return fmt.Errorf("%w: %q has non-printable or non-ASCII characters", ErrInvalidClusterID, id)
		}
	}
	return nil
}
