package raft

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/transport"
)

// Forwarded writes travel in batches: a follower's HTTPForwarder keeps one
// apply request in flight per leader, and the writes that arrive meanwhile
// go together in the next one, which the leader applies concurrently (so
// that Raft commits them as one group) and answers item by item. Under
// load a batch carries many writes for the HTTP, TLS and system-call cost
// of one; a lone write goes at once, as before.

const (
	pathApplyBatch = PathPrefix + "apply-batch"
	// maxBatchItems and maxBatchBytes bound a batch; a larger command
	// goes alone (pathApply).
	maxBatchItems = 256
	maxBatchBytes = 8 << 20
)

// batchAnswer is one item's answer in a batch's response.
type batchAnswer struct {
	Results state.Results `json:"results,omitempty"`
	Error   *rpcError     `json:"error,omitempty"`
}

// applyQueue holds the writes waiting for a leader.
type applyQueue struct {
	items   []*applyItem
	sending bool
}

type applyItem struct {
	cmd   []byte
	done  chan applyResult // buffered: the sender never waits
	batch *sentBatch       // set once sent
}

type applyResult struct {
	res state.Results
	err error
}

// sentBatch is a batch in flight; its request is cancelled once none of
// its callers waits for it.
type sentBatch struct {
	waiters int
	cancel  context.CancelFunc
}

// applyBatched queues cmd for the leader at addr and waits for its answer.
func (f *HTTPForwarder) applyBatched(ctx context.Context, addr string, cmd []byte) (state.Results, error) {
	it := &applyItem{cmd: cmd, done: make(chan applyResult, 1)}
	f.mu.Lock()
	if f.queues == nil {
		f.queues = map[string]*applyQueue{}
	}
	q := f.queues[addr]
	if q == nil {
		q = &applyQueue{}
		f.queues[addr] = q
	}
	q.items = append(q.items, it)
	if !q.sending {
		q.sending = true
		go f.sendLoop(addr, q)
	}
	f.mu.Unlock()

	select {
	case r := <-it.done:
		return r.res, r.err
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case r := <-it.done:
		return r.res, r.err
	default:
	}
	if it.batch == nil {
		// Still queued: it will not be sent.
		q.items = deleteItem(q.items, it)
		return nil, fmt.Errorf("%w: %w", ErrNotSent, ctx.Err())
	}
	if it.batch.waiters--; it.batch.waiters == 0 {
		it.batch.cancel()
	}
	return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
}

func deleteItem(items []*applyItem, it *applyItem) []*applyItem {
	for i, x := range items {
		if x == it {
			return append(items[:i], items[i+1:]...)
		}
	}
	return items
}

// sendLoop sends q's writes to addr, a batch at a time, until q is empty.
func (f *HTTPForwarder) sendLoop(addr string, q *applyQueue) {
	for {
		f.mu.Lock()
		if len(q.items) == 0 {
			q.sending = false
			delete(f.queues, addr)
			f.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(q.items) && n < maxBatchItems && (n == 0 || size+len(q.items[n].cmd) <= maxBatchBytes) {
			size += len(q.items[n].cmd)
			n++
		}
		items := append([]*applyItem(nil), q.items[:n]...)
		q.items = append(q.items[:0], q.items[n:]...)
		ctx, cancel := context.WithCancel(context.Background())
		b := &sentBatch{waiters: n, cancel: cancel}
		for _, it := range items {
			it.batch = b
		}
		f.mu.Unlock()

		results := f.sendBatch(ctx, addr, items)
		cancel()
		for i, it := range items {
			it.done <- results[i]
		}
	}
}

// sendBatch sends items to addr and returns an answer for each.
func (f *HTTPForwarder) sendBatch(ctx context.Context, addr string, items []*applyItem) []applyResult {
	out := make([]applyResult, len(items))
	all := func(err error) []applyResult {
		for i := range out {
			out[i] = applyResult{err: err}
		}
		return out
	}
	if len(items) == 1 {
		res, err := f.applyOne(ctx, addr, items[0].cmd)
		out[0] = applyResult{res, err}
		return out
	}
	var body bytes.Buffer
	body.Write(binary.AppendUvarint(nil, uint64(len(items))))
	for _, it := range items {
		body.Write(binary.AppendUvarint(nil, uint64(len(it.cmd))))
		body.Write(it.cmd)
	}
	var answers []batchAnswer
	err := f.do(ctx, addr, http.MethodPost, pathApplyBatch, body.Bytes(), &answers)
	switch {
	case errors.Is(err, errPathNotFound):
		// A leader of an older version: one request per write.
		var wg sync.WaitGroup
		for i, it := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := f.applyOne(ctx, addr, it.cmd)
				out[i] = applyResult{res, err}
			}()
		}
		wg.Wait()
		return out
	case errors.Is(err, errTransport):
		return all(fmt.Errorf("%w: %w", ErrUnknownOutcome, err))
	case err != nil:
		return all(err)
	case len(answers) != len(items):
		return all(fmt.Errorf("%w: forwarding to %s: %d answers for a batch of %d", ErrUnknownOutcome, addr, len(answers), len(items)))
	}
	for i, a := range answers {
		if a.Error != nil {
			out[i] = applyResult{err: a.Error.err()}
			continue
		}
		out[i] = applyResult{res: a.Results}
	}
	return out
}

// decodeBatch splits a batch's body into its commands.
func decodeBatch(body []byte) ([][]byte, error) {
	n, k := binary.Uvarint(body)
	if k <= 0 || n == 0 || n > maxBatchItems {
		return nil, errors.New("raft: bad batch: item count")
	}
	body = body[k:]
	cmds := make([][]byte, 0, n)
	for range n {
		l, k := binary.Uvarint(body)
		if k <= 0 || l > uint64(len(body)-k) {
			return nil, errors.New("raft: bad batch: item length")
		}
		cmds = append(cmds, body[k:k+int(l)])
		body = body[k+int(l):]
	}
	if len(body) != 0 {
		return nil, errors.New("raft: bad batch: trailing bytes")
	}
	return cmds, nil
}

// serveApplyBatch applies a batch's commands concurrently, so that Raft
// commits them together, and answers each.
func (n *Node) serveApplyBatch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBatchBytes+maxBatchItems*binary.MaxVarintLen64+binary.MaxVarintLen64+1))
	if err != nil {
		writeRPCError(w, fmt.Errorf("raft: reading batch: %w", err))
		return
	}
	cmds, err := decodeBatch(body)
	if err != nil {
		transport.WriteJSON(w, http.StatusBadRequest, rpcError{Kind: kindOther, Message: err.Error()})
		return
	}
	answers := make([]batchAnswer, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := n.ApplyLocal(r.Context(), cmd)
			if err != nil {
				_, e := encodeRPCError(err)
				answers[i] = batchAnswer{Error: &e}
				return
			}
			answers[i] = batchAnswer{Results: res}
		}()
	}
	wg.Wait()
	transport.WriteJSON(w, http.StatusOK, answers)
}

// errPathNotFound is do's report of a 404 without an RPC error: the
// target does not serve the path.
var errPathNotFound = errors.New("raft: path not served")
