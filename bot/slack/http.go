package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/tebura/tebura"
)

// Routes added by Mount (HTTP mode).
const (
	PathCommands     = "/slack/commands"
	PathInteractions = "/slack/interactions"
	PathEvents       = "/slack/events"
)

// Mount adds the HTTP-mode routes to the shared listener's mux. Every route
// reads the raw body under a size limit, checks the v0 signature and its
// timestamp, answers 200 at once and hands the event to the handler on its
// own goroutine. In Socket Mode it adds nothing.
func (a *Adapter) Mount(mux *http.ServeMux) {
	if a.cfg.Mode != ModeHTTP {
		return
	}
	mux.HandleFunc("POST "+PathCommands, a.serveCommands)
	mux.HandleFunc("POST "+PathInteractions, a.serveInteractions)
	mux.HandleFunc("POST "+PathEvents, a.serveEvents)
}

// scopeTrigger is the Deduper scope of HTTP-mode slash commands and
// interactions, keyed by team and trigger_id.
const scopeTrigger = "slack-trigger"

// refuse answers a refused request with the status of code (the one table,
// tebura.HTTPStatus) and no body, so that whoever forged a request learns
// nothing from the answer.
func refuse(w http.ResponseWriter, code string) { w.WriteHeader(tebura.HTTPStatus(code)) }

// readSigned reads and verifies the body. On failure it has already
// answered (401 with no detail, 413 when too big) and returns false.
func (a *Adapter) readSigned(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := tebura.ReadBody(w, r, a.maxBody)
	if err != nil {
		refuse(w, tebura.ErrorCode(err))
		return nil, false
	}
	if err := verify(a.cfg.SigningSecret.Value(), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, a.now()); err != nil {
		a.log.Warn("slack request refused", "path", r.URL.Path, "reason", refusal(err))
		refuse(w, tebura.EUNAUTHENTICATED)
		return nil, false
	}
	return body, true
}

// notReady answers 503 so that Slack retries (events) or the user sees a
// failure (commands) while Run has not started.
func notReady(w http.ResponseWriter) { refuse(w, tebura.ETRANSIENT) }

func (a *Adapter) serveCommands(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readSigned(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("command") == "" || form.Get("user_id") == "" {
		refuse(w, tebura.EINVALID)
		return
	}
	if a.handler.Load() == nil {
		notReady(w)
		return
	}
	sc := commandFromForm(form)
	key := sc.TriggerID
	if key == "" {
		key = "sig:" + r.Header.Get(HeaderSignature)
	}
	w.WriteHeader(http.StatusOK) // empty body: nothing is echoed to the channel
	a.afterAck(r.Context(), sc.TeamID+"/"+key, func(ctx context.Context) { a.onCommand(ctx, sc) })
}

func (a *Adapter) serveInteractions(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readSigned(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	var ic interaction
	if err != nil || !decodeJSON([]byte(form.Get("payload")), &ic) {
		refuse(w, tebura.EINVALID)
		return
	}
	if a.handler.Load() == nil {
		notReady(w)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.afterAck(r.Context(), ic.Team.ID+"/"+ic.deliveryKey(r.Header.Get(HeaderSignature)), func(ctx context.Context) { a.onInteraction(ctx, ic) })
}

// afterAck handles an acknowledged slash command or interaction once per
// delivery key. Slack signs a timestamp, not a nonce, so a captured request
// replays cleanly for the whole signature window; trigger_id is unique per
// invocation, and remembering it in the persistent Deduper (longer than
// the window, across restarts) turns a replay into a no-op. The replay was
// already answered 200: Slack expects an ack, and an attacker learns
// nothing. The key is recorded after the ack because Mark may touch the
// disk. A failing Deduper is logged and the delivery handled, as events are.
func (a *Adapter) afterAck(parent context.Context, key string, handle func(context.Context)) {
	a.spawn(parent, func(ctx context.Context) {
		first, err := a.dedupe.Mark(ctx, scopeTrigger, key, dedupeTTL)
		if err != nil {
			a.log.Error("slack dedupe failed", "scope", scopeTrigger, "err", scrub(err))
		} else if !first {
			a.log.Debug("slack duplicate request dropped", "scope", scopeTrigger)
			return
		}
		handle(ctx)
	})
}

func (a *Adapter) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readSigned(w, r)
	if !ok {
		return
	}
	var ev eventCallback
	if !decodeJSON(body, &ev) {
		refuse(w, tebura.EINVALID)
		return
	}
	switch ev.Type {
	case "url_verification":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"challenge": ev.Challenge})
		return
	case "event_callback":
		if a.handler.Load() == nil {
			notReady(w)
			return
		}
		w.WriteHeader(http.StatusOK)
		// Dedupe after the ack: Mark may touch the disk, and Slack retries
		// only deliveries that were not acknowledged in time.
		a.spawn(r.Context(), func(ctx context.Context) { a.onEvent(ctx, ev) })
	default:
		w.WriteHeader(http.StatusOK)
	}
}
