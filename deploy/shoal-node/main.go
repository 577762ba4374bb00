// Command shoal-node is the small helper that runs a shoal node as a
// service: the entrypoint of the node image (deploy/node.Dockerfile) and
// the ExecStart of the systemd units (deploy/systemd). It holds no cluster
// logic of its own; it decides which command of the manager or worker
// binary to run, probes a running node's health, and reads node IDs from
// data dirs.
//
// Usage:
//
//	shoal-node start manager|worker [NODE FLAGS...]
//	shoal-node health [--data-dir DIR] [--timeout D]
//	shoal-node id [DIR...]
//
// start replaces itself (execve) with the node binary, so the node is the
// process that receives signals (PID 1 in a container) and exits with its
// own status:
//
//   - the data dir already holds a node: `manager|worker run --data-dir DIR FLAGS`;
//   - else SHOAL_BOOTSTRAP=init (managers only): `manager init --data-dir DIR FLAGS`;
//   - else SHOAL_BOOTSTRAP=join: `manager|worker join --data-dir DIR --token T FLAGS ADDR`
//     with ADDR from SHOAL_JOIN_ADDR and T from SHOAL_JOIN_TOKEN or the file
//     named by SHOAL_JOIN_TOKEN_FILE;
//   - else it refuses, saying what to set.
//
// So the same unit or container definition creates the node the first time
// and restarts it ever after; the join token is used once and only shows in
// the joining process's arguments (the binaries take it as a flag) until
// the node's first restart.
//
// health exits 0 when the node in the data dir is healthy, 1 otherwise
// with the reason on stderr (Docker keeps it in the container's health
// log). The role is read from the data dir, so a promoted worker is probed
// as the manager it has become:
//
//   - manager: its API socket answers GET /_ping with 200;
//   - worker: it has joined (node.json and credentials), its certificate
//     is still valid, and a manager it knows answers on the cluster port
//     over mutual TLS with that certificate.
//
// id prints "DIR NODE_ID" for each data dir holding a node, so that the
// containers a node started (labelled io.shoal.node.id) can be found after
// the node is gone.
//
// Environment:
//
//	SHOAL_DATA_DIR   the node's data dir (default /var/lib/shoal)
//	SHOAL_BINARY     the node binary start runs (default: shoal-ROLE, then
//	                 ROLE, next to this program, then in PATH)
//	SHOAL_BOOTSTRAP, SHOAL_JOIN_ADDR, SHOAL_JOIN_TOKEN, SHOAL_JOIN_TOKEN_FILE
//	                 see start above
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
)

// DefaultDataDir is where a node keeps its state unless SHOAL_DATA_DIR says
// otherwise: the same path in the image and on a host.
const DefaultDataDir = "/var/lib/shoal"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr, syscall.Exec))
}

// execFunc replaces the process (syscall.Exec); tests record the call.
type execFunc func(argv0 string, argv, env []string) error

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, exec execFunc) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "start":
		return runStart(args[1:], getenv, os.Environ(), stderr, exec)
	case "health":
		return runHealth(ctx, args[1:], getenv, stderr)
	case "id":
		return runID(args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "shoal-node: unknown command %q\n%s\n", args[0], usage)
	return 2
}

const usage = `usage:
  shoal-node start manager|worker [NODE FLAGS...]   init, join or run the node in $SHOAL_DATA_DIR
  shoal-node health [--data-dir DIR] [--timeout D]   exit 0 if the node is healthy
  shoal-node id [DIR...]                             print the node ID held in each data dir`

func dataDir(getenv func(string) string) string {
	if d := getenv("SHOAL_DATA_DIR"); d != "" {
		return d
	}
	return DefaultDataDir
}
