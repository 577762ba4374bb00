package ca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// certWithSubject signs a certificate with an arbitrary subject, bypassing
// IssueNodeCertificate's checks, to test ParseIdentity's.
func certWithSubject(t *testing.T, root *RootCA, subj pkix.Name) *x509.Certificate {
	t.Helper()
	key, _ := GenerateKey()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      subj,
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert(), key.Public(), root.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestParseIdentity(t *testing.T) {
	root := testRoot()
	tests := []struct {
		name string
		subj pkix.Name
		want Identity
		err  error
	}{
		{"manager", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"swarm-manager"}, Organization: []string{"c1"}},
			Identity{"n1", model.RoleManager, "c1"}, nil},
		{"worker", pkix.Name{CommonName: "n2", OrganizationalUnit: []string{"swarm-worker"}, Organization: []string{"c1"}},
			Identity{"n2", model.RoleWorker, "c1"}, nil},
		{"no CN", pkix.Name{OrganizationalUnit: []string{"swarm-worker"}, Organization: []string{"c1"}}, Identity{}, ErrNoNodeID},
		{"unknown OU", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"swarm-admin"}, Organization: []string{"c1"}}, Identity{}, ErrUnknownRole},
		{"role name instead of OU", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"manager"}, Organization: []string{"c1"}}, Identity{}, ErrUnknownRole},
		{"no OU", pkix.Name{CommonName: "n1", Organization: []string{"c1"}}, Identity{}, ErrUnknownRole},
		{"two OUs", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"swarm-worker", "swarm-manager"}, Organization: []string{"c1"}}, Identity{}, ErrUnknownRole},
		{"no O", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"swarm-worker"}}, Identity{}, ErrNoClusterID},
		{"two Os", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"swarm-worker"}, Organization: []string{"c1", "c2"}}, Identity{}, ErrNoClusterID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIdentity(certWithSubject(t, root, tt.subj))
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseIdentity = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("identity %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := ParseIdentity(nil); err == nil {
		t.Fatal("ParseIdentity(nil) succeeded")
	}
}

func TestRoleOU(t *testing.T) {
	for _, role := range []model.NodeRole{model.RoleManager, model.RoleWorker} {
		ou, err := RoleOU(role)
		if err != nil {
			t.Fatal(err)
		}
		back, err := OURole(ou)
		if err != nil || back != role {
			t.Fatalf("OURole(RoleOU(%q)) = %q, %v", role, back, err)
		}
	}
	if _, err := RoleOU("boss"); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("RoleOU(boss) = %v", err)
	}
	if _, err := OURole("swarm-boss"); !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("OURole(swarm-boss) = %v", err)
	}
}

func TestPeerIdentityWithoutVerification(t *testing.T) {
	creds := issue(t, testRoot(), "n1", model.RoleManager, testClusterID, time.Hour)
	tests := []struct {
		name string
		cs   tls.ConnectionState
		want error
	}{
		{"no certificate", tls.ConnectionState{}, ErrNoPeerCertificate},
		{"certificate not verified", tls.ConnectionState{PeerCertificates: []*x509.Certificate{creds.tlsCert.Leaf}}, ErrPeerNotVerified},
		{"verified", tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{creds.tlsCert.Leaf},
			VerifiedChains:   [][]*x509.Certificate{{creds.tlsCert.Leaf, testRoot().Cert()}},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := PeerIdentity(tt.cs); !errors.Is(err, tt.want) {
				t.Fatalf("PeerIdentity = %v, want %v", err, tt.want)
			}
		})
	}
}
