package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// fakeLogs is a log source holding lines in memory, as the dispatcher
// would relay them from agents.
type fakeLogs struct {
	mu        sync.Mutex
	lines     []api.LogMessage
	followers map[chan api.LogMessage]api.LogSelector
	// subscribeErr is returned by the next subscriptions.
	subscribeErr error
	// endErr ends every stream after its backlog.
	endErr   error
	lastSel  api.LogSelector
	lastOpts api.LogOptions
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{followers: map[chan api.LogMessage]api.LogSelector{}}
}

func selects(sel api.LogSelector, m api.LogMessage) bool {
	return slices.Contains(sel.ServiceIDs, m.Context.ServiceID) || slices.Contains(sel.TaskIDs, m.Context.TaskID)
}

func (f *fakeLogs) add(msgs ...api.LogMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, msgs...)
	for ch, sel := range f.followers {
		for _, m := range msgs {
			if selects(sel, m) {
				ch <- m
			}
		}
	}
}

func (f *fakeLogs) followerCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.followers)
}

func (f *fakeLogs) subscribe(ctx context.Context, sel api.LogSelector, opts api.LogOptions) (<-chan api.LogMessage, error) {
	f.mu.Lock()
	if f.subscribeErr != nil {
		defer f.mu.Unlock()
		return nil, f.subscribeErr
	}
	f.lastSel, f.lastOpts = sel, opts
	perTask := map[string][]api.LogMessage{}
	var order []string
	for _, m := range f.lines {
		if !selects(sel, m) || m.Timestamp.Before(opts.Since) ||
			m.Stream == api.LogStdout && !opts.Stdout || m.Stream == api.LogStderr && !opts.Stderr {
			continue
		}
		if _, ok := perTask[m.Context.TaskID]; !ok {
			order = append(order, m.Context.TaskID)
		}
		perTask[m.Context.TaskID] = append(perTask[m.Context.TaskID], m)
	}
	var backlog []api.LogMessage
	for _, id := range order {
		lines := perTask[id]
		if opts.Tail != api.TailAll && len(lines) > opts.Tail {
			lines = lines[len(lines)-opts.Tail:]
		}
		backlog = append(backlog, lines...)
	}
	var live chan api.LogMessage
	if opts.Follow {
		live = make(chan api.LogMessage, 100)
		f.followers[live] = sel
	}
	endErr := f.endErr
	f.mu.Unlock()

	out := make(chan api.LogMessage)
	go func() {
		defer close(out)
		if live != nil {
			defer func() {
				f.mu.Lock()
				delete(f.followers, live)
				f.mu.Unlock()
			}()
		}
		send := func(m api.LogMessage) bool {
			select {
			case out <- m:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, m := range backlog {
			if !send(m) {
				return
			}
		}
		if endErr != nil {
			send(api.LogMessage{Err: endErr})
			return
		}
		if live == nil {
			return
		}
		for {
			select {
			case m := <-live:
				if !send(m) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// demux splits a multiplexed log stream.
func demux(t *testing.T, body []byte) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, bytes.NewReader(body)); err != nil {
		t.Fatalf("stdcopy: %v\n%q", err, body)
	}
	return o.String(), e.String()
}

func TestServiceLogs(t *testing.T) {
	e := newEnv(t, 1)
	var created swarm.ServiceCreateResponse
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("web", 2), &created)
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("other", 1), nil)
	other := e.service("other")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	line := func(task string, stream api.LogStream, sec int, data string) api.LogMessage {
		return api.LogMessage{Context: api.LogContext{NodeID: "node1", ServiceID: created.ID, TaskID: task},
			Timestamp: t0.Add(time.Duration(sec) * time.Second), Stream: stream, Data: []byte(data)}
	}
	e.b.logs.add(
		line("t1", api.LogStdout, 0, "one\n"),
		line("t1", api.LogStderr, 1, "oops"),
		line("t2", api.LogStdout, 2, "two\n"),
		line("t1", api.LogStdout, 3, "three\n"),
		api.LogMessage{Context: api.LogContext{NodeID: "node1", ServiceID: other.ID, TaskID: "t9"}, Stream: api.LogStdout, Data: []byte("not mine\n")},
	)

	t.Run("plain", func(t *testing.T) {
		r := e.must(http.StatusOK, "GET", "/v1.41/services/web/logs?stdout=1&stderr=1", nil, nil)
		if ct := r.header.Get("Content-Type"); ct != "application/vnd.docker.raw-stream" {
			t.Errorf("content type %q", ct)
		}
		out, errs := demux(t, r.body)
		if out != "one\nthree\ntwo\n" || errs != "oops\n" {
			t.Errorf("stdout %q stderr %q", out, errs)
		}
		if got := e.b.logs.lastSel; !slices.Equal(got.ServiceIDs, []string{created.ID}) {
			t.Errorf("selector %+v", got)
		}
	})
	t.Run("details and timestamps as the CLI asks", func(t *testing.T) {
		r := e.must(http.StatusOK, "GET", "/services/"+created.ID[:6]+"/logs?details=1&stdout=1&stderr=0&tail=1&timestamps=1", nil, nil)
		out, errs := demux(t, r.body)
		want := "2026-01-02T03:04:08.000000006Z com.docker.swarm.node.id=node1,com.docker.swarm.service.id=" + created.ID +
			",com.docker.swarm.task.id=t1 three\n" +
			"2026-01-02T03:04:07.000000006Z com.docker.swarm.node.id=node1,com.docker.swarm.service.id=" + created.ID +
			",com.docker.swarm.task.id=t2 two\n"
		if out != want || errs != "" {
			t.Errorf("stdout:\n%s\nwant:\n%s\nstderr %q", out, want, errs)
		}
		if o := e.b.logs.lastOpts; o.Tail != 1 || o.Stderr || !o.Stdout {
			t.Errorf("options %+v", o)
		}
	})
	t.Run("since", func(t *testing.T) {
		since := t0.Add(2 * time.Second)
		r := e.must(http.StatusOK, "GET", "/services/web/logs?stdout=1&since="+strconvUnix(since), nil, nil)
		if out, _ := demux(t, r.body); out != "two\nthree\n" {
			t.Errorf("stdout %q", out)
		}
		if o := e.b.logs.lastOpts; !o.Since.Equal(since) {
			t.Errorf("since %v, want %v", o.Since, since)
		}
	})
	t.Run("task", func(t *testing.T) {
		e.propose(state.Op{Type: state.OpCreateTasks, ID: created.ID, SpecVersion: e.service("web").SpecVersion.Index,
			NewTasks: []state.NewTask{{ID: "t2", Slot: 2}}})
		r := e.must(http.StatusOK, "GET", "/tasks/t2/logs?stdout=1", nil, nil)
		if out, _ := demux(t, r.body); out != "two\n" {
			t.Errorf("stdout %q", out)
		}
	})
	t.Run("error mid-stream", func(t *testing.T) {
		e.b.logs.mu.Lock()
		e.b.logs.endErr = errors.New("agent on node1 went away")
		e.b.logs.mu.Unlock()
		defer func() {
			e.b.logs.mu.Lock()
			e.b.logs.endErr = nil
			e.b.logs.mu.Unlock()
		}()
		r := e.must(http.StatusOK, "GET", "/services/web/logs?stdout=1&tail=0", nil, nil)
		// Docker writes it on the system error stream, which stdcopy
		// returns as an error.
		_, err := stdcopy.StdCopy(&bytes.Buffer{}, &bytes.Buffer{}, bytes.NewReader(r.body))
		if err == nil || !strings.Contains(err.Error(), "Error grabbing logs: agent on node1 went away") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/services/web/logs?stdout=1&follow=1&tail=0", nil)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		deadline := time.Now().Add(waitTimeout)
		for e.b.logs.followerCount() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		e.b.logs.add(line("t1", api.LogStdout, 9, "live"))
		header := make([]byte, 8)
		if _, err := io.ReadFull(resp.Body, header); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, int(header[4])<<24|int(header[5])<<16|int(header[6])<<8|int(header[7]))
		if _, err := io.ReadFull(resp.Body, data); err != nil {
			t.Fatal(err)
		}
		if header[0] != 1 || string(data) != "live\n" {
			t.Errorf("frame %v %q", header, data)
		}
		cancel()
		for e.b.logs.followerCount() != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := e.b.logs.followerCount(); n != 0 {
			t.Errorf("%d subscriptions left after the client went away", n)
		}
	})
	t.Run("tty", func(t *testing.T) {
		spec := webSpec("tty", 1)
		spec.TaskTemplate.ContainerSpec.TTY = true
		var c swarm.ServiceCreateResponse
		e.must(http.StatusCreated, "POST", "/services/create", spec, &c)
		e.b.logs.add(api.LogMessage{Context: api.LogContext{NodeID: "node1", ServiceID: c.ID, TaskID: "t5"}, Stream: api.LogStdout, Data: []byte("raw\r\n")})
		r := e.must(http.StatusOK, "GET", "/services/tty/logs?stdout=1", nil, nil)
		if string(r.body) != "raw\r\n" {
			t.Errorf("body %q", r.body)
		}
	})

	for _, tc := range []struct {
		name, path string
		status     int
		msg        string
	}{
		{"no stream", "/services/web/logs", 400, "you must choose at least one stream"},
		{"negative tail", "/services/web/logs?stdout=1&tail=-1", 400, `tail value must be a positive integer or "all"`},
		{"bad tail", "/services/web/logs?stdout=1&tail=x", 400, "tail value"},
		{"bad since", "/services/web/logs?stdout=1&since=yesterday", 400, "could not parse since timestamp"},
		{"no service", "/services/nope/logs?stdout=1", 404, "service nope not found"},
		{"no task", "/tasks/nope/logs?stdout=1", 404, "task nope not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", tc.path, nil)
			if r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
				t.Errorf("%d %q, want %d %q", r.status, r.message(), tc.status, tc.msg)
			}
		})
	}
	t.Run("subscription refused", func(t *testing.T) {
		e.b.logs.mu.Lock()
		e.b.logs.subscribeErr = state.ErrNotFound
		e.b.logs.mu.Unlock()
		defer func() {
			e.b.logs.mu.Lock()
			e.b.logs.subscribeErr = nil
			e.b.logs.mu.Unlock()
		}()
		if r := e.do("GET", "/services/web/logs?stdout=1", nil); r.status != http.StatusNotFound {
			t.Errorf("status %d: %s", r.status, r.body)
		}
	})
}

func strconvUnix(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
