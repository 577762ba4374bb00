package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// dumpStore returns the JSON of every object of s, in ID order: two stores
// with the same dump hold the same state.
func dumpStore(t *testing.T, s *Store) string {
	t.Helper()
	var out struct {
		Index    uint64
		Clusters []*model.Cluster
		Nodes    []*model.Node
		Services []*model.Service
		Tasks    []*model.Task
		Networks []*model.Network
		Secrets  []*model.Secret
		Configs  []*model.Config
	}
	err := s.View(func(tx ReadTx) error {
		out.Index = tx.Index()
		if c := tx.Cluster(); c != nil {
			out.Clusters = append(out.Clusters, c)
		}
		var err error
		if out.Nodes, err = tx.FindNodes(All); err != nil {
			return err
		}
		if out.Services, err = tx.FindServices(All); err != nil {
			return err
		}
		if out.Tasks, err = tx.FindTasks(All); err != nil {
			return err
		}
		if out.Networks, err = tx.FindNetworks(All); err != nil {
			return err
		}
		if out.Secrets, err = tx.FindSecrets(All); err != nil {
			return err
		}
		out.Configs, err = tx.FindConfigs(All)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeSnapshotJSON writes a snapshot in format 1, as WriteTo did before
// format 2.
func writeSnapshotJSON(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	sn := s.Snapshot()
	_ = enc.Encode(snapshotHeader{Format: snapshotFormatJSON, Index: sn.Index()})
	sn.db.clusters.ids.ascend(nil, func(e *item[model.Cluster]) bool { return enc.Encode(&snapshotRecord{Cluster: e.obj}) == nil })
	sn.db.nodes.ids.ascend(nil, func(e *item[model.Node]) bool { return enc.Encode(&snapshotRecord{Node: e.obj}) == nil })
	sn.db.services.ids.ascend(nil, func(e *item[model.Service]) bool { return enc.Encode(&snapshotRecord{Service: e.obj}) == nil })
	sn.db.tasks.ids.ascend(nil, func(e *item[model.Task]) bool { return enc.Encode(&snapshotRecord{Task: e.obj}) == nil })
	sn.db.networks.ids.ascend(nil, func(e *item[model.Network]) bool { return enc.Encode(&snapshotRecord{Network: e.obj}) == nil })
	sn.db.secrets.ids.ascend(nil, func(e *item[model.Secret]) bool { return enc.Encode(&snapshotRecord{Secret: e.obj}) == nil })
	sn.db.configs.ids.ascend(nil, func(e *item[model.Config]) bool { return enc.Encode(&snapshotRecord{Config: e.obj}) == nil })
	return buf.Bytes()
}

func snapshotBytes(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.Snapshot().WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo: %d bytes of %d, %v", n, buf.Len(), err)
	}
	return buf.Bytes()
}

func restored(t *testing.T, b []byte) *Store {
	t.Helper()
	s := NewStore()
	if err := s.Restore(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRestoreGoldenFormat1 restores a format 1 snapshot written by the
// store before format 2, and finds the state today's store reaches with
// the same commands.
func TestRestoreGoldenFormat1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "snapshot-format1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got := dumpStore(t, restored(t, b))
	if want := dumpStore(t, goldenStore(t)); got != want {
		t.Fatalf("restored golden snapshot differs:\n%s\nwant:\n%s", got, want)
	}
}

// TestRestoreGoldenFormat2 restores a format 2 snapshot, written by the
// store before format 3 (commit dc047d7, goldenStore's state), and finds
// the state today's store reaches with the same commands.
func TestRestoreGoldenFormat2(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "snapshot-format2.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`{"format":2,`)) {
		t.Fatalf("header %q", b[:min(len(b), 30)])
	}
	got := dumpStore(t, restored(t, b))
	if want := dumpStore(t, goldenStore(t)); got != want {
		t.Fatalf("restored golden snapshot differs:\n%s\nwant:\n%s", got, want)
	}
}

// TestSnapshotFormat2RoundTrip writes stores in format 3 and restores
// them, against the same stores through format 1.
func TestSnapshotFormat2RoundTrip(t *testing.T) {
	stores := map[string]*Store{"golden": goldenStore(t), "empty": NewStore()}
	for seed := range uint64(3) {
		stores[fmt.Sprint("random ", seed)] = randomWorkload(t, seed, 300).s
	}
	for name, s := range stores {
		want := dumpStore(t, s)
		b := snapshotBytes(t, s)
		if !bytes.HasPrefix(b, []byte(`{"format":3,`)) {
			t.Fatalf("%s: header %q", name, b[:min(len(b), 30)])
		}
		r := restored(t, b)
		if got := dumpStore(t, r); got != want {
			t.Fatalf("%s: format 2 round trip differs:\n%s\nwant:\n%s", name, got, want)
		}
		if got := dumpStore(t, restored(t, writeSnapshotJSON(t, s))); got != want {
			t.Fatalf("%s: format 1 round trip differs", name)
		}
		// Written again, the restored store gives the same bytes.
		if b2 := snapshotBytes(t, r); !bytes.Equal(b, b2) {
			t.Fatalf("%s: a restored store writes a different snapshot", name)
		}
		// Tasks of one spec version share their spec after a restore.
		_ = r.View(func(tx ReadTx) error {
			seen := map[specKey]*model.Task{}
			return tx.ForEachTask(All, func(tk *model.Task) bool {
				k := specKey{tk.ServiceID, tk.SpecVersion.Index}
				if o := seen[k]; o != nil && specEqual(&o.Spec, &tk.Spec) && !sameTaskSpec(&o.Spec, &tk.Spec) {
					t.Fatalf("%s: tasks %s and %s do not share their spec", name, o.ID, tk.ID)
				}
				seen[k] = tk
				return true
			})
		})
	}
}

// TestSnapshotRefusesDamage checks that every truncation of a snapshot,
// and other damage, is refused and leaves the store as it was.
func TestSnapshotRefusesDamage(t *testing.T) {
	b := snapshotBytes(t, goldenStore(t))
	s := goldenStore(t)
	before := s.db.Load()
	check := func(name string, data []byte, msg string) {
		t.Helper()
		err := s.Restore(bytes.NewReader(data))
		if err == nil {
			t.Fatalf("%s: restored", name)
		}
		if msg != "" && !strings.Contains(err.Error(), msg) {
			t.Fatalf("%s: error %q does not say %q", name, err, msg)
		}
		if s.db.Load() != before || s.Index() != before.index {
			t.Fatalf("%s: a failed restore changed the store", name)
		}
	}
	for n := range len(b) {
		check(fmt.Sprint("truncated at ", n), b[:n], "")
	}
	check("data after the end", append(append([]byte(nil), b...), 1, 'x'), "after the end")
	check("unknown format", []byte(`{"format":4,"index":9}`+"\n"), "unknown snapshot format 4")
	check("no header", nil, "header")
	check("bad record kind", []byte(`{"format":2,"index":9}`+"\n\x02z0"), "unknown kind")
	check("huge record", []byte(`{"format":2,"index":9}`+"\n\xff\xff\xff\xff\x0f"), "bytes")
}

// FuzzRestore restores damaged snapshots: never a panic, and a store that
// is either unchanged or restored.
func FuzzRestore(f *testing.F) {
	s := NewStore()
	for i, c := range goldenCommands() {
		s.Apply(Entry{Index: uint64(i + 1), Cmd: c})
	}
	var buf bytes.Buffer
	_, _ = s.Snapshot().WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":1,"index":3}` + "\n" + `{"t":{"id":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewStore()
		if err := s.Restore(bytes.NewReader(b)); err != nil && s.Index() != 0 {
			t.Fatal("a failed restore changed the store")
		}
	})
}

// fill sets every field of v, recursively, to a value that is not zero,
// so that an encoding that misses a field is caught by comparing a round
// trip with the original.
func fill(v reflect.Value, seed *int) {
	*seed++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Type() == reflect.TypeFor[model.TaskState]() {
			v.SetInt(int64(model.TaskStateRunning))
			return
		}
		v.SetInt(int64(*seed))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*seed))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*seed) / 4)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), seed)
		fill(v.Index(1), seed)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, seed)
		fill(e, seed)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, *seed, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), seed)
		}
	default:
		panic("fill: " + v.Kind().String())
	}
}

// TestTaskEncodingCoversEveryField round-trips a task with every field
// set through format 2: a field that Task (or its status) gains and the
// encoding does not write fails here.
func TestTaskEncodingCoversEveryField(t *testing.T) {
	var tk model.Task
	seed := 0
	fill(reflect.ValueOf(&tk).Elem(), &seed)
	s := NewStore()
	db := newDB()
	if err := db.tasks.put(tk.ID, &tk, nil); err != nil {
		t.Fatal(err)
	}
	db.seal(5)
	s.db.Store(db)
	s.setIndex(5)
	r := restored(t, snapshotBytes(t, s))
	var got *model.Task
	_ = r.View(func(tx ReadTx) error { got = tx.GetTask(tk.ID); return nil })
	if !reflect.DeepEqual(got, &tk) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(&tk)
		t.Fatalf("task after a format 2 round trip:\n%s\nwant:\n%s", gb, wb)
	}
}

// TestSameTaskSpec checks the memory comparison of specs: shared specs
// are the same, a copy that shares nothing is not (specEqual finds it
// equal), and a change of any field differs.
func TestSameTaskSpec(t *testing.T) {
	var a model.TaskSpec
	seed := 0
	fill(reflect.ValueOf(&a).Elem(), &seed)
	b := a
	if !sameTaskSpec(&a, &b) {
		t.Fatal("a copy sharing everything is not the same")
	}
	var c model.TaskSpec
	seed = 0
	fill(reflect.ValueOf(&c).Elem(), &seed)
	if sameTaskSpec(&a, &c) || !specEqual(&a, &c) {
		t.Fatal("an equal spec that shares nothing")
	}
	c = a
	c.Container.Env = append([]string(nil), c.Container.Env...)
	if sameTaskSpec(&a, &c) {
		t.Fatal("a spec with its own Env is the same")
	}
}
