package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura/store/postgres"
	"github.com/tebura/tebura/store/postgres/pgtest"
)

// postgresIngest measures issue 14's ingest on PostgreSQL: the alert
// ingest of the bolt measure (100-alert Alertmanager payloads over HTTP,
// 4 senders), every payload sent twice as a retried delivery is, into one
// replica on a real PostgreSQL server started here with fsync on; alerts
// received per second and the p99 webhook latency.
func postgresIngest(e *env) ([]row, error) {
	srv, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL (install postgresql): %w", err)
	}
	defer srv.Stop()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE bench")
	conn.Close(ctx)
	if err != nil {
		return nil, err
	}
	store, err := postgres.Open(ctx, srv.DSN("bench"), postgres.Options{MaxConns: 10, StatementTimeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	const requests, senders, sends = 400, 4, 2
	rate, p99, err := sendAlerts(store, requests, senders, sends)
	if err != nil {
		return nil, err
	}
	return []row{
		{fmt.Sprintf("alert ingest rate on PostgreSQL (%d x 100 alerts sent twice, %d senders, HTTP, one replica)", requests, senders), fmt.Sprintf("%.0f alerts/s", rate), ">= 5000 alerts/s", met(rate >= 5000)},
		{"alert ingest webhook p99 on PostgreSQL", ms(p99), "<= 100 ms", met(p99 <= 100*time.Millisecond)},
	}, nil
}
