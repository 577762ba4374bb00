package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files of a node's credentials, under <dir>/certificates, Docker's names.
const (
	CertificatesDir = "certificates"
	NodeCertFile    = "swarm-node.crt"
	NodeKeyFile     = "swarm-node.key"
	RootCertFile    = "swarm-root-ca.crt"
)

// NodeCredentials is what a node loads on start: its TLS certificate, the
// identity it proves and the cluster root it trusts.
type NodeCredentials struct {
	// Certificate holds the node's chain and key, ready for the TLS
	// configurations; its Leaf is set.
	Certificate tls.Certificate
	// Leaf is the parsed node certificate.
	Leaf *x509.Certificate
	// Identity is read from Leaf.
	Identity Identity
	// Root is a verify-only root (the root key never leaves the Raft
	// store).
	Root *RootCA
}

// SaveNodeCredentials checks that certPEM, keyPEM and rootPEM belong
// together and writes them to dir/certificates (mode 0700) as
// swarm-node.crt, swarm-node.key (mode 0600) and swarm-root-ca.crt. Each
// file is written to a temporary file, synced and renamed over the old
// one, so a crash leaves each file either old or new; the key is renamed
// before the certificate and a pair left mismatched by a crash in between
// is refused by LoadNodeCredentials.
func SaveNodeCredentials(dir string, certPEM, keyPEM, rootPEM []byte) error {
	if _, err := parseCredentials(certPEM, keyPEM, rootPEM); err != nil {
		return err
	}
	certDir := filepath.Join(dir, CertificatesDir)
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return fmt.Errorf("ca: save credentials: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone.
	if err := os.Chmod(certDir, 0o700); err != nil {
		return fmt.Errorf("ca: save credentials: %w", err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{RootCertFile, rootPEM, 0o644},
		{NodeKeyFile, keyPEM, 0o600},
		{NodeCertFile, certPEM, 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(certDir, f.name, f.data, f.mode); err != nil {
			return fmt.Errorf("ca: save credentials: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes data to dir/name through a temporary file in the
// same directory, then syncs the directory so the rename is durable.
func writeFileAtomic(dir, name string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	syncErr := d.Sync()
	if closeErr := d.Close(); syncErr == nil {
		syncErr = closeErr
	}
	return syncErr
}

// LoadNodeCredentials reads what SaveNodeCredentials wrote. It fails with
// an error wrapping ErrCredentialsNotFound (and fs.ErrNotExist) when a
// file is missing, which on start means the node has not joined yet, and
// with ErrCredentialsInvalid when the files do not belong together. An
// expired certificate is loaded: check it with NeedsRenewal.
func LoadNodeCredentials(dir string) (*NodeCredentials, error) {
	certDir := filepath.Join(dir, CertificatesDir)
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(certDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrCredentialsNotFound, err)
		}
		if err != nil {
			return nil, fmt.Errorf("ca: load credentials: %w", err)
		}
		return b, nil
	}
	certPEM, err := read(NodeCertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(NodeKeyFile)
	if err != nil {
		return nil, err
	}
	rootPEM, err := read(RootCertFile)
	if err != nil {
		return nil, err
	}
	return parseCredentials(certPEM, keyPEM, rootPEM)
}

func parseCredentials(certPEM, keyPEM, rootPEM []byte) (*NodeCredentials, error) {
	root, err := NewRootCA(rootPEM, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialsInvalid, err)
	}
	if _, err := ParseKeyPEM(keyPEM); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialsInvalid, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialsInvalid, err)
	}
	// X509KeyPair fills Leaf since Go 1.23.
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCredentialsInvalid, err)
		}
		cert.Leaf = leaf
	}
	id, err := checkOwnCertificate(cert, root)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialsInvalid, err)
	}
	return &NodeCredentials{Certificate: cert, Leaf: leaf, Identity: id, Root: root}, nil
}
