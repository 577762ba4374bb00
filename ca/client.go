package ca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// JoinResult is what a node needs after joining: its key, certificate and
// the cluster's root, ready for SaveNodeCredentials.
type JoinResult struct {
	JoinResponse
	KeyPEM []byte
}

// Join joins the cluster through the manager at addr: it fetches the root
// certificate, refuses it unless it matches the digest in the token (so a
// fake manager cannot hand out its own CA), generates a key, and sends a
// CSR with the token. req.Token, Hostname, Role and the addresses must be
// set; the CSR is filled in.
func Join(ctx context.Context, addr string, req JoinRequest) (*JoinResult, error) {
	tok, err := ParseJoinToken(req.Token)
	if err != nil {
		return nil, err
	}
	rootPEM, err := fetchRoot(ctx, addr)
	if err != nil {
		return nil, err
	}
	root, err := FetchAndVerifyRoot(rootPEM, tok)
	if err != nil {
		return nil, fmt.Errorf("joining through %s: %w", addr, err)
	}
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key)
	if err != nil {
		return nil, err
	}
	req.CSR = string(csr)
	cfg, err := ClientTLSConfig(nil, root)
	if err != nil {
		return nil, err
	}
	var resp JoinResponse
	if err := post(ctx, cfg, addr, PathJoin, req, &resp); err != nil {
		return nil, fmt.Errorf("joining through %s: %w", addr, err)
	}
	if _, err := root.VerifyNodeCertificate(mustParse([]byte(resp.Certificate)), nil, time.Now()); err != nil {
		return nil, fmt.Errorf("joining through %s: the issued certificate does not verify: %w", addr, err)
	}
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &JoinResult{JoinResponse: resp, KeyPEM: keyPEM}, nil
}

func mustParse(certPEM []byte) *x509.Certificate {
	c, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return &x509.Certificate{}
	}
	return c
}

// Renew asks the manager at addr for a new certificate, authenticating
// with the node's current one (cfg must present it). It returns the new
// certificate and key PEMs and the role the certificate carries.
func Renew(ctx context.Context, cfg *tls.Config, addr string) (certPEM, keyPEM []byte, resp *RenewResponse, err error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, nil, nil, err
	}
	csr, err := NewCSR(key)
	if err != nil {
		return nil, nil, nil, err
	}
	resp = &RenewResponse{}
	if err := waitOutBackoff(ctx, func() error { return post(ctx, cfg, addr, PathRenew, RenewRequest{CSR: string(csr)}, resp) }); err != nil {
		return nil, nil, nil, fmt.Errorf("renewing through %s: %w", addr, err)
	}
	keyPEM, err = MarshalKeyPEM(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return []byte(resp.Certificate), keyPEM, resp, nil
}

// oneShotClient returns a client for a single request: each call of this
// package has its own TLS configuration (bootstrap, token-verified root,
// node certificate), so no connection could be reused anyway, and a kept
// alive one would stay open on both ends until the process exits, two per
// join. Without keep-alives the connection closes with the answer.
//
// A dial gives up after dialTimeout, so that an address nothing answers
// (a typo, a firewall dropping packets) is reported in seconds.
func oneShotClient(cfg *tls.Config, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true,
		DialContext: dialer.DialContext, TLSHandshakeTimeout: dialTimeout}, Timeout: timeout}
}

// dialTimeout bounds a connection's dial and its TLS handshake: a manager
// on a LAN or WAN answers in well under a second; 10 s leaves room for a
// loaded one without leaving a user to wonder.
const dialTimeout = 10 * time.Second

func fetchRoot(ctx context.Context, addr string) ([]byte, error) {
	cl := oneShotClient(InsecureBootstrapTLSConfig(), 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+PathRoot, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the cluster CA from %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessageSize))
	if err != nil {
		return nil, fmt.Errorf("fetching the cluster CA from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the cluster CA from %s: %w", addr, refusal(resp, body))
	}
	return body, nil
}

func post(ctx context.Context, cfg *tls.Config, addr, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	cl := oneShotClient(cfg, 60*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return ExplainTLSError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return refusal(resp, data)
	}
	return json.Unmarshal(data, out)
}

// RefusedError is a manager's answer other than 200 to a CA request.
type RefusedError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the manager's explanation.
	Message string
	// RetryAfter is how long the manager asked the caller to wait (429
	// and 503 answers), zero if it did not say.
	RetryAfter time.Duration
}

func (e *RefusedError) Error() string { return e.Message }

func refusal(resp *http.Response, body []byte) *RefusedError {
	e := &RefusedError{Status: resp.StatusCode, Message: errorMessage(resp.Status, body)}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

func errorMessage(status string, body []byte) string {
	var e ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	return "manager answered " + status
}

// Rejoin renews the expired certificate of a node through the manager at
// addr with a join token, keeping the node's ID and key. The manager's CA
// is checked against the token as in Join.
func Rejoin(ctx context.Context, addr, token string, certPEM, keyPEM []byte) ([]byte, error) {
	tok, err := ParseJoinToken(token)
	if err != nil {
		return nil, err
	}
	rootPEM, err := fetchRoot(ctx, addr)
	if err != nil {
		return nil, err
	}
	root, err := FetchAndVerifyRoot(rootPEM, tok)
	if err != nil {
		return nil, fmt.Errorf("rejoining through %s: %w", addr, err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key)
	if err != nil {
		return nil, err
	}
	cfg, err := ClientTLSConfig(nil, root)
	if err != nil {
		return nil, err
	}
	var resp RenewResponse
	err = waitOutBackoff(ctx, func() error {
		return post(ctx, cfg, addr, PathRejoin, RejoinRequest{Token: token, Certificate: string(certPEM), CSR: string(csr)}, &resp)
	})
	if err != nil {
		return nil, fmt.Errorf("rejoining through %s: %w", addr, err)
	}
	return []byte(resp.Certificate), nil
}

// waitOutBackoff calls f again while the manager answers 429 (this source
// is held back after refused attempts, see BackoffConfig), waiting as long
// as it asks, a few times at most and no longer than ctx allows.
func waitOutBackoff(ctx context.Context, f func() error) error {
	for i := 0; ; i++ {
		err := f()
		var refused *RefusedError
		if i == 5 || !errors.As(err, &refused) || refused.Status != http.StatusTooManyRequests || refused.RetryAfter <= 0 {
			return err
		}
		t := time.NewTimer(refused.RetryAfter)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}
