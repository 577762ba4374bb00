package raft_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// toServer routes every request to srv, whatever host it names, as the
// cluster port's HTTPS would reach the leader.
type toServer struct{ srv *url.URL }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.srv.Scheme, t.srv.Host
	return http.DefaultTransport.RoundTrip(r)
}

// TestForwardedWritesBatch forwards many concurrent writes through an
// HTTPForwarder to a leader's Handler: every write gets its own answer
// (a store refusal reaches only its own caller), and they share far
// fewer requests than there are writes. A leader that does not serve the
// batch path (an older version) still gets every write, one request each.
func TestForwardedWritesBatch(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batchPath  bool
		wantBatchs bool
	}{
		{"batching leader", true, true},
		{"leader without the batch path", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rafttest.New(t, 1)
			leader := c.Leader(5 * time.Second)
			var single, batches atomic.Int32
			h := leader.Node.Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/apply-batch"):
					if !tc.batchPath {
						http.NotFound(w, r)
						return
					}
					batches.Add(1)
				case strings.HasSuffix(r.URL.Path, "/apply"):
					single.Add(1)
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			fwd := &raft.HTTPForwarder{Client: &http.Client{Transport: toServer{u}}}

			const writes = 200
			ids := make([]string, writes)
			errs := make([]error, writes)
			var wg sync.WaitGroup
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range writes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var op state.Op
					if i%10 == 9 {
						// Refused by the store: no such service.
						op = state.Op{Type: state.OpUpdateService, Service: service(model.NewID(), "ghost", 1), Version: 1}
					} else {
						ids[i] = model.NewID()
						op = state.Op{Type: state.OpCreateService, Service: service(ids[i], "svc-"+ids[i], 1)}
					}
					data, err := state.NewCommand(op).Encode()
					if err != nil {
						errs[i] = err
						return
					}
					res, err := fwd.Apply(ctx, leader.Addr, data)
					if err == nil {
						err = res.Err()
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				switch {
				case i%10 == 9 && !errors.Is(err, state.ErrNotFound):
					t.Errorf("write %d (an update of a missing service) = %v, want not found", i, err)
				case i%10 != 9 && err != nil:
					t.Errorf("write %d = %v", i, err)
				}
			}
			for i, id := range ids {
				if id != "" && readService(t, leader.Node, id) == nil {
					t.Errorf("write %d acknowledged but service %s is not in the store", i, id)
				}
			}
			requests := int(single.Load() + batches.Load())
			t.Logf("%d writes in %d single and %d batch requests", writes, single.Load(), batches.Load())
			if tc.wantBatchs && (batches.Load() == 0 || requests >= writes) {
				t.Errorf("%d writes took %d requests (%d batches): not batched", writes, requests, batches.Load())
			}
			if !tc.wantBatchs && single.Load() != writes {
				t.Errorf("%d single requests, want one per write (%d)", single.Load(), writes)
			}
		})
	}
}

// TestForwardedWriteGivesUpWithItsContext checks that a write forwarded to
// a leader that never answers returns once its context ends, with an
// unknown outcome (the request was sent), and that the next write to that
// leader is not held up by the abandoned request.
func TestForwardedWriteGivesUpWithItsContext(t *testing.T) {
	block := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	defer close(block)
	u, _ := url.Parse(srv.URL)
	fwd := &raft.HTTPForwarder{Client: &http.Client{Transport: toServer{u}}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := fwd.Apply(ctx, "10.0.0.9:2377", []byte("x"))
	if !errors.Is(err, raft.ErrUnknownOutcome) {
		t.Fatalf("abandoned write = %v, want an unknown outcome", err)
	}
	// The abandoned request was cancelled: the next one is sent.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, err = fwd.Apply(ctx2, "10.0.0.9:2377", []byte("y"))
	if err != nil || calls.Load() != 2 {
		t.Fatalf("next write = %v after %d requests; want it sent and answered", err, calls.Load())
	}
}
