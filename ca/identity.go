package ca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/shoal-dev/shoal/model"
)

// Organizational units of node certificates, Docker's names.
const (
	ManagerRoleOU = "swarm-manager"
	WorkerRoleOU  = "swarm-worker"
)

// Identity is who a node certificate says its holder is.
type Identity struct {
	NodeID    string
	Role      model.NodeRole
	ClusterID string
}

// RoleOU returns the OU that stands for role in node certificates.
func RoleOU(role model.NodeRole) (string, error) {
	switch role {
	case model.RoleManager:
		return ManagerRoleOU, nil
	case model.RoleWorker:
		return WorkerRoleOU, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidRole, role)
}

// OURole is the inverse of RoleOU.
func OURole(ou string) (model.NodeRole, error) {
	switch ou {
	case ManagerRoleOU:
		return model.RoleManager, nil
	case WorkerRoleOU:
		return model.RoleWorker, nil
	}
	return "", fmt.Errorf("%w: %.64q", ErrUnknownRole, ou)
}

// ParseIdentity reads the identity of a node certificate: CN = node ID,
// OU = role, O = cluster ID, each present exactly once. It does not verify
// the certificate: call it on a verified chain's leaf (PeerIdentity does)
// or after RootCA.VerifyNodeCertificate.
func ParseIdentity(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: nil certificate", ErrNoNodeID)
	}
	if cert.Subject.CommonName == "" {
		return Identity{}, ErrNoNodeID
	}
	if len(cert.Subject.OrganizationalUnit) != 1 {
		return Identity{}, fmt.Errorf("%w: %d OUs, want 1", ErrUnknownRole, len(cert.Subject.OrganizationalUnit))
	}
	role, err := OURole(cert.Subject.OrganizationalUnit[0])
	if err != nil {
		return Identity{}, err
	}
	if len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] == "" {
		return Identity{}, ErrNoClusterID
	}
	return Identity{
		NodeID:    cert.Subject.CommonName,
		Role:      role,
		ClusterID: cert.Subject.Organization[0],
	}, nil
}

// PeerIdentity returns the identity of the peer of a TLS connection whose
// certificate was verified during the handshake. Servers built with
// ServerTLSConfig call it in their handlers: ErrNoPeerCertificate means a
// node that has not joined yet (only the CA endpoints may serve it), and
// ErrPeerNotVerified a connection whose configuration did not verify
// client certificates (a programming error, never to be trusted).
//
// On the client side of ClientTLSConfig the server is verified by custom
// code, so VerifiedChains is empty; the server is known to be a manager of
// the cluster once the handshake succeeds.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, ErrNoPeerCertificate
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, ErrPeerNotVerified
	}
	return ParseIdentity(cs.VerifiedChains[0][0])
}
