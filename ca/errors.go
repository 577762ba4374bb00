package ca

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by this package. Callers match them with errors.Is; the
// returned errors wrap them with details (lengths, names, the cause), never
// with secrets.
var (
	// Root CA.
	ErrNoRootKey       = errors.New("ca: root key not available")
	ErrRootCertPEM     = errors.New("ca: root certificate is not a PEM \"CERTIFICATE\" block")
	ErrRootCertParse   = errors.New("ca: cannot parse root certificate")
	ErrRootNotCA       = errors.New("ca: root certificate is not a CA certificate")
	ErrRootKeyPEM      = errors.New("ca: root key is not a PEM \"EC PRIVATE KEY\" block")
	ErrRootKeyMismatch = errors.New("ca: root key does not match the root certificate")
	ErrRootCAMismatch  = errors.New("ca: the manager's CA does not match the join token")

	// Keys.
	ErrKeyPEM  = errors.New("ca: key is not a PEM \"EC PRIVATE KEY\" block")
	ErrKeyType = errors.New("ca: unsupported key type")

	// Join tokens.
	ErrTokenPrefix        = errors.New("ca: join token must start with \"SWMTKN-\"")
	ErrTokenFormat        = errors.New("ca: malformed join token, want SWMTKN-1-<digest>-<secret>")
	ErrTokenVersion       = errors.New("ca: unsupported join token version")
	ErrTokenDigestLength  = errors.New("ca: join token CA digest has the wrong length")
	ErrTokenSecretLength  = errors.New("ca: join token secret has the wrong length")
	ErrTokenCharset       = errors.New("ca: join token may only contain the characters 0-9 and a-z")
	ErrTokenDigestRange   = errors.New("ca: join token CA digest does not fit in 256 bits")
	ErrTokenSecretRange   = errors.New("ca: join token secret does not fit in 128 bits")
	ErrTokenCAMismatch    = errors.New("ca: join token was made for another cluster's CA")
	ErrTokenRejected      = errors.New("ca: join token is not valid (wrong or rotated)")
	ErrStoredTokenInvalid = errors.New("ca: stored join token is invalid")

	// Certificate signing requests and issuance.
	ErrCSRNotPEM        = errors.New("ca: CSR is not PEM encoded")
	ErrCSRPEMType       = errors.New("ca: CSR PEM block must be of type \"CERTIFICATE REQUEST\"")
	ErrCSRTrailingData  = errors.New("ca: CSR PEM is followed by unexpected data")
	ErrCSRParse         = errors.New("ca: cannot parse CSR")
	ErrCSRSignature     = errors.New("ca: CSR signature does not match the key it carries")
	ErrCSRKeyType       = errors.New("ca: CSR key must be ECDSA P-256 or P-384")
	ErrInvalidNodeID    = errors.New("ca: invalid node ID")
	ErrInvalidClusterID = errors.New("ca: invalid cluster ID")
	ErrInvalidRole      = errors.New("ca: invalid node role")
	ErrValidityTooShort = errors.New("ca: certificate validity is below the minimum of 1h")

	// Identities and TLS.
	ErrNoNodeID            = errors.New("ca: certificate has no node ID (CN)")
	ErrNoClusterID         = errors.New("ca: certificate must have exactly one cluster ID (O)")
	ErrUnknownRole         = errors.New("ca: certificate has an unknown role (OU)")
	ErrNoPeerCertificate   = errors.New("ca: peer presented no certificate")
	ErrPeerNotVerified     = errors.New("ca: peer certificate was not verified")
	ErrUntrustedCert       = errors.New("ca: certificate is not trusted by the cluster root CA")
	ErrServerNotManager    = errors.New("ca: server certificate is not a manager certificate")
	ErrClusterMismatch     = errors.New("ca: peer belongs to another cluster")
	ErrNodeRevoked         = errors.New("ca: node has been removed from the cluster")
	ErrInvalidTLSCert      = errors.New("ca: invalid TLS certificate")
	ErrNilRootCA           = errors.New("ca: root CA is nil")
	ErrCredentialsNotFound = errors.New("ca: node credentials not found")
	ErrCredentialsInvalid  = errors.New("ca: node credentials are invalid")
)

// ExplainTLSError adds what a refused certificate most likely means to a
// client-side error, since a TLS alert carries no message: the manager
// refused this node's certificate because the node was removed from the
// cluster, or the certificate is expired or from another cluster.
func ExplainTLSError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "tls: certificate required"),
		strings.Contains(msg, "tls: expired certificate"), strings.Contains(msg, "tls: unknown certificate authority"):
		return fmt.Errorf("%w (the manager refused this node's certificate: the node was removed from the cluster (node rm), its certificate expired (restart with --token), or it belongs to another cluster)", err)
	}
	return err
}
