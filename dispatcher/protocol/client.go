package protocol

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Error is an answer of the dispatcher that is not 2xx.
type Error struct {
	// Code is the HTTP status code.
	Code int
	ErrorResponse
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("dispatcher: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
	if e.LeaderAddr != "" {
		msg += fmt.Sprintf(" (leader %s at %s)", e.LeaderID, e.LeaderAddr)
	}
	return msg
}

// StatusCode returns the HTTP status of err if it is an *Error, else 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Leader returns the leader named by a 421 answer, if err is one.
func Leader(err error) (id, addr string, ok bool) {
	var e *Error
	if errors.As(err, &e) && e.Code == http.StatusMisdirectedRequest && e.LeaderAddr != "" {
		return e.LeaderID, e.LeaderAddr, true
	}
	return "", "", false
}

// NewTransport returns an HTTP/2 transport to managers that calls tlsConfig
// for every new connection, so a renewed certificate is used as soon as it
// is saved. dialTimeout bounds the TCP connection and the handshake.
func NewTransport(tlsConfig func() (*tls.Config, error), dialTimeout time.Duration) *http.Transport {
	return &http.Transport{
		ForceAttemptHTTP2: true,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cfg, err := tlsConfig()
			if err != nil {
				return nil, fmt.Errorf("protocol: TLS configuration: %w", err)
			}
			cfg = cfg.Clone()
			cfg.NextProtos = []string{"h2", "http/1.1"}
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout, KeepAlive: 15 * time.Second}, Config: cfg}
			ctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}
}

// Client calls one manager's dispatcher for one node. It is safe for
// concurrent use; requests share the HTTP client's connection (one HTTP/2
// connection with NewTransport).
type Client struct {
	HTTP *http.Client
	// Addr is the manager's cluster address (host:port).
	Addr string
	// NodeID is the caller's node ID.
	NodeID string
}

func (c *Client) url(path string) string { return "https://" + c.Addr + path }

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, out)
}

func (c *Client) do(req *http.Request, out any) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("protocol: decoding answer of %s: %w", req.URL.Path, err)
	}
	return nil
}

// checkResponse turns an answer that is not 2xx into an *Error.
func checkResponse(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	e := &Error{Code: resp.StatusCode}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e.ErrorResponse); err != nil {
		e.Message = resp.Status
	}
	return e
}

// Stream is an open session: the messages the manager sends.
type Stream struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Next blocks until the next message. It fails when the session ends.
func (s *Stream) Next() (*Message, error) {
	var m Message
	if err := s.dec.Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Close ends the session.
func (s *Stream) Close() error { return s.body.Close() }

// OpenSession opens the node's session. The session lasts until ctx ends,
// the stream is closed or the manager ends it.
func (c *Client) OpenSession(ctx context.Context, r SessionRequest) (*Stream, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(SessionPath(c.NodeID)), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", ContentTypeStream)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if err := checkResponse(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return &Stream{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// Heartbeat tells the manager the node is alive.
func (c *Client) Heartbeat(ctx context.Context, r HeartbeatRequest) (HeartbeatResponse, error) {
	var out HeartbeatResponse
	err := c.post(ctx, HeartbeatPath(c.NodeID), r, &out)
	return out, err
}

// ReportStatus sends a batch of task statuses. It returns once they are
// committed.
func (c *Client) ReportStatus(ctx context.Context, r StatusRequest) error {
	return c.post(ctx, StatusPath(c.NodeID), r, nil)
}

// Tasks reads the node's assigned tasks once.
func (c *Client) Tasks(ctx context.Context) ([]*model.Task, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(TasksPath(c.NodeID)), nil)
	if err != nil {
		return nil, err
	}
	var out TasksResponse
	if err := c.do(req, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

// PublishLogs streams body, LogPublication lines, as the node's part of
// log subscription subID. It returns when body ends (or fails) and the
// manager has answered.
func (c *Client) PublishLogs(ctx context.Context, subID string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(LogsPath(c.NodeID, subID)), body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentTypeStream)
	return c.do(req, nil)
}

// SubscribeLogs forwards a log subscription to the leader at addr (the
// caller must hold a manager certificate) and returns the stream of
// LogMessage lines; the stream ends when the subscription does.
func SubscribeLogs(ctx context.Context, hc *http.Client, addr string, r LogsRequest) (io.ReadCloser, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+LogsSubscribePath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", ContentTypeStream)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if err := checkResponse(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}
