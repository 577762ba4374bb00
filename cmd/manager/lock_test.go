package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/internal/proctest"
)

// TestSecondProcessOnADataDirIsRefused is issue 21's finding 3: a second
// `manager run` (or `worker run`, or `manager unlock`) on the data dir of
// a running manager, with ports of its own, must exit at once with an
// error naming the PID that holds the dir, start nothing, and leave the
// first manager serving. One sent SIGTERM as it starts must exit too
// (it used to hang for good on the Raft database's lock, after starting
// an agent and gossip under the first one's node ID).
func TestSecondProcessOnADataDirIsRefused(t *testing.T) {
	c := proctest.New(t)
	m1 := c.InitManager("m1", "--no-agent")
	m1.WaitReady(30 * time.Second)
	bin := proctest.Binaries(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(encryption.GenerateUnlockKey().String()), 0o600); err != nil {
		t.Fatal(err)
	}

	other := func() []string {
		a := fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t))
		return []string{"--data-dir", m1.DataDir, "--listen-addr", a, "--advertise-addr", a,
			"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(t)), "--log-level", "debug"}
	}
	for _, tc := range []struct {
		name    string
		binary  string
		args    []string
		sigterm bool
	}{
		{"manager run", "manager", append([]string{"run", "--no-agent", "--api-socket", filepath.Join(t.TempDir(), "s.sock")}, other()...), false},
		{"manager run, SIGTERM after 300 ms", "manager", append([]string{"run", "--no-agent", "--api-socket", filepath.Join(t.TempDir(), "s.sock")}, other()...), true},
		{"manager unlock", "manager", append([]string{"unlock", "--no-agent", "--unlock-key-file", keyFile}, other()...), false},
		{"worker run", "worker", append([]string{"run"}, other()...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, tc.binary), tc.args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if tc.sigterm {
				// Late enough for the process to be past main's signal
				// setup: before the fix it was then blocked on the Raft
				// database's lock, and SIGTERM never ended it.
				time.Sleep(300 * time.Millisecond)
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("the second process exited 0:\n%s", out.String())
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("the second process did not exit within 20 s:\n%s", out.String())
			}
			got := out.String()
			if want := fmt.Sprintf("is in use by process %d", m1.PID()); !strings.Contains(got, want) {
				t.Fatalf("output does not name the holder (%q):\n%s", want, got)
			}
			// It started nothing: no agent, gossip, Raft or API log line.
			for _, started := range []string{"gossip", "agent", "raft", "manager started", "session"} {
				if strings.Contains(strings.ToLower(got), started) {
					t.Errorf("the refused process logged %q:\n%s", started, got)
				}
			}
			t.Log(strings.TrimSpace(got))
		})
	}
	if !m1.Running() {
		t.Fatalf("the first manager exited:\n%s", m1.Log())
	}
	m1.WaitReady(10 * time.Second)
	if err := m1.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
}
