package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Store drivers.
const (
	// DriverBolt keeps everything in one bbolt file under data_dir: one
	// binary, nothing to install, one process.
	DriverBolt = "bolt"
	// DriverPostgres keeps it in a PostgreSQL database that several
	// replicas may share.
	DriverPostgres = "postgres"
)

// Store says where Tebura keeps its state.
type Store struct {
	// Driver is bolt (the default) or postgres.
	Driver string `mapstructure:"driver"`
	// Postgres configures the postgres driver.
	Postgres StorePostgres `mapstructure:"postgres"`
}

// StorePostgres is the PostgreSQL database of the postgres driver.
type StorePostgres struct {
	// DSN is the connection string (postgres://user:pass@host/db or
	// key=value pairs). It may hold a password, so it is a secret: give it
	// as ${ENV} or dsn_file; it is never logged.
	DSN Secret `mapstructure:"dsn"`
	// MaxConns bounds each replica's connection pool.
	MaxConns int `mapstructure:"max_conns"`
	// StatementTimeout bounds every statement on the server, so that a
	// stuck query fails (and the webhook is retried) instead of holding a
	// connection.
	StatementTimeout time.Duration `mapstructure:"statement_timeout"`
}

// Password is the password the DSN holds (URL user info, or a password=
// pair), empty when none: masked on its own, since a driver error may
// show it without the rest of the DSN.
func (p StorePostgres) Password() Secret {
	dsn := strings.TrimSpace(p.DSN.Value())
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil || u.User == nil {
			return ""
		}
		pw, _ := u.User.Password()
		return Secret(pw)
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return Secret(strings.Trim(v, "'"))
		}
	}
	return ""
}

// defaultStore is bolt, with the postgres driver's tuning set for when it
// is chosen.
func defaultStore() Store {
	return Store{Driver: DriverBolt, Postgres: StorePostgres{MaxConns: 10, StatementTimeout: 30 * time.Second}}
}

func (c Config) validateStore(p *problems) {
	p.oneOf("store.driver", c.Store.Driver, []string{DriverBolt, DriverPostgres})
	if c.Store.Driver != DriverPostgres {
		return
	}
	if strings.TrimSpace(c.Store.Postgres.DSN.Value()) == "" {
		p.add("store.postgres.dsn", "is empty; with store.driver postgres set it (as ${ENV} or dsn_file, since it may hold a password), e.g. postgres://tebura@db:5432/tebura")
	}
	if c.Store.Postgres.MaxConns < 1 {
		p.add("store.postgres.max_conns", "must be at least 1 (got %d)", c.Store.Postgres.MaxConns)
	}
	p.positive("store.postgres.statement_timeout", c.Store.Postgres.StatementTimeout)
}

// CheckSealingForReplicas is the check Validate cannot make without the
// runbooks: with the postgres driver, a run waiting for approval may be
// approved through any replica, and only a secrets.key they share lets
// another replica unseal its secret values. secretRunbooks names the
// runbooks that have secret params. It returns nil, or a *KeyError at
// secrets.key saying what to set.
func (c Config) CheckSealingForReplicas(secretRunbooks []string) error {
	if c.Store.Driver != DriverPostgres || strings.TrimSpace(c.Sealing.Key.Value()) != "" || len(secretRunbooks) == 0 {
		return nil
	}
	return &KeyError{Key: "secrets.key", Msg: fmt.Sprintf("is required with store.driver postgres, because runbook(s) %s have secret params: "+
		"every replica must be able to unseal the secret values of a run waiting for approval; set the same 32-byte key "+
		"(`openssl rand -hex 32`, as key_file or ${ENV}) on every replica", strings.Join(secretRunbooks, ", "))}
}
