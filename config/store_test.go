package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoreDefaults: bolt stays the default (the quick start needs
// nothing else), with the postgres tuning ready for when it is chosen.
func TestStoreDefaults(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, "")
	if c.Store.Driver != DriverBolt || c.Store.Postgres.MaxConns != 10 || c.Store.Postgres.StatementTimeout != 30*time.Second {
		t.Errorf("store defaults = %+v", c.Store)
	}
}

func TestStoreValidate(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want []string // keys with a problem
	}{
		{"bolt needs nothing", func(c *Config) {}, nil},
		{"unknown driver", func(c *Config) { c.Store.Driver = "mysql" }, []string{"store.driver"}},
		{"postgres without dsn", func(c *Config) { c.Store.Driver = DriverPostgres }, []string{"store.postgres.dsn"}},
		{"postgres", func(c *Config) {
			c.Store.Driver = DriverPostgres
			c.Store.Postgres.DSN = "postgres://tebura@db/tebura"
		}, nil},
		{"postgres, bad tuning", func(c *Config) {
			c.Store.Driver = DriverPostgres
			c.Store.Postgres.DSN = "postgres://tebura@db/tebura"
			c.Store.Postgres.MaxConns = 0
			c.Store.Postgres.StatementTimeout = 0
		}, []string{"store.postgres.max_conns", "store.postgres.statement_timeout"}},
		{"bolt ignores postgres tuning", func(c *Config) { c.Store.Postgres.MaxConns = 0 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.set(&c)
			var got []string
			for _, ke := range KeyErrors(c.Validate()) {
				got = append(got, ke.Key)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("problems at %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStoreDSNIsASecret: the dsn may come from dsn_file or ${ENV} like
// every secret, and is redacted wherever the configuration is shown.
func TestStoreDSNIsASecret(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	const dsn = "postgres://tebura:s3cret-pw@db:5432/tebura"
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(p, []byte("store:\n  driver: postgres\n  postgres:\n    dsn_file: dsn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, p)
	if c.Store.Postgres.DSN.Value() != dsn {
		t.Fatalf("dsn from dsn_file = %q", c.Store.Postgres.DSN.Value())
	}
	t.Setenv("PG_DSN", dsn)
	if err := os.WriteFile(p, []byte("store:\n  driver: postgres\n  postgres:\n    dsn: ${PG_DSN}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = mustLoad(t, p)
	if c.Store.Postgres.DSN.Value() != dsn {
		t.Fatalf("dsn from ${PG_DSN} = %q", c.Store.Postgres.DSN.Value())
	}
	if s := fmt.Sprint(c.Redacted()); strings.Contains(s, "s3cret-pw") || !strings.Contains(s, "redacted") {
		t.Errorf("the redacted configuration shows the dsn: %s", s)
	}
	if s := fmt.Sprintf("%v %+v", c.Store, c.Store); strings.Contains(s, "s3cret-pw") {
		t.Errorf("printing the store section shows the dsn: %s", s)
	}
}

// TestSealingForReplicas: with postgres, secret params need secrets.key,
// and the message names the runbooks and says what to set.
func TestSealingForReplicas(t *testing.T) {
	c := Default()
	if err := c.CheckSealingForReplicas([]string{"rotate-key"}); err != nil {
		t.Errorf("bolt: %v; want nil (one process keeps secret values in memory)", err)
	}
	c.Store.Driver = DriverPostgres
	if err := c.CheckSealingForReplicas(nil); err != nil {
		t.Errorf("postgres without secret params: %v; want nil", err)
	}
	err := c.CheckSealingForReplicas([]string{"rotate-key", "reset-password"})
	ke, ok := err.(*KeyError)
	if !ok || ke.Key != "secrets.key" || !strings.Contains(ke.Msg, "rotate-key, reset-password") || !strings.Contains(ke.Msg, "store.driver postgres") {
		t.Fatalf("postgres with secret params = %v; want a problem at secrets.key naming the runbooks and the driver", err)
	}
	c.Sealing.Key = Secret(strings.Repeat("ab", 32))
	if err := c.CheckSealingForReplicas([]string{"rotate-key"}); err != nil {
		t.Errorf("with a key: %v; want nil", err)
	}
}

func TestStorePassword(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://tebura:pw1@db/tebura":                "pw1",
		"postgresql://tebura@db/tebura":                  "",
		"host=db user=tebura password=pw2 dbname=tebura": "pw2",
		"host=db password='pw3'":                         "pw3",
		"":                                               "",
	} {
		if got := (StorePostgres{DSN: Secret(dsn)}).Password().Value(); got != want {
			t.Errorf("Password of %q = %q, want %q", dsn, got, want)
		}
	}
	c := Default()
	c.Store.Postgres.DSN = "postgres://tebura:pw1@db/tebura"
	if s := strings.Join(c.Secrets(), " "); !strings.Contains(s, "postgres://tebura:pw1@db/tebura") || !strings.Contains(s, "pw1 ") && !strings.HasSuffix(s, "pw1") {
		t.Errorf("Secrets() = %q; want the dsn and its password masked", s)
	}
}
