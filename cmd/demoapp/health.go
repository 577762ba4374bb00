package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealth is the `health` subcommand: the HEALTHCHECK of an image that has
// no curl. It exits 0 when /health answers 200 and 1 otherwise.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("demoapp health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", listenDefault(getenv), "listen address of the server to probe")
	// Docker's healthcheck timeout in the Dockerfile is 3 s: answer before.
	timeout := fs.Duration("timeout", 2500*time.Millisecond, "probe timeout")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	url, err := healthURL(*addr)
	if err != nil {
		fmt.Fprintln(stderr, "health:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "health:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "health:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10)) // let the connection be reused; content is irrelevant
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "health: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}

// healthURL turns a listen address into the loopback URL of /health: a
// server listening on all interfaces is probed on 127.0.0.1.
func healthURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("bad address %q: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}
