package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/shoal-dev/shoal/node"
)

// Bootstrap modes (SHOAL_BOOTSTRAP) for a data dir that holds no node yet.
const (
	bootstrapInit = "init"
	bootstrapJoin = "join"
)

// secretEnv is not passed on to the node: it has been turned into a flag.
const secretEnv = "SHOAL_JOIN_TOKEN"

func runStart(args []string, getenv func(string) string, environ []string, stderr io.Writer, exec execFunc) int {
	if len(args) == 0 || (args[0] != "manager" && args[0] != "worker") {
		fmt.Fprintln(stderr, "shoal-node start: want manager or worker as the first argument")
		return 2
	}
	role, flags := args[0], args[1:]
	bin, err := nodeBinary(role, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "shoal-node start:", err)
		return 1
	}
	argv, err := startArgs(role, dataDir(getenv), flags, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "shoal-node start:", err)
		return 1
	}
	argv = append([]string{bin}, argv...)
	fmt.Fprintf(stderr, "shoal-node start: exec %s\n", strings.Join(redact(argv), " "))
	err = exec(bin, argv, withoutEnv(environ, secretEnv))
	fmt.Fprintf(stderr, "shoal-node start: exec %s: %v\n", bin, err)
	return 1
}

// startArgs returns the node binary's arguments: run for a data dir that
// holds a node, else init or join as SHOAL_BOOTSTRAP says.
func startArgs(role, dir string, flags []string, getenv func(string) string) ([]string, error) {
	if node.Exists(dir) {
		return append([]string{"run", "--data-dir", dir}, flags...), nil
	}
	mode := getenv("SHOAL_BOOTSTRAP")
	switch mode {
	case bootstrapInit:
		if role != "manager" {
			return nil, fmt.Errorf("SHOAL_BOOTSTRAP=init: only a manager can create a cluster")
		}
		return append([]string{"init", "--data-dir", dir}, flags...), nil
	case bootstrapJoin:
		addr := getenv("SHOAL_JOIN_ADDR")
		if addr == "" {
			return nil, errors.New("SHOAL_BOOTSTRAP=join: set SHOAL_JOIN_ADDR to a manager's cluster address (IP:2377)")
		}
		token, err := joinToken(getenv)
		if err != nil {
			return nil, err
		}
		out := append([]string{"join", "--data-dir", dir, "--token", token}, flags...)
		return append(out, addr), nil
	case "":
		return nil, fmt.Errorf("data dir %s holds no node: set SHOAL_BOOTSTRAP=init to create a cluster (first manager), or SHOAL_BOOTSTRAP=join with SHOAL_JOIN_ADDR and SHOAL_JOIN_TOKEN (or SHOAL_JOIN_TOKEN_FILE)", dir)
	}
	return nil, fmt.Errorf("SHOAL_BOOTSTRAP=%q: want init or join", mode)
}

func joinToken(getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv(secretEnv)); t != "" {
		return t, nil
	}
	if f := getenv("SHOAL_JOIN_TOKEN_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("SHOAL_JOIN_TOKEN_FILE: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("SHOAL_JOIN_TOKEN_FILE: %s is empty", f)
	}
	return "", errors.New("SHOAL_BOOTSTRAP=join: set SHOAL_JOIN_TOKEN or SHOAL_JOIN_TOKEN_FILE (swarmctl cluster join-token -q manager|worker)")
}

// nodeBinary finds the program to run: SHOAL_BINARY, else shoal-ROLE or ROLE
// next to this program (the image and the systemd guide install them
// there), else the same names in PATH.
func nodeBinary(role string, getenv func(string) string) (string, error) {
	if b := getenv("SHOAL_BINARY"); b != "" {
		return b, nil
	}
	names := []string{"shoal-" + role, role}
	if self, err := os.Executable(); err == nil {
		for _, n := range names {
			p := filepath.Join(filepath.Dir(self), n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s binary: install it as shoal-%s next to shoal-node or in PATH, or set SHOAL_BINARY", role, role)
}

// redact hides the join token in what is logged.
func redact(argv []string) []string {
	out := append([]string(nil), argv...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "--token" {
			out[i+1] = "<redacted>"
		}
	}
	return out
}

func withoutEnv(environ []string, name string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
