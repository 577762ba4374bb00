package encryption

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestUnlockKeyFormat(t *testing.T) {
	k := GenerateUnlockKey()
	s := k.String()
	if !strings.HasPrefix(s, "SWMKEY-1-") || len(s) != len("SWMKEY-1-")+43 {
		t.Fatalf("unlock key %q has the wrong form", s)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(s, "SWMKEY-1-"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("key part is not base64 of 32 bytes: %v", err)
	}
	back, err := ParseUnlockKey(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(k) || back.String() != s {
		t.Fatal("round trip changed the key")
	}
	if GenerateUnlockKey().Equal(k) {
		t.Fatal("two generated keys are equal")
	}
	if k.Equal(nil) || !(*UnlockKey)(nil).Equal(nil) {
		t.Fatal("Equal mishandles nil")
	}

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("autolock on", "unlock_key", k)
	if strings.Contains(buf.String(), s[9:]) || !strings.Contains(buf.String(), "redacted") {
		t.Fatalf("log %q leaks the key", buf.String())
	}
}

func TestParseUnlockKeyErrors(t *testing.T) {
	body := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	// The last character of 32 bytes in base64 carries 2 padding bits;
	// setting them gives a non-canonical encoding that Strict refuses.
	nonCanonical := body[:42] + string(body[42]+1)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrUnlockKeyFormat},
		{"no prefix", body, ErrUnlockKeyFormat},
		{"join token", "SWMTKN-1-" + body, ErrUnlockKeyFormat},
		{"lower-case prefix", "swmkey-1-" + body, ErrUnlockKeyFormat},
		{"no version", "SWMKEY-" + body, ErrUnlockKeyFormat},
		{"version 2", "SWMKEY-2-" + body, ErrUnlockKeyVersion},
		{"empty version", "SWMKEY--" + body, ErrUnlockKeyVersion},
		{"short", "SWMKEY-1-" + body[:42], ErrUnlockKeyFormat},
		{"long", "SWMKEY-1-" + body + "A", ErrUnlockKeyFormat},
		{"padded", "SWMKEY-1-" + body + "=", ErrUnlockKeyFormat},
		{"URL alphabet", "SWMKEY-1-" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)), ErrUnlockKeyFormat},
		{"bad character", "SWMKEY-1-" + body[:42] + "*", ErrUnlockKeyFormat},
		{"non-canonical", "SWMKEY-1-" + nonCanonical, ErrUnlockKeyFormat},
		{"trailing newline", "SWMKEY-1-" + body + "\n", ErrUnlockKeyFormat},
		{"valid", "SWMKEY-1-" + body, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUnlockKey(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseUnlockKey(%q) = %v, want %v", tt.in, err, tt.want)
			}
			if err != nil && len(tt.in) > 20 && strings.Contains(err.Error(), body[:20]) {
				t.Fatalf("error %q quotes the key", err)
			}
		})
	}
}

func TestWrapUnwrapKey(t *testing.T) {
	dek := GenerateDEK()
	k := GenerateUnlockKey()
	blob, err := WrapKey(dek, k)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, dek) {
		t.Fatal("wrapped key contains the DEK")
	}
	got, err := UnwrapKey(blob, k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, dek) {
		t.Fatal("unwrapped key differs")
	}
	again, _ := WrapKey(dek, k)
	if bytes.Equal(again, blob) {
		t.Fatal("two wraps of the same key are equal")
	}

	mod := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name string
		blob []byte
		key  *UnlockKey
		want error
	}{
		{"wrong unlock key", blob, GenerateUnlockKey(), ErrInvalidUnlockKey},
		{"no unlock key", blob, nil, ErrLocked},
		{"empty", nil, k, ErrTruncated},
		{"truncated", blob[:len(blob)-1], k, ErrTruncated},
		{"too long", append(bytes.Clone(blob), 0), k, ErrTruncated},
		{"unknown version", mod(0), k, ErrUnknownVersion},
		{"salt altered", mod(1), k, ErrInvalidUnlockKey},
		{"ciphertext altered", mod(len(blob) - 1), k, ErrInvalidUnlockKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnwrapKey(tt.blob, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UnwrapKey = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatal("key returned with an error")
			}
		})
	}
	if _, err := UnwrapKey(blob, GenerateUnlockKey()); err == nil || err.Error() != "encryption: invalid unlock key" {
		t.Fatalf("wrong key error text %v", err)
	}
	if _, err := WrapKey(dek[:16], k); !errors.Is(err, ErrKeySize) {
		t.Fatalf("WrapKey(short DEK) = %v", err)
	}
	if _, err := WrapKey(dek, nil); err == nil {
		t.Fatal("WrapKey(nil key) succeeded")
	}
}

func FuzzParseUnlockKey(f *testing.F) {
	f.Add(GenerateUnlockKey().String())
	f.Add("SWMKEY-1-")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseUnlockKey(s)
		if err != nil {
			return
		}
		if k.String() != s {
			t.Fatalf("ParseUnlockKey(%q).String() = %q", s, k.String())
		}
	})
}
