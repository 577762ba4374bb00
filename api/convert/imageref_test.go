package convert

import (
	"strconv"
	"testing"
)

// TestCheckImageRef checks references twice each: the second answer comes
// from the cache for a valid one and must be the same; an invalid one is
// never cached.
func TestCheckImageRef(t *testing.T) {
	for _, tc := range []struct {
		ref string
		ok  bool
	}{
		{"shoal/demoapp:latest", true},
		{"busybox", true},
		{"registry.example.com:5000/a/b@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"Busybox", false},
		{"a b", false},
		{"busybox:", false},
	} {
		for range 2 {
			err := checkImageRef(tc.ref)
			if (err == nil) != tc.ok {
				t.Fatalf("%q: %v, want ok %v", tc.ref, err, tc.ok)
			}
		}
	}
	validImages.Lock()
	defer validImages.Unlock()
	if _, ok := validImages.refs["Busybox"]; ok {
		t.Fatal("an invalid reference was cached")
	}
}

// TestCheckImageRefCacheIsBounded fills the cache past its bound: it is
// cleared rather than grown.
func TestCheckImageRefCacheIsBounded(t *testing.T) {
	for i := range maxValidImages + 10 {
		if err := checkImageRef("img/x" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	validImages.Lock()
	defer validImages.Unlock()
	if n := len(validImages.refs); n > maxValidImages {
		t.Fatalf("%d references cached", n)
	}
}
