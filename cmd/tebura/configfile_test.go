package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUnreadableConfigFileIsOneLine: a --config (or $TEBURA_CONFIG) that
// names a file that cannot be read stops every command that reads the
// configuration with one line on stderr, the path and the cause, and exit
// status 1: not the built-in defaults' own problems around it.
func TestUnreadableConfigFileIsOneLine(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "config.exmaple.yaml")
	commands := [][]string{
		{"validate"}, {"serve"}, {"console"}, {"doctor"}, {"run", "restart-api", "env=prod"},
		{"runs"}, {"logs", "r1"}, {"audit", "verify"}, {"audit", "export"}, {"config", "print"},
		{"healthcheck"}, {"incident", "list"}, {"incident", "postmortem", "1"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cleanEnv(t)
			out, errOut, code := runCLI(t, "", append(args, "--config", missing)...)
			if want := missing + ": no such file or directory\n"; errOut != want || out != "" || code != 1 {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 1, nothing on stdout and stderr %q", code, out, errOut, want)
			}
		})
	}
	t.Run("from TEBURA_CONFIG", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("TEBURA_CONFIG", missing)
		out, errOut, code := runCLI(t, "", "validate")
		if want := missing + ": no such file or directory\n"; errOut != want || out != "" || code != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		cleanEnv(t)
		out, errOut, code := runCLI(t, "", "validate", "--config", dir)
		if want := dir + ": is a directory\n"; errOut != want || out != "" || code != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
		}
	})
	t.Run("version reads no configuration", func(t *testing.T) {
		cleanEnv(t)
		if out, errOut, code := runCLI(t, "", "version", "--config", missing); code != 0 || errOut != "" || !strings.HasPrefix(out, "tebura ") {
			t.Errorf("version with a missing config: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}

// TestReloadOfVanishedConfigFile: a SIGHUP after the file was removed
// refuses the reload with the one problem there is, not the defaults'.
func TestReloadOfVanishedConfigFile(t *testing.T) {
	cleanEnv(t)
	p := filepath.Join(t.TempDir(), "gone.yaml")
	w, ps, confN := loadWorld(p)
	if len(ps) != 1 || confN != 1 || ps[0].String() != p+": no such file or directory" {
		t.Fatalf("problems %v (%d of the config), want the one line %q", ps, confN, p+": no such file or directory")
	}
	if w.Registry == nil {
		t.Fatal("no registry: callers would crash on it")
	}
}
