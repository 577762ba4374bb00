package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/ca"
)

// Credentials holds a node's current certificate and renews it. TLS
// configurations it makes always present the current certificate, so a
// renewal takes effect on the next handshake without restarts. Safe for
// concurrent use.
type Credentials struct {
	dir string
	cur atomic.Pointer[ca.NodeCredentials]
	log *slog.Logger
	// OnRenew, if set, is called after a renewal with the new credentials.
	OnRenew func(*ca.NodeCredentials)
}

// LoadCredentials loads the credentials saved in dir.
func LoadCredentials(dir string, logger *slog.Logger) (*Credentials, error) {
	nc, err := ca.LoadNodeCredentials(dir)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	c := &Credentials{dir: dir, log: logger.With("component", "credentials")}
	c.cur.Store(nc)
	return c, nil
}

// Current returns the current credentials.
func (c *Credentials) Current() *ca.NodeCredentials { return c.cur.Load() }

// Identity returns the node's identity.
func (c *Credentials) Identity() ca.Identity { return c.cur.Load().Identity }

// Root returns the cluster's root CA.
func (c *Credentials) Root() *ca.RootCA { return c.cur.Load().Root }

// ClientTLS returns a client configuration presenting the current
// certificate and verifying that the server is a manager of this cluster.
func (c *Credentials) ClientTLS() (*tls.Config, error) {
	nc := c.cur.Load()
	cfg, err := ca.ClientTLSConfig(&nc.Certificate, nc.Root)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &c.cur.Load().Certificate, nil
	}
	return cfg, nil
}

// ServerTLS returns a manager's server configuration presenting the
// current certificate.
func (c *Credentials) ServerTLS(opts ...ca.TLSOption) (*tls.Config, error) {
	nc := c.cur.Load()
	cfg, err := ca.ServerTLSConfig(nc.Certificate, nc.Root, opts...)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = nil
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &c.cur.Load().Certificate, nil
	}
	return cfg, nil
}

// Renew asks one of the managers for a new certificate and saves it.
func (c *Credentials) Renew(ctx context.Context, managers []string) error {
	if len(managers) == 0 {
		return errors.New("node: no manager to renew the certificate with")
	}
	cfg, err := c.ClientTLS()
	if err != nil {
		return err
	}
	var lastErr error
	for _, i := range rand.Perm(len(managers)) {
		certPEM, keyPEM, _, err := ca.Renew(ctx, cfg, managers[i])
		if err != nil {
			lastErr = err
			continue
		}
		if err := ca.SaveNodeCredentials(c.dir, certPEM, keyPEM, c.Root().CertPEM()); err != nil {
			return fmt.Errorf("node: saving renewed credentials: %w", err)
		}
		nc, err := ca.LoadNodeCredentials(c.dir)
		if err != nil {
			return err
		}
		c.cur.Store(nc)
		c.log.Info("certificate renewed", "role", nc.Identity.Role, "not_after", nc.Leaf.NotAfter)
		if c.OnRenew != nil {
			c.OnRenew(nc)
		}
		return nil
	}
	return lastErr
}

// RunRenewal renews the certificate at a random point between 50% and 80%
// of its life, and whenever renewNow is signalled (e.g. after a role
// change), until ctx ends. managers is called for the current list.
func (c *Credentials) RunRenewal(ctx context.Context, managers func() []string, renewNow <-chan struct{}) {
	backoff := time.Second
	for {
		leaf := c.cur.Load().Leaf
		wait := time.Until(ca.RenewalTime(leaf, nil))
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-renewNow:
			t.Stop()
		}
		if err := c.Renew(ctx, managers()); err != nil {
			c.log.Warn("certificate renewal failed; will retry", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Minute)
			continue
		}
		backoff = time.Second
	}
}
