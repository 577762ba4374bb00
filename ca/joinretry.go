package ca

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ErrJoinGaveUp is returned by JoinWithRetry when its time is up; the
// error wraps it with the address, the time spent and the last attempt's
// error.
var ErrJoinGaveUp = errors.New("ca: gave up joining")

// JoinRetry says how JoinWithRetry retries a join that failed for a
// reason that may pass (the manager is unreachable, starting, electing a
// leader, or asked the caller to wait).
type JoinRetry struct {
	// Timeout is the time after which JoinWithRetry gives up (2 min): a
	// manager that is restarting or electing a leader is back well
	// within it; an address nobody answers at is reported long before
	// a user stops waiting.
	Timeout time.Duration
	// FirstWait is the wait after the first failure (1 s); each failure
	// doubles it, up to MaxWait (15 s), so a manager that comes back is
	// joined within 15 s.
	FirstWait, MaxWait time.Duration
	// Logger gets a line per failed attempt; nil is slog.Default().
	Logger *slog.Logger

	// Now and After are the clock (time.Now and time.After if nil);
	// tests pass a fake one, so that a two-minute give-up takes no time.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// DefaultJoinRetry returns the retry policy described on its fields.
func DefaultJoinRetry() JoinRetry {
	return JoinRetry{Timeout: 2 * time.Minute, FirstWait: time.Second, MaxWait: 15 * time.Second}
}

// Validate reports a policy that cannot work.
func (r JoinRetry) Validate() error {
	var errs []error
	if r.Timeout <= 0 {
		errs = append(errs, errors.New("timeout must be positive"))
	}
	if r.FirstWait <= 0 || r.MaxWait < r.FirstWait {
		errs = append(errs, errors.New("first wait must be positive and at most max wait"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("ca: invalid join retry: %w", errors.Join(errs...))
	}
	return nil
}

// JoinWithRetry joins through the manager at addr like Join, retrying
// what may pass with exponential backoff and logging each failure with
// the wait before the next attempt, until r.Timeout. What cannot pass
// fails at once: a malformed address or token, a manager whose CA does
// not match the token's digest, a token the manager refuses (wrong,
// rotated, or for another role). A 429 is waited out as the manager asks.
func JoinWithRetry(ctx context.Context, addr string, req JoinRequest, r JoinRetry) (*JoinResult, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("manager address %q: want HOST:PORT, e.g. 10.0.0.1:2377: %w", addr, err)
	}
	if _, err := ParseJoinToken(req.Token); err != nil {
		return nil, err
	}
	now, after, log := r.Now, r.After, r.Logger
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "join", "manager", addr)
	start := now()
	wait := r.FirstWait
	log.Info("joining the cluster through "+addr, "role", req.Role, "timeout", r.Timeout)
	for attempt := 1; ; attempt++ {
		// An attempt gets the time that is left (at least a second), so
		// that a manager that swallows packets cannot hold the join past
		// its timeout by more than that.
		actx, cancel := context.WithTimeout(ctx, max(r.Timeout-now().Sub(start), time.Second))
		res, err := Join(actx, addr, req)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("joined", "attempts", attempt, "after", now().Sub(start).Round(time.Millisecond))
			}
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("joining through %s: %w", addr, ctx.Err())
		}
		retry, asked := retryable(err)
		if !retry {
			return nil, err
		}
		elapsed := now().Sub(start)
		if elapsed >= r.Timeout {
			return nil, fmt.Errorf("%w through %s after %s and %d attempts: %w", ErrJoinGaveUp, addr, elapsed.Round(time.Second), attempt, err)
		}
		// The last attempt is made at the timeout.
		d := min(max(wait, asked), r.Timeout-elapsed)
		log.Warn(fmt.Sprintf("cannot join through %s yet; retrying in %s", addr, d.Round(time.Millisecond)), "attempt", attempt, "err", err)
		select {
		case <-after(d):
		case <-ctx.Done():
			return nil, fmt.Errorf("joining through %s: %w (last attempt: %w)", addr, ctx.Err(), err)
		}
		wait = min(wait*2, r.MaxWait)
	}
}

// retryable reports whether a failed join may succeed later, and how long
// the manager asked to wait.
func retryable(err error) (bool, time.Duration) {
	var refused *RefusedError
	if errors.As(err, &refused) {
		switch {
		case refused.Status == http.StatusTooManyRequests, refused.Status == http.StatusRequestTimeout,
			refused.Status >= 500:
			return true, refused.RetryAfter
		}
		return false, 0 // the token or the request is refused: asking again changes nothing
	}
	var verify *tls.CertificateVerificationError
	if errors.Is(err, ErrRootCAMismatch) || errors.Is(err, ErrRootCertPEM) || errors.Is(err, ErrRootCertParse) ||
		errors.As(err, &verify) {
		return false, 0 // not this cluster's manager
	}
	for _, e := range []error{ErrTokenPrefix, ErrTokenFormat, ErrTokenVersion, ErrTokenDigestLength,
		ErrTokenSecretLength, ErrTokenCharset, ErrTokenDigestRange, ErrTokenSecretRange} {
		if errors.Is(err, e) {
			return false, 0
		}
	}
	// Unreachable, refused connection, reset, timeout, unknown host (DNS
	// may not be up yet): may pass, and each attempt is logged.
	return true, 0
}
