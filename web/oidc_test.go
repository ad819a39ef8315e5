package web

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
)

// fakeIdP is an OpenID Connect provider on httptest: discovery, JWKS, an
// authorization endpoint that signs in its configured user at once, and a
// token endpoint that checks the code, the client secret and the PKCE
// verifier, as a real provider does
// (https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth).
type fakeIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	codes  map[string]codeGrant
	claims map[string]any // the user's claims
	// tamper changes the ID token's claims before signing (tests of
	// refusals).
	tamper func(c map[string]any)
}

type codeGrant struct{ nonce, challenge, redirect string }

const (
	idpClientID     = "tebura"
	idpClientSecret = "idp-client-secret-0123"
)

func newFakeIdP(t *testing.T) *fakeIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIdP{t: t, key: key, codes: map[string]codeGrant{},
		claims: map[string]any{"sub": "u1", "email": "alice@example.com", "email_verified": true, "name": "Alice Example"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"jwks_uri": p.srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != idpClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || !strings.Contains(q.Get("scope"), "openid") {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := newToken()
		p.mu.Lock()
		p.codes[code] = codeGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		if id != idpClientID || secret != idpClientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		p.mu.Lock()
		g, ok := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code")) // single use
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || r.PostFormValue("redirect_uri") != g.redirect {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		now := time.Now()
		c := map[string]any{"iss": p.srv.URL, "aud": idpClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce}
		for k, v := range p.claims {
			c[k] = v
		}
		if p.tamper != nil {
			p.tamper(c)
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": p.sign(c)})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeIdP) sign(claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		p.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// oidcHarness is the web harness signed in through idp, with its base URL
// the test server's (the provider redirects the browser back to it).
func oidcHarness(t *testing.T, idp *fakeIdP) *webHarness {
	h := newWebHarness(t)
	h.Web.d.Config.OIDC = config.OIDC{Issuer: idp.srv.URL, ClientID: idpClientID, ClientSecret: idpClientSecret, IdentityClaim: "email"}
	base, _ := url.Parse(h.Srv.URL)
	h.Web.base = base
	h.Policy = mustPolicy(t, map[string][]string{"sre": {"oidc:alice@example.com", "console:bob"}, "dev": {"console:alice"}})
	return h
}

// follow is a browser that follows redirects (to the provider and back).
func (h *webHarness) follower() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// TestOIDCSignIn: the authorization code flow signs the browser in as
// oidc:<email>, roles apply to that identity, and the sign-in is audited.
func TestOIDCSignIn(t *testing.T) {
	idp := newFakeIdP(t)
	h := oidcHarness(t, idp)
	if r := h.anonymous().get("/ui/runbooks"); !strings.Contains(r.Body, `href="/ui/oidc/login"`) {
		t.Fatalf("the sign-in page does not offer the identity provider:\n%s", r.Body)
	}
	c := h.follower()
	resp, err := c.Get(h.Srv.URL + "/ui/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/incidents" {
		t.Fatalf("sign-in ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = c.Get(h.Srv.URL + "/ui/runbooks/restart-api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("oidc:alice@example.com (sre) opening restart-api = %d", resp.StatusCode)
	}
	if !h.auditHas("oidc:alice@example.com", audit.ActionWebLogin, "via", "oidc") {
		t.Error("the OIDC sign-in is not on the audit chain")
	}
}

// TestOIDCRefusals: a callback not started in this browser, a replayed
// state, a token for another client, with another nonce, expired, or with
// an unverified address signs nobody in.
func TestOIDCRefusals(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(c map[string]any)
		want   string
	}{
		{"other audience", func(c map[string]any) { c["aud"] = "someone-else" }, "does not verify"},
		{"other nonce", func(c map[string]any) { c["nonce"] = "replayed" }, "not the answer"},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, "does not verify"},
		{"unverified email", func(c map[string]any) { c["email_verified"] = false }, "not verified"},
		{"no claim", func(c map[string]any) { delete(c, "email") }, "web.oidc.identity_claim"},
		{"other issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, "does not verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idp := newFakeIdP(t)
			idp.tamper = tc.tamper
			h := oidcHarness(t, idp)
			c := h.follower()
			resp, err := c.Get(h.Srv.URL + "/ui/oidc/login")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(resp)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tc.want) {
				t.Fatalf("= %d, want 403 saying %q:\n%s", resp.StatusCode, tc.want, body)
			}
			if r, _ := c.Get(h.Srv.URL + "/ui/runbooks"); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("after a refused sign-in a page answers %d", r.StatusCode)
			}
		})
	}
	t.Run("state from another browser", func(t *testing.T) {
		idp := newFakeIdP(t)
		h := oidcHarness(t, idp)
		// The attacker starts a sign-in and hands the callback to a victim.
		attacker := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		attacker.Jar, _ = cookiejar.New(nil)
		resp, _ := attacker.Get(h.Srv.URL + "/ui/oidc/login")
		resp.Body.Close()
		resp, _ = attacker.Get(resp.Header.Get("Location"))
		resp.Body.Close()
		callback := resp.Header.Get("Location")
		victim := h.follower()
		r, _ := victim.Get(callback)
		if body := readAll(r); r.StatusCode != http.StatusForbidden || !strings.Contains(body, "not started in this browser") {
			t.Fatalf("victim finishing the attacker's sign-in = %d:\n%s", r.StatusCode, body)
		}
		// The attacker's own browser may finish it once, not twice.
		r, _ = attacker.Get(callback)
		r.Body.Close()
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("the browser that started it = %d, want 303", r.StatusCode)
		}
		r, _ = attacker.Get(callback)
		if body := readAll(r); r.StatusCode != http.StatusForbidden {
			t.Fatalf("replayed callback = %d:\n%s", r.StatusCode, body)
		}
	})
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
