package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
)

func runHealth(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal-node health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", dataDir(getenv), "the node's data dir")
	// The image's HEALTHCHECK allows 5 s: answer before Docker gives up.
	timeout := fs.Duration("timeout", 4*time.Second, "overall probe timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	what, err := checkHealth(ctx, *dir)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	fmt.Fprintln(stderr, "healthy:", what)
	return 0
}

// checkHealth probes the node in dir according to its current role and
// says what it checked.
func checkHealth(ctx context.Context, dir string) (string, error) {
	st, err := node.Load(dir)
	if err != nil {
		return "", fmt.Errorf("no node yet (still joining?): %w", err)
	}
	if st.Role == model.RoleManager && st.Settings.APISocket != node.APISocketOff {
		sock := st.Settings.APISocket
		if sock == "" {
			sock = filepath.Join(dir, "swarm.sock")
		}
		if err := pingSocket(ctx, sock); err != nil {
			return "", fmt.Errorf("manager %s: %w", st.NodeID, err)
		}
		return fmt.Sprintf("manager %s: API socket %s answers", st.NodeID, sock), nil
	}
	addr, err := reachManager(ctx, dir, st)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", st.Role, st.NodeID, err)
	}
	return fmt.Sprintf("%s %s: manager %s answers over mutual TLS", st.Role, st.NodeID, addr), nil
}

// pingSocket sends GET /_ping to the Docker Engine API on a unix socket.
func pingSocket(ctx context.Context, sock string) error {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	return get(ctx, &http.Client{Transport: tr}, "http://api/_ping")
}

// reachManager checks the node's credentials and that one of the managers
// it knows answers on the cluster port, verifying each other's
// certificates as the agent does.
func reachManager(ctx context.Context, dir string, st *node.Record) (string, error) {
	nc, err := ca.LoadNodeCredentials(dir)
	if err != nil {
		return "", err
	}
	if now := time.Now(); now.After(nc.Leaf.NotAfter) {
		return "", fmt.Errorf("certificate expired at %s: the node cannot talk to the managers", nc.Leaf.NotAfter.Format(time.RFC3339))
	}
	cfg, err := ca.ClientTLSConfig(&nc.Certificate, nc.Root)
	if err != nil {
		return "", err
	}
	cfg.NextProtos = []string{"http/1.1"}
	if len(st.Managers) == 0 {
		return "", errors.New("knows no manager")
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	var errs []error
	for _, addr := range st.Managers {
		// Share what is left of the deadline among the managers still to try.
		actx, cancel := context.WithTimeout(ctx, perTry(ctx, len(st.Managers)-len(errs)))
		err := get(actx, cl, "https://"+addr+"/ca/v1/root")
		cancel()
		if err == nil {
			return addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return "", fmt.Errorf("no manager answers: %w", errors.Join(errs...))
}

func perTry(ctx context.Context, left int) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok || left < 1 {
		return time.Second
	}
	return time.Until(dl) / time.Duration(left)
}

func get(ctx context.Context, cl *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // the content is not checked
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	return nil
}
