package ca

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestSaveLoadNodeCredentials(t *testing.T) {
	root := testRoot()
	creds := issue(t, root, "node1", model.RoleManager, testClusterID, time.Hour)
	dir := filepath.Join(t.TempDir(), "state")

	if err := SaveNodeCredentials(dir, creds.certPEM, creds.keyPEM, root.CertPEM()); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certificates")
	wantModes := map[string]os.FileMode{
		"":                  0o700 | fs.ModeDir,
		"swarm-node.crt":    0o644,
		"swarm-node.key":    0o600,
		"swarm-root-ca.crt": 0o644,
	}
	for name, mode := range wantModes {
		fi, err := os.Stat(filepath.Join(certDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s has mode %s, want %s", name, fi.Mode(), mode)
		}
	}
	entries, _ := os.ReadDir(certDir)
	if len(entries) != 3 {
		t.Errorf("certificates dir holds %d entries, want 3 (temporary files left?)", len(entries))
	}
	keyFile, _ := os.ReadFile(filepath.Join(certDir, "swarm-node.key"))
	if !bytes.HasPrefix(keyFile, []byte("-----BEGIN EC PRIVATE KEY-----")) {
		t.Errorf("key file is not an EC PRIVATE KEY PEM")
	}

	loaded, err := LoadNodeCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Identity != (Identity{"node1", model.RoleManager, testClusterID}) {
		t.Errorf("identity %+v", loaded.Identity)
	}
	if loaded.Leaf == nil || loaded.Certificate.Leaf != loaded.Leaf || loaded.Certificate.PrivateKey == nil {
		t.Errorf("certificate not fully loaded")
	}
	if loaded.Root.Digest() != root.Digest() || loaded.Root.CanSign() {
		t.Errorf("root not loaded as the verify-only cluster root")
	}
	// The loaded certificate works for TLS.
	if _, err := ServerTLSConfig(loaded.Certificate, loaded.Root); err != nil {
		t.Fatal(err)
	}

	// Saving again (renewal) replaces the files, even in a directory whose
	// mode had been widened.
	if err := os.Chmod(certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	renewed := issue(t, root, "node1", model.RoleWorker, testClusterID, 2*time.Hour)
	if err := SaveNodeCredentials(dir, renewed.certPEM, renewed.keyPEM, root.CertPEM()); err != nil {
		t.Fatal(err)
	}
	loaded, err = LoadNodeCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Identity.Role != model.RoleWorker {
		t.Errorf("renewed credentials not loaded: %+v", loaded.Identity)
	}
	if fi, _ := os.Stat(certDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("certificates dir mode %s after save, want 0700", fi.Mode().Perm())
	}
}

func TestSaveNodeCredentialsRefusesMismatch(t *testing.T) {
	root := testRoot()
	other := newRoot(t)
	a := issue(t, root, "a", model.RoleWorker, testClusterID, time.Hour)
	b := issue(t, root, "b", model.RoleWorker, testClusterID, time.Hour)
	foreign := issue(t, other, "c", model.RoleWorker, testClusterID, time.Hour)
	tests := []struct {
		name                   string
		certPEM, keyPEM, rootP []byte
	}{
		{"key of another node", a.certPEM, b.keyPEM, root.CertPEM()},
		{"certificate of another CA", foreign.certPEM, foreign.keyPEM, root.CertPEM()},
		{"garbage certificate", []byte("x"), a.keyPEM, root.CertPEM()},
		{"garbage key", a.certPEM, []byte("x"), root.CertPEM()},
		{"garbage root", a.certPEM, a.keyPEM, []byte("x")},
		{"node certificate as root", a.certPEM, a.keyPEM, b.certPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := SaveNodeCredentials(dir, tt.certPEM, tt.keyPEM, tt.rootP)
			if !errors.Is(err, ErrCredentialsInvalid) {
				t.Fatalf("SaveNodeCredentials = %v, want ErrCredentialsInvalid", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "certificates")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("files written for invalid credentials")
			}
		})
	}
}

func TestLoadNodeCredentialsErrors(t *testing.T) {
	root := testRoot()
	a := issue(t, root, "a", model.RoleWorker, testClusterID, time.Hour)
	b := issue(t, root, "b", model.RoleWorker, testClusterID, time.Hour)

	t.Run("not joined", func(t *testing.T) {
		_, err := LoadNodeCredentials(t.TempDir())
		if !errors.Is(err, ErrCredentialsNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("LoadNodeCredentials = %v, want ErrCredentialsNotFound", err)
		}
	})
	for _, missing := range []string{NodeCertFile, NodeKeyFile, RootCertFile} {
		t.Run("missing "+missing, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveNodeCredentials(dir, a.certPEM, a.keyPEM, root.CertPEM()); err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(filepath.Join(dir, CertificatesDir, missing))
			if _, err := LoadNodeCredentials(dir); !errors.Is(err, ErrCredentialsNotFound) {
				t.Fatalf("LoadNodeCredentials = %v, want ErrCredentialsNotFound", err)
			}
		})
	}
	t.Run("key replaced by another node's", func(t *testing.T) {
		// What a crash between the key's and the certificate's rename
		// would leave.
		dir := t.TempDir()
		if err := SaveNodeCredentials(dir, a.certPEM, a.keyPEM, root.CertPEM()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, CertificatesDir, NodeKeyFile), b.keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadNodeCredentials(dir); !errors.Is(err, ErrCredentialsInvalid) {
			t.Fatalf("LoadNodeCredentials = %v, want ErrCredentialsInvalid", err)
		}
	})
}
