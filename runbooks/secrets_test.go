package runbooks

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

// secretBook needs one approval and takes a secret token.
const secretBook = `
name: rotate
kind: remediation
allow: [dev]
approval: {required: 1, approvers: [sre]}
params:
  - {name: token, type: string, secret: true, required: true}
  - {name: note, type: string, secret: true}
steps:
  - {name: go, run: [echo, "rotating {{ .Params.token }}"]}
`

const theSecret = "Zq-unit-Secret-81x"

func testSealer(t *testing.T, fill byte) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// restarted is the service of a new process over the same store: nothing
// of the old one's memory.
func (sh *svcHarness) restarted(sealer *Sealer) *Service {
	return NewService(ServiceConfig{Store: sh.st, Executor: sh.exec, Clock: func() time.Time { return sh.now }, Sealer: sealer})
}

func (sh *svcHarness) stored(t *testing.T, id string) string {
	t.Helper()
	sh.st.mu.Lock()
	defer sh.st.mu.Unlock()
	return string(sh.st.runs[id])
}

// TestSecretValuesNeverStored: the record of a run never holds a secret
// param's value; a pending request holds it sealed with a key, or nowhere
// but in memory; each way ends as the table says after a restart, and the
// sealed values are wiped once the request is decided.
func TestSecretValuesNeverStored(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		sealer, after func(t *testing.T) *Sealer // before and after the restart; nil: no key
		decide        func(svc *Service, id string) (*Run, error)
		wantState     State
		wantReason    string
	}{
		{
			name:      "sealed, approved after a restart",
			sealer:    func(t *testing.T) *Sealer { return testSealer(t, 1) },
			after:     func(t *testing.T) *Sealer { return testSealer(t, 1) },
			wantState: StateApproved,
		},
		{
			name:       "memory only, expired by the restart",
			wantState:  StateExpired,
			wantReason: ReasonSecretsLost,
		},
		{
			name:       "sealed, the key is gone after the restart",
			sealer:     func(t *testing.T) *Sealer { return testSealer(t, 1) },
			wantState:  StateExpired,
			wantReason: reasonUnsealable,
		},
		{
			name:       "sealed, another key after the restart",
			sealer:     func(t *testing.T) *Sealer { return testSealer(t, 1) },
			after:      func(t *testing.T) *Sealer { return testSealer(t, 2) },
			wantState:  StateExpired,
			wantReason: reasonUnsealable,
		},
		{
			name:   "sealed, denied",
			sealer: func(t *testing.T) *Sealer { return testSealer(t, 1) },
			after:  func(t *testing.T) *Sealer { return testSealer(t, 1) },
			decide: func(svc *Service, id string) (*Run, error) {
				return svc.Deny(ctx, id, Decision{By: "slack:USRE"})
			},
			wantState: StateDenied,
		},
		{
			name:   "sealed, closed",
			sealer: func(t *testing.T) *Sealer { return testSealer(t, 1) },
			after:  func(t *testing.T) *Sealer { return testSealer(t, 1) },
			decide: func(svc *Service, id string) (*Run, error) {
				r, _, err := svc.Close(ctx, id, "the incident resolved", "i1")
				return r, err
			},
			wantState: StateCancelled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := newSvcHarness(t)
			var before, after *Sealer
			if tt.sealer != nil {
				before = tt.sealer(t)
			}
			if tt.after != nil {
				after = tt.after(t)
			}
			sh.svc.sealer = before
			rb := sh.load(secretBook)
			p, err := sh.svc.Request(ctx, Request{Runbook: rb, Params: map[string]string{"token": theSecret}, By: "slack:UREQ", Via: ViaChat})
			if err != nil {
				t.Fatal(err)
			}
			id := p.Run.ID
			rec := sh.stored(t, id)
			if strings.Contains(rec, theSecret) {
				t.Fatalf("the pending record holds the secret: %s", rec)
			}
			if got := strings.Contains(rec, `"sealed":`); got != (before != nil) {
				t.Fatalf("sealed in the record: %v, want %v: %s", got, before != nil, rec)
			}
			if got := ParamsText(p.Run.Params, p.Run.Secret, nil); got != "note=•••••• token=••••••" {
				t.Errorf("params as shown: %q", got)
			}
			if vals, err := sh.svc.Values(p.Run); err != nil || vals["token"] != theSecret {
				t.Fatalf("values before the restart: %v, %v", vals, err)
			}

			svc := sh.restarted(after)
			defer svc.Stop()
			run, _ := sh.st.GetRun(ctx, id)
			switch {
			case tt.decide != nil:
				run, err = tt.decide(svc, id)
			case tt.wantState == StateApproved:
				var now bool
				run, now, err = svc.Approve(ctx, id, Decision{By: "slack:USRE"}, false, p.Plan.Hash, nil)
				if !now {
					t.Errorf("the approval did not reach the quorum")
				}
			default:
				var expired []*Run
				expired, err = svc.Expire(ctx)
				if len(expired) == 1 {
					run = expired[0]
				}
				if _, _, aerr := svc.Approve(ctx, id, Decision{By: "slack:USRE"}, false, p.Plan.Hash, nil); tebura.ErrorCode(aerr) != tebura.ECONFLICT {
					t.Errorf("approving after the expiry: %v", aerr)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if run.State != tt.wantState || run.Reason != tt.wantReason && tt.wantReason != "" {
				t.Fatalf("after the restart: %s %q, want %s %q", run.State, run.Reason, tt.wantState, tt.wantReason)
			}
			if rec := sh.stored(t, id); strings.Contains(rec, `"sealed":`) || strings.Contains(rec, theSecret) {
				t.Errorf("the decided record still holds the values: %s", rec)
			}
			if tt.wantState != StateApproved {
				return
			}
			h, err := svc.Start(ctx, run, rb, "slack:USRE")
			if err != nil {
				t.Fatal(err)
			}
			<-h.Done()
			if log := sh.logOf(id); !strings.Contains(log, "rotating ***") || strings.Contains(log, theSecret) {
				t.Errorf("the run did not get its secret, or did not mask it: %q", log)
			}
			ended, _ := sh.st.GetRun(ctx, id)
			if _, err := svc.Values(ended); err == nil {
				t.Error("the values are still held after the run ended")
			}
		})
	}
}

// TestNoApprovalRunNeverStoresSecret: a run that needs no approval gets
// its secret from memory, and no write of its record ever holds it.
func TestNoApprovalRunNeverStoresSecret(t *testing.T) {
	sh := newSvcHarness(t)
	rb := sh.load(strings.Replace(secretBook, "approval: {required: 1, approvers: [sre]}\n", "", 1))
	ctx := context.Background()
	var mu sync.Mutex
	var writes []string // the record as stored when each transition is seen
	sh.svc.Subscribe(func(tr Transition) { mu.Lock(); writes = append(writes, sh.stored(t, tr.Run.ID)); mu.Unlock() })
	p, err := sh.svc.Request(ctx, Request{Runbook: rb, Params: map[string]string{"token": theSecret, "note": ""}, By: "slack:UREQ", Via: ViaChat})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	writes = append(writes, sh.stored(t, p.Run.ID)) // as requested, before it starts
	mu.Unlock()
	h, err := sh.svc.Start(ctx, p.Run, rb, "slack:UREQ")
	if err != nil {
		t.Fatal(err)
	}
	<-h.Done()
	if err := sh.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if log := sh.logOf(p.Run.ID); !strings.Contains(log, "rotating ***") {
		t.Errorf("log: %q", log)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) < 3 {
		t.Fatalf("%d writes seen", len(writes))
	}
	for _, w := range writes {
		if strings.Contains(w, theSecret) || strings.Contains(w, `"sealed"`) || !strings.Contains(w, `"params":{"note":""}`) {
			t.Errorf("a stored version of the run: %s", w)
		}
	}
}
