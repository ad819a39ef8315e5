package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
)

// OIDC sign-in: the authorization code flow with PKCE, a nonce, and a state
// bound to the browser by a cookie, so a sign-in started elsewhere cannot
// be finished in this browser.

// oidcStateCookie carries the state of a sign-in in progress.
const oidcStateCookie = "tebura_oidc_state"

// oidcFlowTTL bounds a sign-in at the identity provider.
const oidcFlowTTL = 10 * time.Minute

// oidcTimeout bounds each call to the identity provider.
const oidcTimeout = 10 * time.Second

// oidcFlow is what the callback needs of the sign-in it finishes.
type oidcFlow struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
}

// oidcClient is the provider, discovered at the first sign-in (start-up
// never waits on it), and the OAuth2 configuration built from it.
type oidcClient struct {
	mu       sync.Mutex
	provider *oidc.Provider
}

func (s *Server) oidcOn() bool { return s.d.Config.OIDC.Issuer != "" }

// oidcConfig discovers the provider once and returns the flow's
// configuration.
func (s *Server) oidcConfig() (*oidc.Provider, *oauth2.Config, error) {
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	o := s.d.Config.OIDC
	if s.oidc.provider == nil {
		// The provider keeps this context for its key fetches: it must not
		// end; each request is bounded by the client's timeout instead.
		ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: oidcTimeout})
		p, err := oidc.NewProvider(ctx, o.Issuer)
		if err != nil {
			return nil, nil, tebura.Wrap(tebura.ETRANSIENT, err, "The identity provider (web.oidc.issuer) cannot be reached; try again, or sign in with /tebura login in chat.")
		}
		s.oidc.provider = p
	}
	return s.oidc.provider, &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret.Value(), Endpoint: s.oidc.provider.Endpoint(),
		RedirectURL: s.URL("/ui/oidc/callback"), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}, nil
}

// oidcLogin starts a sign-in at the identity provider.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if !s.oidcOn() {
		s.fail(w, r, nil, tebura.Errorf(tebura.ENOTFOUND, "Signing in with an identity provider is not configured; type /tebura login in chat."))
		return
	}
	_, cfg, err := s.oidcConfig()
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	state, flow := newToken(), oidcFlow{Nonce: newToken(), Verifier: oauth2.GenerateVerifier()}
	data, _ := json.Marshal(flow)
	if err := s.d.Sessions.PutSession(r.Context(), storeKey("oidc", state), data, s.now().Add(oidcFlowTTL)); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: state, Path: "/ui/oidc/", MaxAge: int(oidcFlowTTL.Seconds()),
		HttpOnly: true, Secure: s.d.Secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, cfg.AuthCodeURL(state, oidc.Nonce(flow.Nonce), oauth2.S256ChallengeOption(flow.Verifier)), http.StatusFound)
}

// oidcCallback finishes a sign-in: the state must be this browser's, the
// code is exchanged with its PKCE verifier, and the ID token must verify
// (issuer, audience, expiry, signature) and carry the flow's nonce.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	actor, err := s.oidcIdentity(r)
	if err != nil {
		s.log.Warn("oidc sign-in refused", "reason", tebura.ErrorMessage(err))
		s.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: "", Path: "/ui/oidc/", MaxAge: -1, HttpOnly: true, Secure: s.d.Secure, SameSite: http.SameSiteLaxMode})
	if err := s.startSession(r.Context(), w, actor); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if s.d.Audit != nil {
		if err := s.d.Audit.Record(r.Context(), actor.ID, audit.ActionWebLogin, "", map[string]string{"via": "oidc"}); err != nil {
			s.log.Error("audit web login failed", "actor", actor.ID, "err", err)
		}
	}
	s.log.Info("web sign-in", "actor", actor.ID, "via", "oidc")
	http.Redirect(w, r, "/ui/incidents", http.StatusSeeOther)
}

func refused(format string, args ...any) error {
	return tebura.Errorf(tebura.EFORBIDDEN, "The sign-in was refused: "+format+" Start again from the sign-in page.", args...)
}

// oidcIdentity checks the callback and returns who signed in.
func (s *Server) oidcIdentity(r *http.Request) (bot.Actor, error) {
	ctx := r.Context()
	if !s.oidcOn() {
		return bot.Actor{}, tebura.Errorf(tebura.ENOTFOUND, "Signing in with an identity provider is not configured.")
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return bot.Actor{}, refused("the identity provider answered %q.", e)
	}
	state := q.Get("state")
	c, err := r.Cookie(oidcStateCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return bot.Actor{}, refused("it was not started in this browser.")
	}
	data, err := s.d.Sessions.TakeSession(ctx, storeKey("oidc", state))
	if err != nil {
		return bot.Actor{}, refused("it is older than 10 minutes or was finished already.")
	}
	var flow oidcFlow
	if err := json.Unmarshal(data, &flow); err != nil {
		return bot.Actor{}, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	provider, cfg, err := s.oidcConfig()
	if err != nil {
		return bot.Actor{}, err
	}
	xctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, &http.Client{Timeout: oidcTimeout}), oidcTimeout)
	defer cancel()
	tok, err := cfg.Exchange(xctx, q.Get("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		return bot.Actor{}, refused("the identity provider did not accept the code.")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return bot.Actor{}, refused("the identity provider sent no ID token.")
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: s.d.Config.OIDC.ClientID}).Verify(xctx, raw)
	if err != nil {
		return bot.Actor{}, refused("the ID token does not verify (%s).", strings.SplitN(err.Error(), ":", 2)[0])
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		return bot.Actor{}, refused("the ID token is not the answer to this sign-in.")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return bot.Actor{}, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	claim := s.d.Config.OIDC.IdentityClaim
	who, _ := claims[claim].(string)
	if who == "" || strings.ContainsAny(who, " \t\r\n") {
		return bot.Actor{}, refused("the ID token has no usable %q claim (web.oidc.identity_claim).", claim)
	}
	if claim == "email" {
		if v, ok := claims["email_verified"].(bool); ok && !v {
			return bot.Actor{}, refused("the identity provider has not verified the address %s.", who)
		}
	}
	name, _ := claims["name"].(string)
	if name == "" {
		name = who
	}
	return bot.Actor{ID: "oidc:" + who, Name: name}, nil
}
