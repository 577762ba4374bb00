package ca

import (
	"bytes"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func TestJoinTokenRoundTrip(t *testing.T) {
	root := testRoot()
	tok, err := GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if len(s) != len("SWMTKN-1-")+50+1+25 {
		t.Fatalf("token %q has length %d", s, len(s))
	}
	if !strings.HasPrefix(s, "SWMTKN-1-") {
		t.Fatalf("token %q lacks the prefix", s)
	}
	// The digest part is the root's SHA-256 digest in base 36.
	d := root.Digest()
	want := new(big.Int).SetBytes(d[:]).Text(36)
	want = strings.Repeat("0", 50-len(want)) + want
	if got := strings.Split(s, "-")[2]; got != want {
		t.Fatalf("digest part %q, want %q", got, want)
	}
	parsed, err := ParseJoinToken(s)
	if err != nil {
		t.Fatalf("ParseJoinToken(%q): %v", s, err)
	}
	if !parsed.Equal(tok) || parsed.String() != s {
		t.Fatalf("round trip changed the token: %q -> %q", s, parsed.String())
	}
	if !parsed.MatchesCA(root.Cert()) {
		t.Fatal("token does not match its own root")
	}
	if parsed.MatchesCA(newRoot(t).Cert()) {
		t.Fatal("token matches another root")
	}
	if parsed.MatchesCA(nil) {
		t.Fatal("token matches a nil certificate")
	}
	if parsed.Digest() != root.Digest() {
		t.Fatal("Digest differs from the root's")
	}

	other, err := GenerateJoinToken(root)
	if err != nil {
		t.Fatal(err)
	}
	if other.Equal(tok) {
		t.Fatal("two generated tokens are equal")
	}
	if _, err := GenerateJoinToken(nil); !errors.Is(err, ErrNilRootCA) {
		t.Fatalf("GenerateJoinToken(nil) = %v, want ErrNilRootCA", err)
	}
}

// TestParseJoinTokenDocker checks a token in the shape Docker prints, with
// leading zeros in both parts.
func TestParseJoinTokenDocker(t *testing.T) {
	digest := strings.Repeat("0", 10) + strings.Repeat("z", 40)
	secret := "0000000000000000000000001"
	tok, err := ParseJoinToken("SWMTKN-1-" + digest + "-" + secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.String(); got != "SWMTKN-1-"+digest+"-"+secret {
		t.Fatalf("String() = %q", got)
	}
	if s := tok.secret; s[15] != 1 || !bytes.Equal(s[:15], make([]byte, 15)) {
		t.Fatalf("secret bytes = %x", s)
	}
}

func TestParseJoinTokenErrors(t *testing.T) {
	digest := "0" + strings.Repeat("a", 49) // below 36^49 < 2^256
	secret := "0" + strings.Repeat("b", 24)
	// The largest 256-bit number is "6dp5qcb22im7z..." in base 36; 50 z's
	// is about 2^258.5.
	tooBigDigest := strings.Repeat("z", 50)
	maxDigest := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)).Text(36)
	justOverDigest := new(big.Int).Lsh(big.NewInt(1), 256).Text(36)
	maxSecret := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)).Text(36)
	justOverSecret := new(big.Int).Lsh(big.NewInt(1), 128).Text(36)
	if len(maxDigest) != 50 || len(justOverDigest) != 50 || len(maxSecret) != 25 || len(justOverSecret) != 25 {
		t.Fatalf("test constants have unexpected lengths")
	}

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrTokenPrefix},
		{"garbage", "hello world", ErrTokenPrefix},
		{"unlock key", "SWMKEY-1-" + digest, ErrTokenPrefix},
		{"lower-case prefix", "swmtkn-1-" + digest + "-" + secret, ErrTokenPrefix},
		{"leading space", " SWMTKN-1-" + digest + "-" + secret, ErrTokenPrefix},
		{"prefix only", "SWMTKN-", ErrTokenFormat},
		{"missing secret", "SWMTKN-1-" + digest, ErrTokenFormat},
		{"extra part", "SWMTKN-1-" + digest + "-" + secret + "-x", ErrTokenFormat},
		{"truncated after dash", "SWMTKN-1-" + digest + "-", ErrTokenSecretLength},
		{"version 2", "SWMTKN-2-" + digest + "-" + secret, ErrTokenVersion},
		{"version 0", "SWMTKN-0-" + digest + "-" + secret, ErrTokenVersion},
		{"version 01", "SWMTKN-01-" + digest + "-" + secret, ErrTokenVersion},
		{"empty version", "SWMTKN--" + digest + "-" + secret, ErrTokenVersion},
		{"short digest", "SWMTKN-1-" + digest[:49] + "-" + secret, ErrTokenDigestLength},
		{"long digest", "SWMTKN-1-" + digest + "a-" + secret, ErrTokenDigestLength},
		{"short secret", "SWMTKN-1-" + digest + "-" + secret[:24], ErrTokenSecretLength},
		{"long secret", "SWMTKN-1-" + digest + "-" + secret + "b", ErrTokenSecretLength},
		{"truncated secret", "SWMTKN-1-" + digest + "-" + secret[:3], ErrTokenSecretLength},
		{"upper case digest", "SWMTKN-1-" + strings.ToUpper(digest) + "-" + secret, ErrTokenCharset},
		{"upper case secret", "SWMTKN-1-" + digest + "-" + strings.ToUpper(secret), ErrTokenCharset},
		{"plus sign", "SWMTKN-1-+" + digest[1:] + "-" + secret, ErrTokenCharset},
		{"underscore", "SWMTKN-1-" + digest + "-_" + secret[1:], ErrTokenCharset},
		{"non-ascii", "SWMTKN-1-" + digest[:48] + "é-" + secret, ErrTokenCharset},
		{"space in secret", "SWMTKN-1-" + digest + "-" + secret[:24] + " ", ErrTokenCharset},
		{"digest over 256 bits", "SWMTKN-1-" + tooBigDigest + "-" + secret, ErrTokenDigestRange},
		{"digest 2^256", "SWMTKN-1-" + justOverDigest + "-" + secret, ErrTokenDigestRange},
		{"secret 2^128", "SWMTKN-1-" + digest + "-" + justOverSecret, ErrTokenSecretRange},
		{"secret all z", "SWMTKN-1-" + digest + "-" + strings.Repeat("z", 25), ErrTokenSecretRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJoinToken(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseJoinToken(%q) = %v, want %v", tt.token, err, tt.want)
			}
			// Errors must not leak the secret.
			if len(tt.token) > 40 && strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q quotes the secret", err)
			}
		})
	}

	// The boundaries themselves are valid.
	for _, s := range []string{
		"SWMTKN-1-" + maxDigest + "-" + maxSecret,
		"SWMTKN-1-" + strings.Repeat("0", 50) + "-" + strings.Repeat("0", 25),
	} {
		tok, err := ParseJoinToken(s)
		if err != nil {
			t.Fatalf("ParseJoinToken(%q): %v", s, err)
		}
		if tok.String() != s {
			t.Fatalf("String() = %q, want %q", tok.String(), s)
		}
	}
}

func TestJoinTokenLogValueRedactsSecret(t *testing.T) {
	tok, err := GenerateJoinToken(testRoot())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("joined", "token", tok)
	secret := strings.Split(tok.String(), "-")[3]
	if strings.Contains(buf.String(), secret) {
		t.Fatalf("log %q contains the secret", buf.String())
	}
	if !strings.Contains(buf.String(), "<redacted>") {
		t.Fatalf("log %q does not show the redaction", buf.String())
	}
}

func TestCheckJoinToken(t *testing.T) {
	root := testRoot()
	gen := func() string {
		tok, err := GenerateJoinToken(root)
		if err != nil {
			t.Fatal(err)
		}
		return tok.String()
	}
	worker, manager, rotatedAway := gen(), gen(), gen()
	otherRootTok, err := GenerateJoinToken(newRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	stored := model.JoinTokens{Worker: worker, Manager: manager}

	tests := []struct {
		name      string
		presented string
		stored    model.JoinTokens
		root      *RootCA
		wantRole  model.NodeRole
		wantErr   error
	}{
		{"worker", worker, stored, root, model.RoleWorker, nil},
		{"manager", manager, stored, root, model.RoleManager, nil},
		{"rotated token", rotatedAway, stored, root, "", ErrTokenRejected},
		{"token of another CA", otherRootTok.String(), stored, root, "", ErrTokenCAMismatch},
		{"garbage", "let me in", stored, root, "", ErrTokenPrefix},
		{"truncated", worker[:len(worker)-1], stored, root, "", ErrTokenSecretLength},
		{"wrong version", strings.Replace(worker, "-1-", "-2-", 1), stored, root, "", ErrTokenVersion},
		{"no manager token stored", manager, model.JoinTokens{Worker: worker}, root, "", ErrTokenRejected},
		{"no tokens stored", worker, model.JoinTokens{}, root, "", ErrTokenRejected},
		{"corrupt stored token", worker, model.JoinTokens{Worker: worker, Manager: "SWMTKN-1-x"}, root, "", ErrStoredTokenInvalid},
		{"nil root", worker, stored, nil, "", ErrNilRootCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, err := CheckJoinToken(tt.presented, tt.root, tt.stored)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckJoinToken = %v, want %v", err, tt.wantErr)
			}
			if role != tt.wantRole {
				t.Fatalf("role = %q, want %q", role, tt.wantRole)
			}
		})
	}
}

func TestJoinTokenEqual(t *testing.T) {
	a, err := GenerateJoinToken(testRoot())
	if err != nil {
		t.Fatal(err)
	}
	sameSecretOtherDigest := a
	sameSecretOtherDigest.digest[0] ^= 1
	lastBitOff := a
	lastBitOff.secret[15] ^= 1
	tests := []struct {
		name string
		b    JoinToken
		want bool
	}{
		{"itself", a, true},
		{"other digest", sameSecretOtherDigest, false},
		{"secret differs in the last bit", lastBitOff, false},
		{"zero token", JoinToken{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Equal(tt.b); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseJoinToken(f *testing.F) {
	root := testRoot()
	tok, err := GenerateJoinToken(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.String())
	f.Add("SWMTKN-1-" + strings.Repeat("z", 50) + "-" + strings.Repeat("0", 25))
	f.Add("SWMTKN-1--")
	f.Add("SWMTKN-2-" + strings.Repeat("a", 50) + "-" + strings.Repeat("a", 25))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			if tok != (JoinToken{}) {
				t.Fatalf("ParseJoinToken(%q) returned a token with error %v", s, err)
			}
			return
		}
		// Anything accepted is canonical and survives a round trip.
		if got := tok.String(); got != s {
			t.Fatalf("ParseJoinToken(%q).String() = %q", s, got)
		}
		again, err := ParseJoinToken(tok.String())
		if err != nil || !again.Equal(tok) {
			t.Fatalf("re-parse of %q: %v", s, err)
		}
	})
}
