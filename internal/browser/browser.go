// Package browser drives a real headless Chromium through the Chrome
// DevTools protocol (github.com/chromedp/chromedp), for the tests and
// benchmarks of the web dashboard: open a page, wait until its scripts
// made the DOM say something, read the DOM, take a screenshot, read the
// JavaScript heap.
//
// Chromium is Debian's `chromium` package (.ci/run installs it). Require
// skips a test when it is missing on a developer's machine and fails it
// in CI (the CI environment variable is set).
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
)

// ErrNotFound is returned when no Chromium is installed.
var ErrNotFound = errors.New("browser: no chromium found (apt-get install -y chromium)")

// Find returns the path of a Chromium executable.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Require returns Chromium's path. Without one it skips the test, or
// fails it in CI, where .ci/run installs it.
func Require(t testing.TB) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: CI must have it", err)
		}
		t.Skipf("%v: skipping the browser test", err)
	}
	return p
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	ctx     context.Context
	cancels []context.CancelFunc
}

// Config describes the browser.
type Config struct {
	// ExecPath is Chromium's executable (see Find).
	ExecPath string
	// Width and Height are the window's size in pixels.
	Width, Height int
	// Logf, if set, receives the browser's console messages and errors.
	Logf func(format string, args ...any)
}

// Start starts Chromium. Close stops it.
func Start(ctx context.Context, cfg Config) (*Browser, error) {
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 1400, 1000
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(cfg.ExecPath),
		chromedp.WindowSize(cfg.Width, cfg.Height),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.Flag("enable-precise-memory-info", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	var copts []chromedp.ContextOption
	if cfg.Logf != nil {
		copts = append(copts, chromedp.WithErrorf(cfg.Logf))
	}
	tctx, cancelTab := chromedp.NewContext(actx, copts...)
	b := &Browser{ctx: tctx, cancels: []context.CancelFunc{cancelTab, cancelAlloc}}
	if err := chromedp.Do(tctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{})
		return err
	})); err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: starting %s: %w", cfg.ExecPath, err)
	}
	return b, nil
}

// Close stops the browser.
func (b *Browser) Close() {
	for _, c := range b.cancels {
		c()
	}
}

// Navigate opens url and waits for its load event, for at most a minute.
func (b *Browser) Navigate(url string) error {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// EvalTimeout bounds one Eval: a page whose main thread is busy for longer
// is reported rather than waited for.
const EvalTimeout = 30 * time.Second

// Eval evaluates a JavaScript expression and returns its JSON value.
func Eval[T any](b *Browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, EvalTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// WaitFor evaluates cond, a JavaScript boolean expression, until it is
// true or timeout passes.
func (b *Browser) WaitFor(cond string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := Eval[bool](b, "!!("+cond+")")
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("browser: waiting %s for %s: %w", timeout, cond, err)
			}
			return fmt.Errorf("browser: waited %s for %s", timeout, cond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Screenshot writes a PNG of the whole page to path.
func (b *Browser) Screenshot(path string) error {
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("browser: screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}

// ViewportScreenshot writes a PNG of the visible part of the page.
func (b *Browser) ViewportScreenshot(path string) error {
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("browser: screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}

// Metrics returns the page's performance metrics (Performance.getMetrics
// of the DevTools protocol): JSHeapUsedSize, Nodes, LayoutDuration...
func (b *Browser) Metrics() (map[string]float64, error) {
	res, err := chromedp.Run(b.ctx, func(ctx context.Context, t *chromedp.Target) (performance.GetMetricsResult, error) {
		return cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
	})
	if err != nil {
		return nil, fmt.Errorf("browser: metrics: %w", err)
	}
	out := make(map[string]float64, len(res.Metrics))
	for _, m := range res.Metrics {
		out[m.Name] = m.Value
	}
	return out, nil
}
