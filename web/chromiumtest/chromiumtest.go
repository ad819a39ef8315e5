// Package chromiumtest starts headless Chromium for the web view's browser
// tests, driven by chromedp: each browser has a fresh profile, so two of
// them are two people with their own cookies.
package chromiumtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is Debian's chromium, which .ci/run installs.
const Path = "/usr/bin/chromium"

// Need skips under -short, and where Chromium is missing: fails in CI
// (which installs it), skips with the reason elsewhere.
func Need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts headless Chromium; skipped under -short")
	}
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs chromium", Path)
		}
		t.Skipf("%s is missing: apt-get install chromium to run the browser tests", Path)
	}
}

// Timeout bounds everything one browser does in a test.
const Timeout = 2 * time.Minute

// New starts a browser with a fresh user-data-dir and returns its context
// (every chromedp action runs on it); it is closed when the test ends.
func New(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, Timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
