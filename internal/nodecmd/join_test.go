package nodecmd_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/proctest"
)

// TestJoinAnUnreachableManager runs `worker join` and `manager join`
// against a loopback port nothing listens on, with --join-timeout 4s: the
// command says at once what it tries and why it fails, retries, and exits
// with an error that names the address, the cause and the flag. Then the
// same data dir joins again (nothing was left in it), with an address
// without a port: that fails at once, without a retry. Before the fix the
// join printed nothing (issue 21 finding 8).
func TestJoinAnUnreachableManager(t *testing.T) {
	bin := proctest.Binaries(t)
	root, err := ca.CreateRootCA()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ca.GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t))
	for _, binary := range []string{"worker", "manager"} {
		t.Run(binary, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "node")
			run := func(manager string) (string, error) {
				cmd := exec.Command(filepath.Join(bin, binary), "join", "--data-dir", dir, "--token", tok.String(),
					"--join-timeout", "4s", "--advertise-addr", fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t)), manager)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				t.Logf("%s join %s: %v\n%s", binary, manager, err, out.String())
				return out.String(), err
			}

			out, err := run(addr)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("want a failed exit, got %v", err)
			}
			for _, want := range []string{
				"joining the cluster through " + addr,
				"cannot join through " + addr + " yet; retrying in 1s",
				"retrying in 2s",
				"connection refused",
				binary + ": ca: gave up joining through " + addr + " after 4s and 4 attempts",
				"--join-timeout",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the output does not say %q", want)
				}
			}

			out, err = run("127.0.0.1")
			if !errors.As(err, &exit) || !strings.Contains(out, `manager address "127.0.0.1": want HOST:PORT`) || strings.Contains(out, "retrying") {
				t.Fatalf("a join through an address without a port: %v, want an immediate clear error", err)
			}
		})
	}
}
