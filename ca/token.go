package ca

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Join token layout, Docker's: SWMTKN-1-<digest>-<secret>.
const (
	tokenPrefix = "SWMTKN"
	// TokenVersion is the only token version this package reads and makes.
	TokenVersion = 1
	// tokenDigestLen is the length of a 256-bit number in base 36.
	tokenDigestLen = 50
	// tokenSecretLen is the length of a 128-bit number in base 36.
	tokenSecretLen  = 25
	tokenSecretSize = 16
)

// JoinToken is a parsed join token. It names the root CA a joining node
// must trust (by digest) and carries the secret that proves the node may
// join. Managers and workers have separate tokens.
//
// String returns the whole token, secret included; when logged through
// log/slog the secret is redacted. The zero JoinToken is not a valid token.
type JoinToken struct {
	digest [sha256.Size]byte
	secret [tokenSecretSize]byte
}

var _ slog.LogValuer = JoinToken{}

// GenerateJoinToken makes a token with a fresh random secret for root.
// Rotating a token is generating a new one and storing it in place of the
// old one.
func GenerateJoinToken(root *RootCA) (JoinToken, error) {
	if root == nil {
		return JoinToken{}, ErrNilRootCA
	}
	t := JoinToken{digest: root.Digest()}
	if _, err := rand.Read(t.secret[:]); err != nil {
		return JoinToken{}, fmt.Errorf("ca: join token secret: %w", err)
	}
	return t, nil
}

// ParseJoinToken parses a token strictly: the SWMTKN prefix, version 1, a
// 50-character digest that fits in 256 bits and a 25-character secret that
// fits in 128 bits, both in lower-case base 36. Errors never quote the
// token, which is a secret.
func ParseJoinToken(s string) (JoinToken, error) {
	if !strings.HasPrefix(s, tokenPrefix+"-") {
		return JoinToken{}, ErrTokenPrefix
	}
	parts := strings.Split(s, "-")
	if len(parts) != 4 {
		return JoinToken{}, fmt.Errorf("%w: %d dash-separated parts, want 4", ErrTokenFormat, len(parts))
	}
	if parts[1] != "1" {
		return JoinToken{}, fmt.Errorf("%w: version %.10q, want %d", ErrTokenVersion, parts[1], TokenVersion)
	}
	digest, secret := parts[2], parts[3]
	if len(digest) != tokenDigestLen {
		return JoinToken{}, fmt.Errorf("%w: %d characters, want %d", ErrTokenDigestLength, len(digest), tokenDigestLen)
	}
	if len(secret) != tokenSecretLen {
		return JoinToken{}, fmt.Errorf("%w: %d characters, want %d", ErrTokenSecretLength, len(secret), tokenSecretLen)
	}
	if !isBase36(digest) || !isBase36(secret) {
		return JoinToken{}, ErrTokenCharset
	}
	var t JoinToken
	if !parseBase36(digest, t.digest[:]) {
		return JoinToken{}, ErrTokenDigestRange
	}
	if !parseBase36(secret, t.secret[:]) {
		return JoinToken{}, ErrTokenSecretRange
	}
	return t, nil
}

// isBase36 reports whether s only has the characters 0-9 and a-z.
// big.Int.SetString alone would also take upper case and a sign.
func isBase36(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// parseBase36 decodes s into dst, big-endian, and reports whether the
// number fits in len(dst) bytes.
func parseBase36(s string, dst []byte) bool {
	n, ok := new(big.Int).SetString(s, 36)
	if !ok || n.BitLen() > 8*len(dst) {
		return false
	}
	n.FillBytes(dst)
	return true
}

func formatBase36(b []byte, width int) string {
	s := new(big.Int).SetBytes(b).Text(36)
	return strings.Repeat("0", width-len(s)) + s
}

// String returns the token in its canonical form: for every token that
// ParseJoinToken accepts, ParseJoinToken(s).String() == s.
func (t JoinToken) String() string {
	return fmt.Sprintf("%s-%d-%s-%s", tokenPrefix, TokenVersion,
		formatBase36(t.digest[:], tokenDigestLen), formatBase36(t.secret[:], tokenSecretLen))
}

// LogValue redacts the secret so that tokens can be logged safely.
func (t JoinToken) LogValue() slog.Value {
	return slog.StringValue(fmt.Sprintf("%s-%d-%s-<redacted>", tokenPrefix, TokenVersion,
		formatBase36(t.digest[:], tokenDigestLen)))
}

// Digest returns the SHA-256 digest of the root certificate the token
// names.
func (t JoinToken) Digest() [sha256.Size]byte { return t.digest }

// MatchesCA reports whether the token names cert as the cluster root. A
// joining node refuses a manager whose root does not match its token.
func (t JoinToken) MatchesCA(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	d := sha256.Sum256(cert.Raw)
	return subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1
}

// Equal compares two tokens, digest and secret, in constant time, so that
// the time a manager takes to refuse a presented token does not tell how
// much of its secret was right.
func (t JoinToken) Equal(other JoinToken) bool {
	d := subtle.ConstantTimeCompare(t.digest[:], other.digest[:])
	s := subtle.ConstantTimeCompare(t.secret[:], other.secret[:])
	return d&s == 1
}

// CheckJoinToken is what a manager's CA endpoint does with the token a
// joining node presents: it parses it, checks it names root, and compares
// it in constant time with the cluster's stored manager and worker tokens.
// It returns the role the token grants. An empty stored token matches
// nothing.
//
// Errors: parse errors from ParseJoinToken, ErrTokenCAMismatch for a token
// of another cluster (or an old root), ErrTokenRejected for a wrong or
// rotated secret, ErrStoredTokenInvalid if a stored token is corrupt.
func CheckJoinToken(presented string, root *RootCA, stored model.JoinTokens) (model.NodeRole, error) {
	if root == nil {
		return "", ErrNilRootCA
	}
	t, err := ParseJoinToken(presented)
	if err != nil {
		return "", err
	}
	if !t.MatchesCA(root.Cert()) {
		return "", ErrTokenCAMismatch
	}
	managerOK, err := matchStored(t, stored.Manager, "manager")
	if err != nil {
		return "", err
	}
	workerOK, err := matchStored(t, stored.Worker, "worker")
	if err != nil {
		return "", err
	}
	switch {
	case managerOK:
		return model.RoleManager, nil
	case workerOK:
		return model.RoleWorker, nil
	}
	return "", ErrTokenRejected
}

func matchStored(presented JoinToken, stored, which string) (bool, error) {
	if stored == "" {
		return false, nil
	}
	st, err := ParseJoinToken(stored)
	if err != nil {
		return false, fmt.Errorf("%w: %s token: %w", ErrStoredTokenInvalid, which, err)
	}
	return presented.Equal(st), nil
}
