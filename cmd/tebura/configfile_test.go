package main

import (
	"os"
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

// TestConfigPrintRedacts: `tebura config print` shows the effective
// configuration with every secret, from ${ENV}, a _file sibling or a
// TEBURA_*_FILE variable, printed as [redacted].
func TestConfigPrintRedacts(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app-token"), []byte("xapp-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing"), []byte("sign-from-env-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MY_BOT_TOKEN", "xoxb-from-env")
	t.Setenv("TEBURA_SLACK_SIGNING_SECRET_FILE", filepath.Join(dir, "signing"))
	p := filepath.Join(dir, "tebura.yaml")
	body := "slack:\n  enabled: true\n  bot_token: \"${MY_BOT_TOKEN}\"\n  app_token_file: app-token\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "config", "print", "--config", p)
	if code != 0 {
		t.Fatalf("config print exit %d: %s", code, errOut)
	}
	for _, secret := range []string{"xoxb-from-env", "xapp-from-file", "sign-from-env-file"} {
		if strings.Contains(out, secret) {
			t.Errorf("config print shows secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "bot_token: '[redacted]'") || !strings.Contains(out, "app_token: '[redacted]'") {
		t.Errorf("config print should show [redacted]:\n%s", out)
	}
}
