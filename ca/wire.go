package ca

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/shoal-dev/shoal/model"
)

// Paths of the CA endpoints on the cluster port.
const (
	PathRoot   = "/ca/v1/root"
	PathJoin   = "/ca/v1/join"
	PathRenew  = "/ca/v1/renew"
	PathRejoin = "/ca/v1/rejoin"
)

// MaxMessageSize bounds the body of a CA request or response.
const MaxMessageSize = 64 << 10

// JoinRequest is what a joining node sends with its token.
type JoinRequest struct {
	Token string `json:"token"`
	// CSR is the PEM certificate request for the node's new key.
	CSR      string `json:"csr"`
	Hostname string `json:"hostname"`
	// Role is the role the node asks for; the token must grant it.
	Role model.NodeRole `json:"role"`
	// AdvertiseAddr is a joining manager's cluster address.
	AdvertiseAddr string `json:"advertise_addr,omitempty"`
	// GossipAddr is the node's gossip address.
	GossipAddr string `json:"gossip_addr,omitempty"`
	// Labels are the node's engine labels.
	Labels map[string]string `json:"labels,omitempty"`
}

// ManagerAddr names a manager and its cluster address.
type ManagerAddr struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// JoinResponse carries a joined node's identity.
type JoinResponse struct {
	NodeID    string         `json:"node_id"`
	ClusterID string         `json:"cluster_id"`
	Role      model.NodeRole `json:"role"`
	// Certificate is the PEM of the node's certificate.
	Certificate string `json:"certificate"`
	// RootCA is the PEM of the cluster's root certificate.
	RootCA   string        `json:"root_ca"`
	Managers []ManagerAddr `json:"managers"`
}

// RenewRequest asks for a new certificate for the caller's node.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RejoinRequest renews the certificate of a node that was offline past its
// certificate's expiry: the join token authorises it, the expired
// certificate names the node, and the CSR, made with the same key, proves
// the caller holds that certificate's key.
type RejoinRequest struct {
	Token       string `json:"token"`
	Certificate string `json:"certificate"`
	CSR         string `json:"csr"`
}

// RenewResponse carries a renewed certificate.
type RenewResponse struct {
	Certificate string         `json:"certificate"`
	Role        model.NodeRole `json:"role"`
}

// ErrorResponse is the body of a refused request.
type ErrorResponse struct {
	Message string `json:"message"`
}

// ParseCertificatePEM parses the PEM of one certificate.
func ParseCertificatePEM(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemTypeCertificate {
		return nil, fmt.Errorf("ca: not a certificate PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}
