package testutil

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/model"
)

// NodeCert is a node certificate issued for a fresh key.
type NodeCert struct {
	CertPEM, KeyPEM []byte
	TLS             tls.Certificate
}

// IssueNode issues root's certificate for a fresh key of node nodeID with
// role in cluster clusterID, valid for validity, as a manager's CA would.
func IssueNode(t testing.TB, root *ca.RootCA, nodeID string, role model.NodeRole, clusterID string, validity time.Duration) NodeCert {
	t.Helper()
	key, err := ca.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ca.NewCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.IssueNodeCertificate(csr, nodeID, role, clusterID, validity)
	if err != nil {
		t.Fatalf("issuing a certificate for %s: %v", nodeID, err)
	}
	keyPEM, err := ca.MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return NodeCert{CertPEM: certPEM, KeyPEM: keyPEM, TLS: c}
}
