package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProbes: each probe answers what is there, and fails with the reason
// when it is not, both as a command and over HTTP.
func TestProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bytes" {
			bytesHandler(w, r)
			return
		}
		_, _ = w.Write([]byte("peer"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("hunter2"), 0o400); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, arg string
		code      int
		check     func(ProbeResult) bool
	}{
		{"resolve", "localhost", 0, func(r ProbeResult) bool { return len(r.Addrs) > 0 }},
		{"resolve", "no-such-name.invalid", 1, func(r ProbeResult) bool { return r.Err != "" }},
		{"fetch", srv.URL, 0, func(r ProbeResult) bool { return r.Status == 200 && r.Body == "peer" }},
		{"fetch", "http://127.0.0.1:1/", 1, func(r ProbeResult) bool { return strings.Contains(r.Err, "refused") }},
		{"file", file, 0, func(r ProbeResult) bool { return r.Mode == "0400" && r.Content == "hunter2" && r.UID == os.Getuid() }},
		{"file", filepath.Join(dir, "none"), 1, func(r ProbeResult) bool { return strings.Contains(r.Err, "no such file") }},
		{"latency", srv.URL, 0, func(r ProbeResult) bool { return r.P50Micros > 0 && r.P99Micros >= r.P50Micros }},
		{"rate", srv.URL, 0, func(r ProbeResult) bool { return r.Requests == 2000 && r.RPS > 0 && r.P99Micros >= r.P50Micros }},
		{"throughput", srv.URL + "/bytes", 0, func(r ProbeResult) bool { return r.MBps > 0 }},
		{"throughput", srv.URL + "/short", 1, func(r ProbeResult) bool { return strings.Contains(r.Err, "got 4 of") }},
		{"nonsense", "x", 1, func(r ProbeResult) bool { return strings.Contains(r.Err, "unknown probe") }},
	} {
		var out, errb bytes.Buffer
		code := runProbe(context.Background(), []string{tc.kind, tc.arg}, strings.NewReader(""), &out, &errb)
		var r ProbeResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%s %s: %v: %q", tc.kind, tc.arg, err, out.String())
		}
		if code != tc.code || !tc.check(r) {
			t.Errorf("%s %s: exit %d, %+v", tc.kind, tc.arg, code, r)
		}
	}
	// Over HTTP.
	app := &app{log: slog.New(slog.DiscardHandler)}
	h := app.handler()
	req := httptest.NewRequest("GET", "/probe/file?arg="+file, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r ProbeResult
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Content != "hunter2" {
		t.Fatalf("GET /probe/file: %v %q", err, rec.Body.String())
	}
}

// TestLoadProbeRetriesOnceAndCountsWhatIsLost: a load probe runs until its
// stdin closes; a failed request is retried once, and counted lost only
// when its retry fails too.
func TestLoadProbeRetriesOnceAndCountsWhatIsLost(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		switch {
		case k == 2: // request 2's first attempt fails, its retry works
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		case k == 5 || k == 6: // request 4 fails twice
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"task_id":"t1"}`))
		}
	}))
	defer srv.Close()
	stdin, w := io.Pipe()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- runProbe(context.Background(), []string{"load", srv.URL}, stdin, &out, &errb) }()
	for {
		mu.Lock()
		k := n
		mu.Unlock()
		if k >= 20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Close()
	code := <-done
	var r ProbeResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if code != 0 || r.Retried != 2 || r.Failed != 1 || r.Reached["t1"] != r.Requests-1 || len(r.Errors) != 3 {
		t.Errorf("exit %d, %+v; want 2 retried, 1 failed, every other request reaching t1, 3 errors", code, r)
	}
	if errb.String() != LoadAnswered+"\n" {
		t.Errorf("stderr %q, want the first answer announced once", errb.String())
	}
}
