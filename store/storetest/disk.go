package storetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TinyDisk mounts a tmpfs of size (e.g. "2m") on a temp dir for a
// disk-full drill and returns the dir; it is unmounted when the test ends.
// The test is skipped when it cannot mount (not root, no mount permission
// in the container).
func TinyDisk(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the disk-full drill mounts a tiny tmpfs and needs root; run it as root (CI container) to exercise it")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("the disk-full drill could not mount a tmpfs (%v: %s); skipped", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FillDisk writes a file into dir until the disk is full and returns its
// path (remove it to free the space).
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			// Take the last partial blocks too.
			for _, err := f.Write(chunk[:512]); err == nil; _, err = f.Write(chunk[:512]) {
			}
			return path
		}
	}
}
