package oncall_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/oncall"
)

// firedDB is the incident service, with every incident fired by rule db.
type firedDB struct{ *incident.Service }

func (f firedDB) List(ctx context.Context, opt incident.ListOptions) ([]*incident.Incident, error) {
	l, err := f.Service.List(ctx, opt)
	for _, inc := range l {
		inc.Fired = []string{"db"}
	}
	return l, err
}

// pager records pages; it fails while down (no channel yet).
type pager struct {
	mu    sync.Mutex
	down  bool
	pages []string
	at    []time.Duration
	t0    time.Time
}

func (p *pager) Page(_ context.Context, _ int64, entries []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return errors.New("no channel yet")
	}
	p.pages = append(p.pages, entries...)
	p.at = append(p.at, time.Since(p.t0).Truncate(time.Minute))
	return nil
}

func (p *pager) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pages)
}

var escRules = map[string]config.Escalation{"db": {After: 10 * time.Minute, Levels: []string{"oncall:primary-db", "oncall:db-secondary", "role:sre-leads"}}}

func start(ctx context.Context, svc *incident.Service, p oncall.Pager) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	e := oncall.NewEscalator(oncall.EscalatorDeps{Incidents: firedDB{svc}, Pager: p, Rules: func() map[string]config.Escalation { return escRules }})
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// TestEscalationOnVirtualClock: level 1 at once (once the channel exists),
// level 2 when 10 minutes pass unacknowledged, nothing after the ack; a
// restart (a new escalator) pages nothing twice and carries on.
func TestEscalationOnVirtualClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		svc, err := incident.New(incidenttest.NewStore(), config.Incidents{}, nil, time.Now, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := svc.Declare(ctx, "Replication broken", "1", "console:alice")
		if err != nil {
			t.Fatal(err)
		}
		p := &pager{down: true, t0: time.Now()}
		stop := start(ctx, svc, p)
		time.Sleep(time.Minute)
		if got := p.got(); len(got) != 0 {
			t.Fatalf("paged %v with no channel to invite into", got)
		}
		p.mu.Lock()
		p.down = false
		p.mu.Unlock()
		time.Sleep(time.Minute)
		if got := p.got(); !slices.Equal(got, []string{"oncall:primary-db"}) {
			t.Fatalf("after 2m paged %v, want level 1", got)
		}
		time.Sleep(7*time.Minute + 50*time.Second) // 9m50s
		if got := p.got(); len(got) != 1 {
			t.Fatalf("paged %v before 10 minutes passed", got)
		}
		stop() // a restart: the next process knows only what is stored
		time.Sleep(30 * time.Second)
		stop = start(ctx, svc, p)
		time.Sleep(time.Second)
		if got := p.got(); !slices.Equal(got, []string{"oncall:primary-db", "oncall:db-secondary"}) {
			t.Fatalf("after the restart at 10m20s paged %v, want level 2 once and level 1 not again", got)
		}
		if _, err := svc.Ack(ctx, ch.Incident.ID, "console:bob"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Minute)
		stop()
		if got := p.got(); len(got) != 2 {
			t.Errorf("paged %v after the acknowledgement", got)
		}
		tl, err := svc.Timeline(ctx, ch.Incident.ID)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, e := range tl {
			if e.Kind == oncall.KindEscalated {
				texts = append(texts, e.Text)
			}
		}
		want := []string{"Escalation of rule db: paging level 1, oncall:primary-db",
			"Nobody acknowledged within 10m0s: escalating to level 2, oncall:db-secondary (rule db)"}
		if !slices.Equal(texts, want) {
			t.Errorf("timeline says %q, want %q", texts, want)
		}
	})
}
