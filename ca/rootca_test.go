package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestCreateRootCA(t *testing.T) {
	before := time.Now()
	root := newRoot(t)
	cert := root.Cert()

	if cert.Subject.CommonName != "swarm-ca" {
		t.Errorf("CN = %q, want swarm-ca", cert.Subject.CommonName)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Error("root is not a CA certificate")
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("root cannot sign certificates")
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("root key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if life := cert.NotAfter.Sub(before); life < 20*365*24*time.Hour-time.Minute || life > 20*366*24*time.Hour {
		t.Errorf("root validity %s, want 20 years", life)
	}
	if skew := before.Sub(cert.NotBefore); skew < 59*time.Second || skew > 2*time.Minute {
		t.Errorf("NotBefore is %s before creation, want about 1m", skew)
	}
	if want := sha256.Sum256(cert.Raw); root.Digest() != want {
		t.Error("Digest is not the SHA-256 of the certificate DER")
	}
	if want := sha256.Sum256(cert.Raw); root.DigestHex() != hex.EncodeToString(want[:]) {
		t.Error("DigestHex does not match")
	}
	if !root.CanSign() {
		t.Error("new root cannot sign")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: root.Pool()}); err != nil {
		t.Errorf("root does not verify against its own pool: %v", err)
	}
	block, _ := pem.Decode(root.CertPEM())
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CertPEM is not a CERTIFICATE block")
	}
	keyPEM, err := root.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "EC PRIVATE KEY" {
		t.Fatalf("KeyPEM is not an EC PRIVATE KEY block")
	}

	// Reloading gives the same root, with and without the key.
	again, err := NewRootCA(root.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest() != root.Digest() || !again.CanSign() {
		t.Error("reloaded root differs")
	}
	verifyOnly, err := NewRootCA(root.CertPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if verifyOnly.CanSign() {
		t.Error("root loaded without key says it can sign")
	}
	if _, err := verifyOnly.KeyPEM(); !errors.Is(err, ErrNoRootKey) {
		t.Errorf("KeyPEM of verify-only root = %v, want ErrNoRootKey", err)
	}
}

func TestVerifyOnlyRootCannotSign(t *testing.T) {
	root := testRoot()
	verifyOnly, err := NewRootCA(root.CertPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey()
	csr, _ := NewCSR(key)
	_, err = verifyOnly.IssueNodeCertificate(csr, "node1", model.RoleWorker, testClusterID, time.Hour)
	if !errors.Is(err, ErrNoRootKey) {
		t.Fatalf("IssueNodeCertificate = %v, want ErrNoRootKey", err)
	}
	if err.Error() != "ca: root key not available" {
		t.Fatalf("error text %q", err.Error())
	}
	// It still verifies what the full root issued.
	creds := issue(t, root, "node1", model.RoleWorker, testClusterID, time.Hour)
	id, err := verifyOnly.VerifyNodeCertificate(creds.tlsCert.Leaf, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{NodeID: "node1", Role: model.RoleWorker, ClusterID: testClusterID}) {
		t.Fatalf("identity %+v", id)
	}
}

func TestNewRootCAErrors(t *testing.T) {
	root := testRoot()
	other := newRoot(t)
	rootKey, _ := root.KeyPEM()
	otherKey, _ := other.KeyPEM()
	node := issue(t, root, "node1", model.RoleManager, testClusterID, time.Hour)

	tests := []struct {
		name    string
		certPEM []byte
		keyPEM  []byte
		want    error
	}{
		{"empty", nil, nil, ErrRootCertPEM},
		{"garbage", []byte("not a certificate"), nil, ErrRootCertPEM},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: root.Cert().Raw}), nil, ErrRootCertPEM},
		{"two certificates", append(append([]byte{}, root.CertPEM()...), other.CertPEM()...), nil, ErrRootCertPEM},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), nil, ErrRootCertParse},
		{"node certificate as root", node.certPEM, nil, ErrRootNotCA},
		{"key of another root", root.CertPEM(), otherKey, ErrRootKeyMismatch},
		{"garbage key", root.CertPEM(), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), ErrRootKeyPEM},
		{"certificate as key", root.CertPEM(), root.CertPEM(), ErrRootKeyPEM},
		{"valid", root.CertPEM(), rootKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRootCA(tt.certPEM, tt.keyPEM)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewRootCA = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyNodeCertificate(t *testing.T) {
	root := testRoot()
	other := newRoot(t)
	good := issue(t, root, "node1", model.RoleManager, testClusterID, time.Hour)
	foreign := issue(t, other, "node1", model.RoleManager, testClusterID, time.Hour)

	tests := []struct {
		name string
		cert *x509.Certificate
		now  time.Time
		want error
	}{
		{"valid", good.tlsCert.Leaf, time.Now(), nil},
		{"expired", good.tlsCert.Leaf, time.Now().Add(2 * time.Hour), ErrUntrustedCert},
		{"not yet valid", good.tlsCert.Leaf, time.Now().Add(-time.Hour), ErrUntrustedCert},
		{"other cluster's CA", foreign.tlsCert.Leaf, time.Now(), ErrUntrustedCert},
		{"the root itself", root.Cert(), time.Now(), ErrUnknownRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := root.VerifyNodeCertificate(tt.cert, nil, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyNodeCertificate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if key.Curve != elliptic.P256() {
		t.Fatalf("GenerateKey curve %s, want P-256", key.Curve.Params().Name)
	}
	p, err := MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeyPEM(p)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(key) {
		t.Fatal("key changed in a PEM round trip")
	}
	for _, bad := range [][]byte{nil, []byte("x"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})} {
		if _, err := ParseKeyPEM(bad); !errors.Is(err, ErrKeyPEM) {
			t.Errorf("ParseKeyPEM(%q) = %v, want ErrKeyPEM", bad, err)
		}
	}
	if _, err := NewCSR(nil); !errors.Is(err, ErrKeyType) {
		t.Errorf("NewCSR(nil) = %v, want ErrKeyType", err)
	}
}
