package ca

import (
	"crypto/x509"
	"math/rand/v2"
	"time"
)

// Renewal window, Docker's rule: a certificate is renewed at a random point
// between 50% and 80% of its life, so that the nodes of a cluster that
// joined together do not all renew at once and a failed renewal leaves
// time to retry before expiry.
const (
	renewWindowStartPercent = 50
	renewWindowEndPercent   = 80
)

// RenewalTime returns when cert should be renewed: a random point between
// 50% and 80% of its life. rnd may be nil to use the global source; tests
// pass a seeded one. The result may be in the past: renew at once.
func RenewalTime(cert *x509.Certificate, rnd *rand.Rand) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	if life <= 0 {
		return cert.NotBefore
	}
	// Divide first so that a very long life cannot overflow.
	start := life / 100 * renewWindowStartPercent
	span := life / 100 * (renewWindowEndPercent - renewWindowStartPercent)
	var offset time.Duration
	if span > 0 {
		if rnd != nil {
			offset = time.Duration(rnd.Int64N(int64(span) + 1))
		} else {
			offset = time.Duration(rand.Int64N(int64(span) + 1))
		}
	}
	return cert.NotBefore.Add(start + offset)
}

// NeedsRenewal reports whether cert must be renewed now: it is past 80% of
// its life (the end of the renewal window), expired, or not yet valid
// (issued for a clock far from ours). A node checks it on start, before it
// schedules the next renewal with RenewalTime.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	if now.Before(cert.NotBefore) {
		return true
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	deadline := cert.NotBefore.Add(life / 100 * renewWindowEndPercent)
	return !now.Before(deadline)
}
