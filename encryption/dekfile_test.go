package encryption

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoadDEK(t *testing.T) {
	dek := GenerateDEK()
	key := GenerateUnlockKey()
	otherKey := GenerateUnlockKey()
	tests := []struct {
		name    string
		saveKey *UnlockKey
		loadKey *UnlockKey
		want    error
	}{
		{"clear", nil, nil, nil},
		{"clear, loaded with a key", nil, key, nil},
		{"wrapped", key, key, nil},
		{"wrapped, no key", key, nil, ErrLocked},
		{"wrapped, wrong key", key, otherKey, ErrInvalidUnlockKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "manager", "raft-dek.pem")
			if err := SaveDEK(path, dek, tt.saveKey); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %s, want 0600", fi.Mode().Perm())
			}
			raw, _ := os.ReadFile(path)
			if tt.saveKey != nil && bytes.Contains(raw, dek) {
				t.Error("wrapped file contains the DEK")
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("%d files in the directory, want 1 (temporary file left?)", len(entries))
			}
			got, err := LoadDEK(path, tt.loadKey)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadDEK = %v, want %v", err, tt.want)
			}
			if err == nil && !bytes.Equal(got, dek) {
				t.Fatal("loaded key differs")
			}
		})
	}
}

func TestDEKAutolockLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dek.pem")
	dek := GenerateDEK()
	k1, k2 := GenerateUnlockKey(), GenerateUnlockKey()

	steps := []struct {
		name    string
		saveKey *UnlockKey
		locked  bool
		good    *UnlockKey
		bad     *UnlockKey
	}{
		{"no autolock", nil, false, nil, nil},
		{"autolock on", k1, true, k1, k2},
		{"unlock key rotated", k2, true, k2, k1},
		{"autolock off", nil, false, nil, nil},
	}
	for _, s := range steps {
		if err := SaveDEK(path, dek, s.saveKey); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		_, err := LoadDEK(path, nil)
		if s.locked != errors.Is(err, ErrLocked) {
			t.Fatalf("%s: LoadDEK(nil) = %v, locked want %v", s.name, err, s.locked)
		}
		if s.good != nil {
			if got, err := LoadDEK(path, s.good); err != nil || !bytes.Equal(got, dek) {
				t.Fatalf("%s: LoadDEK(good key) = %v", s.name, err)
			}
			if _, err := LoadDEK(path, s.bad); !errors.Is(err, ErrInvalidUnlockKey) {
				t.Fatalf("%s: LoadDEK(old key) = %v", s.name, err)
			}
		}
	}
}

func TestLoadDEKErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(dir, "good.pem")
	if err := SaveDEK(good, GenerateDEK(), nil); err != nil {
		t.Fatal(err)
	}
	goodPEM, _ := os.ReadFile(good)

	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "nope.pem"), fs.ErrNotExist},
		{"not PEM", write("garbage", "hello"), ErrDEKFile},
		{"empty", write("empty", ""), ErrDEKFile},
		{"wrong PEM type", write("cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ErrDEKFile},
		{"short clear key", write("short", "-----BEGIN SHOAL DATA KEY-----\nAAAA\n-----END SHOAL DATA KEY-----\n"), ErrKeySize},
		{"truncated wrapped key", write("trunc", "-----BEGIN SHOAL WRAPPED DATA KEY-----\nAQAA\n-----END SHOAL WRAPPED DATA KEY-----\n"), ErrTruncated},
		{"two keys", write("two", string(goodPEM)+string(goodPEM)), ErrDEKFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadDEK(tt.path, GenerateUnlockKey()); !errors.Is(err, tt.want) {
				t.Fatalf("LoadDEK = %v, want %v", err, tt.want)
			}
		})
	}
	if err := SaveDEK(filepath.Join(dir, "x"), make([]byte, 16), nil); !errors.Is(err, ErrKeySize) {
		t.Fatalf("SaveDEK(short key) = %v", err)
	}
}
