package discovery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/model"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{NodeID: model.NewID(), Role: model.RoleWorker},
		{NodeID: "w1", Role: model.RoleWorker, APIAddr: "10.0.0.7:2375", Leaving: true},
		{NodeID: "m1", Role: model.RoleManager, ClusterAddr: "10.0.0.1:2377", APIAddr: "[fd00::1]:2376"},
		{
			NodeID:      strings.Repeat("n", MaxNodeIDLen),
			Role:        model.RoleManager,
			ClusterAddr: strings.Repeat("a", maxAddrLen-6) + ":65535",
			APIAddr:     strings.Repeat("b", maxAddrLen-6) + ":65535",
		},
	} {
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", m, err)
		}
		if len(b) > memberlist.MetaMaxSize {
			t.Fatalf("%d bytes, over memberlist's limit", len(b))
		}
		got, err := DecodeMeta(b)
		if err != nil {
			t.Fatalf("DecodeMeta: %v", err)
		}
		if got != m {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
	// A worker with a generated ID is small: it rides on every alive message.
	b, _ := Meta{NodeID: model.NewID(), Role: model.RoleWorker}.Encode()
	if len(b) != 3+1+model.IDLength+2 {
		t.Errorf("worker metadata is %d bytes", len(b))
	}
}

func TestMetaNewerVersionKeepsKnownFields(t *testing.T) {
	m := Meta{NodeID: "m1", Role: model.RoleManager, ClusterAddr: "10.0.0.1:2377", Leaving: true}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Version 2 appends a field and sets an unknown flag.
	b[0] = 2
	b[1] |= 0x80
	b = binary.AppendUvarint(b, 3)
	b = append(b, "new"...)
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatalf("DecodeMeta(v2): %v", err)
	}
	if got != m {
		t.Errorf("got %+v, want %+v", got, m)
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	good, err := Meta{NodeID: "m1", Role: model.RoleManager, ClusterAddr: "10.0.0.1:2377"}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	encode := func(version, role byte, fields ...string) []byte {
		b := []byte{version, 0, role}
		for _, f := range fields {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"empty":              nil,
		"short":              {1, 0},
		"version 0":          encode(0, 1, "w1", "", ""),
		"unknown role":       encode(1, 9, "w1", "", ""),
		"truncated":          good[:len(good)-3],
		"length past end":    append(encode(1, 1, "w1", ""), 50, 'x'),
		"trailing bytes v1":  append(slicesClone(good), 0),
		"empty node ID":      encode(1, 1, "", "", ""),
		"bad node ID":        encode(1, 1, "w 1", "", ""),
		"long node ID":       encode(1, 1, strings.Repeat("x", MaxNodeIDLen+1), "", ""),
		"manager no addr":    encode(1, 2, "m1", "", ""),
		"bad cluster addr":   encode(1, 2, "m1", "10.0.0.1", ""),
		"port 0":             encode(1, 2, "m1", "10.0.0.1:0", ""),
		"bad API addr":       encode(1, 1, "w1", "", "nohost"),
		"no host":            encode(1, 1, "w1", "", ":2375"),
		"long addr":          encode(1, 1, "w1", "", strings.Repeat("a", maxAddrLen)+":1"),
		"over memberlist":    bytes.Repeat([]byte{1}, memberlist.MetaMaxSize+1),
		"huge varint length": append([]byte{1, 0, 1}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		if _, err := DecodeMeta(b); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("%s: DecodeMeta = %v, want ErrInvalidMeta", name, err)
		}
	}
	if _, err := (Meta{NodeID: "w1", Role: "boss"}).Encode(); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("Encode with an unknown role = %v", err)
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }
