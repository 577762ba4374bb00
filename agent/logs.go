package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// logStream serves one log subscription: it reads the logs of the node's
// matching tasks from the executor and publishes them, one streaming
// request for the whole subscription. It lasts as long as the session.
type logStream struct {
	a      *Agent
	sub    protocol.LogSubscription
	ctx    context.Context
	cancel context.CancelFunc

	encMu sync.Mutex
	enc   *json.Encoder
	pw    *io.PipeWriter

	mu        sync.Mutex
	started   map[string]bool // task IDs being read
	readers   sync.WaitGroup
	published chan struct{} // closed when the publication request returned
}

// serveLogs starts or (Close) stops serving a subscription.
func (a *Agent) serveLogs(ctx context.Context, client *protocol.Client, sub protocol.LogSubscription) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sub.Close {
		if ls := a.logs[sub.ID]; ls != nil {
			ls.cancel()
		}
		return
	}
	if old := a.logs[sub.ID]; old != nil {
		old.cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	ls := &logStream{a: a, sub: sub, ctx: ctx, cancel: cancel, enc: json.NewEncoder(pw), pw: pw,
		started: map[string]bool{}, published: make(chan struct{})}
	a.logs[sub.ID] = ls
	go func() {
		defer close(ls.published)
		err := client.PublishLogs(ctx, sub.ID, pr)
		_ = pr.CloseWithError(errors.New("publication ended"))
		if err != nil && ctx.Err() == nil {
			a.log.Warn("publishing logs failed", "subscription", sub.ID, "err", err)
		}
		cancel() // the manager ended the subscription: stop reading
	}()
	go ls.run()
}

// taskHasContainer starts the follow subscriptions a task that just got a
// container matches.
func (a *Agent) taskHasContainer(t *model.Task) {
	a.mu.Lock()
	var streams []*logStream
	for _, ls := range a.logs {
		if ls.sub.Options.Follow && ls.sub.Selector.Matches(t) {
			streams = append(streams, ls)
		}
	}
	a.mu.Unlock()
	for _, ls := range streams {
		ls.start(t, exec.LogsOptions{Follow: true, Timestamps: true})
	}
}

func (ls *logStream) run() {
	a := ls.a
	defer func() {
		a.mu.Lock()
		if a.logs[ls.sub.ID] == ls {
			delete(a.logs, ls.sub.ID)
		}
		a.mu.Unlock()
		ls.cancel()
	}()
	opts := exec.LogsOptions{
		Follow:     ls.sub.Options.Follow,
		Tail:       ls.sub.Options.Tail,
		Since:      ls.sub.Options.Since,
		Timestamps: true,
	}
	for _, t := range a.tasks() {
		if ls.sub.Selector.Matches(t) && t.Status.Container != nil {
			ls.start(t, opts)
		}
	}
	if ls.sub.Options.Follow {
		<-ls.ctx.Done()
	}
	ls.readers.Wait()
	if ls.ctx.Err() == nil {
		ls.emit(protocol.LogPublication{Done: true})
	}
	_ = ls.pw.Close()
	// Let the request finish sending before the deferred cancel.
	select {
	case <-ls.published:
	case <-ls.ctx.Done():
	}
}

// start reads one task's logs, once per subscription.
func (ls *logStream) start(t *model.Task, opts exec.LogsOptions) {
	ls.mu.Lock()
	if ls.started[t.ID] || ls.ctx.Err() != nil {
		ls.mu.Unlock()
		return
	}
	ls.started[t.ID] = true
	ls.readers.Add(1)
	ls.mu.Unlock()
	go func() {
		defer ls.readers.Done()
		ls.read(t, opts)
	}()
}

func (ls *logStream) read(t *model.Task, opts exec.LogsOptions) {
	logCtx := protocol.LogContext{ServiceID: t.ServiceID, NodeID: ls.a.nodeID, TaskID: t.ID}
	src, ok := ls.a.cfg.Executor.(exec.LogSource)
	if !ok {
		ls.emit(protocol.LogPublication{Messages: []protocol.LogMessage{{Context: logCtx, Err: "this node's executor cannot read logs"}}})
		return
	}
	rc, err := src.Logs(ls.ctx, t.Status.Container.ContainerID, opts)
	if err != nil {
		if ls.ctx.Err() == nil {
			ls.emit(protocol.LogPublication{Messages: []protocol.LogMessage{{Context: logCtx, Err: "reading the logs of task " + t.ID + ": " + err.Error()}}})
		}
		return
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			l, perr := exec.ParseLogLine(line, opts.Timestamps)
			m := protocol.LogMessage{Context: logCtx, Timestamp: l.Timestamp, Stream: l.Stream, Text: l.Text}
			if perr != nil {
				m = protocol.LogMessage{Context: logCtx, Stream: exec.Stdout, Text: line}
			}
			if ls.emit(protocol.LogPublication{Messages: []protocol.LogMessage{m}}) != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && ls.ctx.Err() == nil {
				ls.emit(protocol.LogPublication{Messages: []protocol.LogMessage{{Context: logCtx, Err: "reading the logs of task " + t.ID + ": " + err.Error()}}})
			}
			return
		}
	}
}

// emit writes one publication line.
func (ls *logStream) emit(p protocol.LogPublication) error {
	ls.encMu.Lock()
	defer ls.encMu.Unlock()
	return ls.enc.Encode(p)
}
