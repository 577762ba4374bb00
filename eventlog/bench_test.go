package eventlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventlog"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// BenchmarkEventThroughput applies batches of node updates (one event
// each) and measures the events a live subscriber receives per second,
// end to end: the store's feed, the conversion, the history, the fan-out.
func BenchmarkEventThroughput(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := &store{t: nil, s: state.NewStore(), start: time.Now()}
			var ops []state.Op
			for i := range 100 {
				ops = append(ops, state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: fmt.Sprint("n", i)}})
			}
			s.s.Apply(state.Entry{Index: 1, Cmd: &state.Command{Time: time.Now(), Ops: ops}})
			s.index = 1
			l := startLog(b, s, eventlog.Config{SubscriberBuffer: 1 << 20})
			_, sub := l.Subscribe(time.Time{})
			defer sub.Close()
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				var ops []state.Op
				for i := 0; i < batch && sent < b.N; i++ {
					ops = append(ops, state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{
						ID: fmt.Sprint("n", sent%100), Status: model.NodeStatus{State: model.NodeStateReady, Message: fmt.Sprint(sent)}}}})
					sent++
				}
				s.index++
				s.s.Apply(state.Entry{Index: s.index, Cmd: &state.Command{Time: time.Now(), Ops: ops}})
			}
			for range b.N {
				<-sub.C()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkApplyTasksWithEventLog is the cost the event log adds to the
// store's writer for a batch of 1,000 task changes, which make no event:
// the watch's filter drops them.
func BenchmarkApplyTasksWithEventLog(b *testing.B) {
	for _, withLog := range []bool{false, true} {
		b.Run(fmt.Sprintf("eventlog=%v", withLog), func(b *testing.B) {
			st := state.NewStore()
			svc := &model.Service{ID: "s", Spec: model.ServiceSpec{Annotations: model.Annotations{Name: "web"},
				Mode: model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}}}}
			st.Apply(state.Entry{Index: 1, Cmd: &state.Command{Time: time.Now(), Ops: []state.Op{{Type: state.OpCreateService, Service: svc}}}})
			if withLog {
				startLog(b, &store{s: st}, eventlog.DefaultConfig())
			}
			index := uint64(1)
			b.ResetTimer()
			for i := range b.N {
				nts := make([]state.NewTask, 1000)
				for j := range nts {
					nts[j] = state.NewTask{ID: fmt.Sprintf("t%d-%d", i, j), Slot: uint64(j + 1)}
				}
				index++
				st.Apply(state.Entry{Index: index, Cmd: &state.Command{Time: time.Now(),
					Ops: []state.Op{{Type: state.OpCreateTasks, ID: "s", SpecVersion: 1, NewTasks: nts}}}})
			}
		})
	}
}

// BenchmarkPublishFullHistory is the write path's case: the history is
// full (HistorySize events) and each write makes one event, published on
// its own before the next write. Dropping the oldest event must not cost
// a copy of the whole history.
func BenchmarkPublishFullHistory(b *testing.B) {
	s := &store{t: nil, s: state.NewStore(), start: time.Now()}
	s.s.Apply(state.Entry{Index: 1, Cmd: &state.Command{Time: time.Now(), Ops: []state.Op{{Type: state.OpCreateNode, Node: &model.Node{ID: "n"}}}}})
	s.index = 1
	cfg := eventlog.DefaultConfig()
	l := startLog(b, s, cfg)
	_, sub := l.Subscribe(time.Time{})
	defer sub.Close()
	write := func(i int) {
		s.index++
		s.s.Apply(state.Entry{Index: s.index, Cmd: &state.Command{Time: time.Now(), Ops: []state.Op{{Type: state.OpNodeStatus,
			NodeStatuses: []state.NodeStatusUpdate{{ID: "n", Status: model.NodeStatus{State: model.NodeStateReady, Message: fmt.Sprint(i)}}}}}}})
		<-sub.C()
	}
	for i := range cfg.HistorySize {
		write(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		write(i)
	}
}
