package discord

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
)

// InteractionsPath is where Discord posts interactions in HTTP mode; set it
// as the Interactions Endpoint URL in the Developer Portal.
const InteractionsPath = "/discord/interactions"

// maxInteractionBody bounds what the endpoint reads before verifying.
const maxInteractionBody = 1 << 20

// Refusals of the interactions endpoint, answered through tebura.HTTPError:
// Discord needs the status (401 for a bad signature); the one-line text is
// for whoever looks at the exchange, and never says why a signature failed.
var (
	errSignature  = tebura.Errorf(tebura.EUNAUTHENTICATED, "invalid request signature")
	errUnreadable = tebura.Errorf(tebura.EINVALID, "unreadable interaction")
	errNotReady   = tebura.Errorf(tebura.ETRANSIENT, "not ready")
)

// Mount implements bot.Mounter: in HTTP mode it adds POST
// /discord/interactions to mux. In gateway mode it adds nothing, since
// Discord delivers interactions to one place only.
func (a *Adapter) Mount(mux *http.ServeMux) {
	if a.cfg.Mode != ModeHTTP {
		return
	}
	mux.HandleFunc("POST "+InteractionsPath, a.serveInteraction)
}

// serveInteraction verifies the Ed25519 signature over timestamp + raw body
// and the timestamp's age, answers PING inline, acknowledges everything else
// through the callback endpoint and answers the request 202.
// See https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request) {
	received := a.clock()
	body, err := tebura.ReadBody(w, r, maxInteractionBody)
	if err != nil {
		tebura.HTTPError(w, err)
		return
	}
	if reason := a.verify(r.Header, body, received); reason != "" {
		a.logger.Warn("discord interaction refused", "reason", reason, "remote", r.RemoteAddr)
		tebura.HTTPError(w, errSignature)
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		a.logger.Warn("discord interaction unreadable", "err", err)
		tebura.HTTPError(w, errUnreadable)
		return
	}
	if i.Type == discordgo.InteractionPing {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":1}`))
		return
	}
	if err := a.Ready(); err != nil {
		tebura.HTTPError(w, errNotReady)
		return
	}
	a.interaction(r.Context(), &i, received)
	w.WriteHeader(http.StatusAccepted)
}

// verify returns why the request is refused, or "".
func (a *Adapter) verify(h http.Header, body []byte, now time.Time) string {
	sig, err := hex.DecodeString(h.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "missing or malformed signature"
	}
	ts := h.Get("X-Signature-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "missing or malformed timestamp"
	}
	msg := bytes.NewBufferString(ts)
	msg.Write(body)
	if !ed25519.Verify(a.publicKey, msg.Bytes(), sig) {
		return "signature mismatch"
	}
	if age := now.Sub(time.Unix(secs, 0)); age > SignatureMaxAge || age < -SignatureMaxAge {
		return "stale timestamp"
	}
	return ""
}
