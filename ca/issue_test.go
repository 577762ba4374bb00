package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func csrFor(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// mismatchedCSR returns a CSR that carries keyB's public key but is signed
// by keyA: it claims a key its sender does not hold.
func mismatchedCSR(t testing.TB) []byte {
	t.Helper()
	keyA, _ := GenerateKey()
	keyB, _ := GenerateKey()
	derA, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, keyA)
	if err != nil {
		t.Fatal(err)
	}
	csrA, _ := x509.ParseCertificateRequest(derA)
	derB, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, keyB)
	csrB, _ := x509.ParseCertificateRequest(derB)
	if len(csrA.RawSubjectPublicKeyInfo) != len(csrB.RawSubjectPublicKeyInfo) {
		t.Fatal("P-256 SPKIs differ in length")
	}
	swapped := bytes.Replace(derA, csrA.RawSubjectPublicKeyInfo, csrB.RawSubjectPublicKeyInfo, 1)
	if bytes.Equal(swapped, derA) {
		t.Fatal("SPKI not found in the CSR")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: swapped})
}

func TestIssueNodeCertificate(t *testing.T) {
	root := testRoot()
	for _, tt := range []struct {
		role   model.NodeRole
		wantOU string
	}{
		{model.RoleManager, "swarm-manager"},
		{model.RoleWorker, "swarm-worker"},
	} {
		t.Run(string(tt.role), func(t *testing.T) {
			key, _ := GenerateKey()
			// The CSR asks for a different identity and extra names: all
			// of it must be ignored.
			u, _ := url.Parse("spiffe://evil")
			csr := csrFor(t, key, &x509.CertificateRequest{
				Subject: pkix.Name{
					CommonName:         "someone-else",
					OrganizationalUnit: []string{"swarm-manager"},
					Organization:       []string{"other-cluster"},
				},
				DNSNames:       []string{"evil.example.com"},
				IPAddresses:    []net.IP{net.ParseIP("10.0.0.1")},
				EmailAddresses: []string{"a@b.c"},
				URIs:           []*url.URL{u},
			})
			now := time.Now()
			certPEM, err := root.IssueNodeCertificate(csr, "abc123", tt.role, testClusterID, 90*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(certPEM)
			if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
				t.Fatalf("not a single CERTIFICATE block: %q", certPEM)
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != "abc123" ||
				!slices.Equal(cert.Subject.OrganizationalUnit, []string{tt.wantOU}) ||
				!slices.Equal(cert.Subject.Organization, []string{testClusterID}) {
				t.Errorf("subject %v", cert.Subject)
			}
			if !slices.Equal(cert.DNSNames, []string{tt.wantOU, "abc123"}) {
				t.Errorf("DNSNames %v", cert.DNSNames)
			}
			if len(cert.IPAddresses)+len(cert.EmailAddresses)+len(cert.URIs) != 0 {
				t.Errorf("requested SANs were copied: %v %v %v", cert.IPAddresses, cert.EmailAddresses, cert.URIs)
			}
			if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
				t.Errorf("ExtKeyUsage %v", cert.ExtKeyUsage)
			}
			if cert.IsCA {
				t.Error("node certificate is a CA")
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v is not a positive 128-bit number", cert.SerialNumber)
			}
			if d := now.Sub(cert.NotBefore); d < 59*time.Second || d > 2*time.Minute {
				t.Errorf("NotBefore is %s before issue, want about 1m", d)
			}
			if d := cert.NotAfter.Sub(now); d < 90*24*time.Hour-time.Minute || d > 90*24*time.Hour+time.Minute {
				t.Errorf("NotAfter is %s after issue, want 90 days", d)
			}
			if !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Error("certificate does not carry the CSR's key")
			}
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: root.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("chain does not verify for %v: %v", usage, err)
				}
			}
			id, err := ParseIdentity(cert)
			if err != nil {
				t.Fatal(err)
			}
			if id != (Identity{NodeID: "abc123", Role: tt.role, ClusterID: testClusterID}) {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

func TestIssueNodeCertificateSerialsDiffer(t *testing.T) {
	a := issue(t, testRoot(), "n1", model.RoleWorker, testClusterID, time.Hour)
	b := issue(t, testRoot(), "n1", model.RoleWorker, testClusterID, time.Hour)
	if a.tlsCert.Leaf.SerialNumber.Cmp(b.tlsCert.Leaf.SerialNumber) == 0 {
		t.Fatal("two certificates have the same serial")
	}
}

func TestIssueNodeCertificateKeyTypes(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		key  crypto.Signer
		want error
	}{
		{"P-256", func() crypto.Signer { k, _ := GenerateKey(); return k }(), nil},
		{"P-384", p384, nil},
		{"P-224", p224, ErrCSRKeyType},
		{"P-521", p521, ErrCSRKeyType},
		{"RSA", rsaKey(), ErrCSRKeyType},
		{"Ed25519", edKey, ErrCSRKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testRoot().IssueNodeCertificate(csrFor(t, tt.key, nil), "n1", model.RoleWorker, testClusterID, time.Hour)
			if !errors.Is(err, tt.want) {
				t.Fatalf("IssueNodeCertificate = %v, want %v", err, tt.want)
			}
			if tt.want != nil && !strings.Contains(err.Error(), "ECDSA P-256 or P-384") {
				t.Fatalf("error %q does not say which keys are accepted", err)
			}
		})
	}
}

func TestIssueNodeCertificateErrors(t *testing.T) {
	root := testRoot()
	key, _ := GenerateKey()
	good := csrFor(t, key, nil)
	block, _ := pem.Decode(good)
	verifyOnly, err := NewRootCA(root.CertPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}

	type args struct {
		root      *RootCA
		csr       []byte
		nodeID    string
		role      model.NodeRole
		clusterID string
		validity  time.Duration
	}
	base := args{root, good, "node1", model.RoleWorker, testClusterID, time.Hour}
	with := func(f func(*args)) args { a := base; f(&a); return a }

	tests := []struct {
		name string
		args args
		want error
	}{
		{"valid", base, nil},
		{"nil CSR", with(func(a *args) { a.csr = nil }), ErrCSRNotPEM},
		{"garbage CSR", with(func(a *args) { a.csr = []byte("garbage") }), ErrCSRNotPEM},
		{"DER without PEM", with(func(a *args) { a.csr = block.Bytes }), ErrCSRNotPEM},
		{"truncated PEM", with(func(a *args) { a.csr = good[:len(good)/2] }), ErrCSRNotPEM},
		{"truncated DER", with(func(a *args) {
			a.csr = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: block.Bytes[:len(block.Bytes)-10]})
		}), ErrCSRParse},
		{"garbage DER", with(func(a *args) {
			a.csr = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("not DER at all")})
		}), ErrCSRParse},
		{"wrong PEM type", with(func(a *args) {
			a.csr = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})
		}), ErrCSRPEMType},
		{"old PEM type", with(func(a *args) {
			a.csr = pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: block.Bytes})
		}), ErrCSRPEMType},
		{"trailing data", with(func(a *args) { a.csr = append(append([]byte{}, good...), good...) }), ErrCSRTrailingData},
		{"signed by another key", with(func(a *args) { a.csr = mismatchedCSR(t) }), ErrCSRSignature},
		{"RSA key", with(func(a *args) { a.csr = csrFor(t, rsaKey(), nil) }), ErrCSRKeyType},
		{"key-less CA", with(func(a *args) { a.root = verifyOnly }), ErrNoRootKey},
		{"validity 59m", with(func(a *args) { a.validity = 59 * time.Minute }), ErrValidityTooShort},
		{"validity 0", with(func(a *args) { a.validity = 0 }), ErrValidityTooShort},
		{"negative validity", with(func(a *args) { a.validity = -time.Hour }), ErrValidityTooShort},
		{"no role", with(func(a *args) { a.role = "" }), ErrInvalidRole},
		{"unknown role", with(func(a *args) { a.role = "admin" }), ErrInvalidRole},
		{"empty node ID", with(func(a *args) { a.nodeID = "" }), ErrInvalidNodeID},
		{"node ID with slash", with(func(a *args) { a.nodeID = "a/b" }), ErrInvalidNodeID},
		{"node ID with space", with(func(a *args) { a.nodeID = "a b" }), ErrInvalidNodeID},
		{"node ID too long", with(func(a *args) { a.nodeID = strings.Repeat("a", 65) }), ErrInvalidNodeID},
		{"empty cluster ID", with(func(a *args) { a.clusterID = "" }), ErrInvalidClusterID},
		{"cluster ID with newline", with(func(a *args) { a.clusterID = "a\nb" }), ErrInvalidClusterID},
		{"cluster ID too long", with(func(a *args) { a.clusterID = strings.Repeat("c", 65) }), ErrInvalidClusterID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.args
			certPEM, err := a.root.IssueNodeCertificate(a.csr, a.nodeID, a.role, a.clusterID, a.validity)
			if !errors.Is(err, tt.want) {
				t.Fatalf("IssueNodeCertificate = %v, want %v", err, tt.want)
			}
			if err != nil && certPEM != nil {
				t.Fatal("certificate returned with an error")
			}
		})
	}
}

func TestIssueNodeCertificateCappedByRootExpiry(t *testing.T) {
	now := time.Now()
	shortRoot, err := createRootCA(now, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey()
	csr, _ := NewCSR(key)
	certPEM, err := shortRoot.issueNodeCertificate(csr, "n1", model.RoleWorker, testClusterID, 90*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	if !cert.NotAfter.Equal(shortRoot.Cert().NotAfter) {
		t.Fatalf("NotAfter %s, want the root's %s", cert.NotAfter, shortRoot.Cert().NotAfter)
	}
	// With less than the minimum left on the root, issuing fails.
	_, err = shortRoot.issueNodeCertificate(csr, "n1", model.RoleWorker, testClusterID, 90*24*time.Hour, now.Add(150*time.Minute))
	if !errors.Is(err, ErrValidityTooShort) {
		t.Fatalf("issue near root expiry = %v, want ErrValidityTooShort", err)
	}
}

func FuzzIssueNodeCertificate(f *testing.F) {
	root := testRoot()
	key, _ := GenerateKey()
	good, _ := NewCSR(key)
	block, _ := pem.Decode(good)
	f.Add(good)
	f.Add(block.Bytes)
	f.Add(good[:len(good)/2])
	f.Add(csrFor(f, rsaKey(), nil))
	f.Add(mismatchedCSR(f))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Feed the bytes both as they are and wrapped in a PEM block, so
		// that the fuzzer also reaches the DER parser and the checks.
		inputs := [][]byte{data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: data})}
		for _, in := range inputs {
			certPEM, err := root.IssueNodeCertificate(in, "fuzz-node", model.RoleWorker, testClusterID, time.Hour)
			if err != nil {
				if certPEM != nil {
					t.Fatal("certificate returned with an error")
				}
				continue
			}
			// Whatever was accepted yields a proper worker certificate.
			b, _ := pem.Decode(certPEM)
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatalf("issued certificate does not parse: %v", err)
			}
			id, err := root.VerifyNodeCertificate(cert, nil, time.Now())
			if err != nil {
				t.Fatalf("issued certificate does not verify: %v", err)
			}
			if id != (Identity{NodeID: "fuzz-node", Role: model.RoleWorker, ClusterID: testClusterID}) {
				t.Fatalf("identity %+v", id)
			}
			if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
				t.Fatalf("issued for a %T key", cert.PublicKey)
			}
		}
	})
}
