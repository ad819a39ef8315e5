package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryTimer is a pgx.QueryTracer that times every statement for
// Options.ObserveQuery. It sees the SQL but passes on only the duration:
// arguments hold alert labels and run params.
type queryTimer struct {
	observe func(d time.Duration, failed bool)
}

type queryStartKey struct{}

var _ pgx.QueryTracer = (*queryTimer)(nil)

// TraceQueryStart implements pgx.QueryTracer.
func (q *queryTimer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, time.Now())
}

// TraceQueryEnd implements pgx.QueryTracer.
func (q *queryTimer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if start, ok := ctx.Value(queryStartKey{}).(time.Time); ok {
		q.observe(time.Since(start), data.Err != nil)
	}
}
