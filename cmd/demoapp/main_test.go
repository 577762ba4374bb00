package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// start runs the server in the background and returns its address.
func start(t *testing.T, args []string, sigs chan os.Signal) (addr string, stdout, stderr *syncBuffer, code <-chan int) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	finished := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	getenv := env(map[string]string{
		"SHOAL_TASK_NAME": "web.1", "SHOAL_TASK_ID": "t1", "SHOAL_NODE_ID": "n1",
		"SHOAL_SERVICE_NAME": "web", "SHOAL_SERVICE_ID": "s1",
	})
	go func() {
		defer close(finished)
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), getenv, stdout, stderr, sigs)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	re := regexp.MustCompile(`msg=listening addr=(\S+)`)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], stdout, stderr, done
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server did not listen; stderr:\n%s", stderr)
	return "", nil, nil, nil
}

func TestServeIdentityAndHealth(t *testing.T) {
	addr, stdout, _, _ := start(t, []string{"--unhealthy-after", "300ms"}, make(chan os.Signal))

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	var id identity
	if err := json.NewDecoder(resp.Body).Decode(&id); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id.TaskName != "web.1" || id.NodeID != "n1" || id.ServiceName != "web" || id.TaskID != "t1" || id.Hostname == "" {
		t.Fatalf("identity = %+v", id)
	}

	if code := runHealth(context.Background(), []string{"--addr", addr}, env(nil), &bytes.Buffer{}); code != 0 {
		t.Fatalf("health while healthy = %d, want 0", code)
	}
	time.Sleep(400 * time.Millisecond)
	var errOut bytes.Buffer
	if code := runHealth(context.Background(), []string{"--addr", addr}, env(nil), &errOut); code != 1 {
		t.Fatalf("health after --unhealthy-after = %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "503") {
		t.Fatalf("health output %q does not mention 503", errOut.String())
	}
	if n := strings.Count(stdout.String(), "msg=request"); n != 3 {
		t.Fatalf("%d request lines, want 3:\n%s", n, stdout)
	}
}

func TestExitAfter(t *testing.T) {
	_, _, _, code := start(t, []string{"--exit-after", "100ms", "--exit-code", "3"}, make(chan os.Signal))
	select {
	case c := <-code:
		if c != 3 {
			t.Fatalf("exit code %d, want 3", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not exit")
	}
}

func TestSignals(t *testing.T) {
	t.Run("sigterm exits 0", func(t *testing.T) {
		sigs := make(chan os.Signal, 1)
		_, _, _, code := start(t, nil, sigs)
		sigs <- syscall.SIGTERM
		if c := <-code; c != 0 {
			t.Fatalf("exit code %d, want 0", c)
		}
	})
	t.Run("ignore-sigterm", func(t *testing.T) {
		sigs := make(chan os.Signal, 1)
		_, _, stderr, code := start(t, []string{"--ignore-sigterm", "--exit-after", "300ms", "--exit-code", "7"}, sigs)
		sigs <- syscall.SIGTERM
		if c := <-code; c != 7 {
			t.Fatalf("exit code %d, want 7: SIGTERM must be ignored", c)
		}
		if !strings.Contains(stderr.String(), "ignoring signal") {
			t.Fatalf("stderr does not log the ignored signal:\n%s", stderr)
		}
	})
}

func TestTick(t *testing.T) {
	_, stdout, _, _ := start(t, []string{"--tick", "20ms"}, make(chan os.Signal))
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(stdout.String(), "msg=tick") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no ticks:\n%s", stdout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHealthURL(t *testing.T) {
	for in, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/health",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/health",
		"127.0.0.2:1234": "http://127.0.0.2:1234/health",
	} {
		got, err := healthURL(in)
		if err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := healthURL("nonsense"); err == nil {
		t.Error("healthURL accepted an address without a port")
	}
}

func TestHandlerUnknownPath(t *testing.T) {
	a := &app{log: slog.New(slog.DiscardHandler), started: time.Now()}
	rec := httptest.NewRecorder()
	a.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /nope = %d, want 404", rec.Code)
	}
}
