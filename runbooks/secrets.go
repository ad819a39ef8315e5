package runbooks

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tebura/tebura"
)

// The values of a run's secret params are never stored in clear: the run
// record keeps their names (Run.Secret) and leaves them out of Params. The
// service holds them in memory from the request until the run ends, and a
// run waiting for approval also keeps them sealed in its record
// (Run.Sealed) when a key is configured, so that an approval after a
// restart can still start it. Without a key, such a request expires at the
// next start-up with ReasonSecretsLost.

// ReasonSecretsLost is the reason of a request that waited for approval
// with secret values the bot no longer holds (it restarted, and no
// secrets.key keeps them sealed): what its card and timeline say.
const ReasonSecretsLost = "secret values are not kept across restarts; request again"

// reasonUnsealable is the reason of a request whose sealed values the
// configured key cannot open (the key changed, or none is configured now).
const reasonUnsealable = "its secret values cannot be unsealed with the configured secrets.key; request again"

// KeySize is the length of a secrets.key in bytes.
const KeySize = chacha20poly1305.KeySize

// Sealer seals the secret values of a run waiting for approval with
// XChaCha20-Poly1305 (a random 24-byte nonce per seal, prepended): safe to
// keep in the store, readable only with the key.
type Sealer struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
	}
}

// NewSealer returns a sealer with key, which must be KeySize bytes.
func NewSealer(key []byte) (*Sealer, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// sealAD binds a sealed blob to the request it belongs to: a blob copied
// onto another run does not open there.
func sealAD(r *Run) []byte {
	return []byte("tebura run secrets v1\x00" + r.Runbook + "\x00" + r.PlanHash + "\x00" + r.RequestedBy)
}

func (s *Sealer) seal(r *Run, values map[string]string) ([]byte, error) {
	plain, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, sealAD(r)), nil
}

func (s *Sealer) open(r *Run) (map[string]string, error) {
	n := s.aead.NonceSize()
	if len(r.Sealed) < n {
		return nil, errors.New("sealed secrets too short")
	}
	plain, err := s.aead.Open(nil, r.Sealed[:n], r.Sealed[n:], sealAD(r))
	if err != nil {
		return nil, err
	}
	var values map[string]string
	if err := json.Unmarshal(plain, &values); err != nil {
		return nil, err
	}
	return values, nil
}

// byRun is a map by run ID that several goroutines share: the secret
// values of runs (held from their request until they end) and the
// run.start entries waiting for the executor's first write.
type byRun[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func (b *byRun[V]) put(id string, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]V{}
	}
	b.m[id] = v
}

func (b *byRun[V]) get(id string) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[id]
	return v, ok
}

func (b *byRun[V]) drop(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, id)
}

// splitSecrets returns the params a run record keeps (every value but the
// non-empty secret ones) and the secret values it must not keep.
func splitSecrets(vals Values, secret []string) (public map[string]string, hidden map[string]string) {
	public = make(map[string]string, len(vals))
	for k, v := range vals {
		if v != "" && slices.Contains(secret, k) {
			if hidden == nil {
				hidden = map[string]string{}
			}
			hidden[k] = v
			continue
		}
		public[k] = v
	}
	return public, hidden
}

// HoldsSecrets reports whether r had secret values that its record leaves
// out: a secret param named in Secret that is missing from Params.
func (r *Run) HoldsSecrets() bool {
	for _, name := range r.Secret {
		if _, ok := r.Params[name]; !ok {
			return true
		}
	}
	return false
}

// secretsOf returns the secret values of r that this process holds, or
// can unseal (they are then held, so the next use needs no key work). ok
// is false when r has secret values that are gone.
func (s *Service) secretsOf(r *Run) (map[string]string, bool) {
	if !r.HoldsSecrets() {
		return nil, true
	}
	if vals, ok := s.vault.get(r.ID); ok {
		return vals, true
	}
	if len(r.Sealed) == 0 || s.sealer == nil {
		return nil, false
	}
	vals, err := s.sealer.open(r)
	if err != nil {
		s.log.Warn("sealed secrets not opened", "run_id", r.ID, "err", err)
		return nil, false
	}
	s.vault.put(r.ID, vals)
	return vals, true
}

// lostReason says why the secret values of pending r are gone.
func (s *Service) lostReason(r *Run) string {
	if len(r.Sealed) > 0 {
		return reasonUnsealable
	}
	return ReasonSecretsLost
}

// Values returns the params of run with the values of its secret params,
// which its record leaves out: what approving (the plan hash) and starting
// it need. Once the run ended, or when a restart lost them (no
// secrets.key), it is a tebura ECONFLICT error saying so.
func (s *Service) Values(run *Run) (Values, error) {
	hidden, ok := s.secretsOf(run)
	if !ok {
		return nil, tebura.Errorf(tebura.ECONFLICT, "Run %s cannot start: its %s.", run.ID, s.lostReason(run))
	}
	out := make(Values, len(run.Params)+len(hidden))
	for k, v := range run.Params {
		out[k] = v
	}
	for k, v := range hidden {
		out[k] = v
	}
	return out, nil
}

// secretValues lists the held secret values of r, for a masker.
func (s *Service) secretValues(r *Run) []string {
	hidden, _ := s.secretsOf(r)
	out := make([]string, 0, len(hidden))
	for _, v := range hidden {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// LostSecrets reports whether r expired because its secret values were
// gone (ReasonSecretsLost, or a key that no longer opens them) rather than
// because nobody approved it in time: its card and timeline say so.
func (r *Run) LostSecrets() bool {
	return r.State == StateExpired && (r.Reason == ReasonSecretsLost || r.Reason == reasonUnsealable)
}
