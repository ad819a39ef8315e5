package discordtest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
)

// Invoker is who sends an interaction and where. An empty GuildID is a DM.
type Invoker struct {
	GuildID   string
	ChannelID string
	UserID    string
	Name      string
	Roles     []string
}

// Option is a slash command option.
type Option struct {
	Name    string
	Type    int // 3 string, 4 integer, 6 user
	Value   any
	Focused bool
}

// Interaction is an interaction the fake created; Body is its JSON as
// Discord delivers it.
type Interaction struct {
	ID    string
	Token string
	Body  []byte
}

func (s *Server) newInteraction(in Invoker, typ int, data map[string]any, message map[string]any) Interaction {
	s.mu.Lock()
	id := s.snowflakeLocked()
	st := &interactionState{id: id, token: randToken(), created: s.Clock(), channelID: in.ChannelID, guildID: in.GuildID}
	s.ints[id] = st
	s.mu.Unlock()
	user := map[string]any{"id": in.UserID, "username": in.Name}
	body := map[string]any{
		"id": id, "application_id": s.AppID, "type": typ, "token": st.token, "version": 1,
		"channel_id": in.ChannelID, "data": data,
	}
	if in.GuildID != "" {
		body["guild_id"] = in.GuildID
		roles := in.Roles
		if roles == nil {
			roles = []string{}
		}
		body["member"] = map[string]any{"user": user, "roles": roles, "nick": in.Name}
	} else {
		body["user"] = user
	}
	if message != nil {
		body["message"] = message
	}
	b, _ := json.Marshal(body)
	return Interaction{ID: id, Token: st.token, Body: b}
}

func optionsJSON(sub string, opts []Option) []map[string]any {
	var os []map[string]any
	for _, o := range opts {
		t := o.Type
		if t == 0 {
			t = 3
		}
		m := map[string]any{"name": o.Name, "type": t, "value": o.Value}
		if o.Focused {
			m["focused"] = true
		}
		os = append(os, m)
	}
	if sub == "" {
		return os
	}
	return []map[string]any{{"name": sub, "type": 1, "options": os}}
}

// NewCommand creates a slash command interaction (type 2).
func (s *Server) NewCommand(in Invoker, command, sub string, opts ...Option) Interaction {
	return s.newInteraction(in, 2, map[string]any{"id": "1", "name": command, "type": 1, "options": optionsJSON(sub, opts)}, nil)
}

// NewAutocomplete creates an autocomplete interaction (type 4).
func (s *Server) NewAutocomplete(in Invoker, command, sub string, opts ...Option) Interaction {
	return s.newInteraction(in, 4, map[string]any{"id": "1", "name": command, "type": 1, "options": optionsJSON(sub, opts)}, nil)
}

// NewClick creates a button click (type 3) on a stored message.
func (s *Server) NewClick(in Invoker, messageID, customID string) Interaction {
	return s.newInteraction(in, 3, map[string]any{"custom_id": customID, "component_type": 2},
		map[string]any{"id": messageID, "channel_id": in.ChannelID})
}

// NewPing creates a PING (type 1), which HTTP endpoints answer with PONG.
func (s *Server) NewPing() Interaction {
	return s.newInteraction(Invoker{}, 1, nil, nil)
}

// Sign returns the X-Signature-Ed25519 value for timestamp + body.
func Sign(key ed25519.PrivateKey, timestamp string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(key, append([]byte(timestamp), body...)))
}

// Post delivers an interaction to an HTTP interactions endpoint signed with
// key at the fake clock's time, as Discord does.
func (s *Server) Post(url string, key ed25519.PrivateKey, it Interaction) (*http.Response, error) {
	ts := strconv.FormatInt(s.Clock().Unix(), 10)
	return PostSigned(url, ts, Sign(key, ts, it.Body), it.Body)
}

// PostSigned posts body with the given signature headers.
func PostSigned(url, timestamp, signature string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Ed25519", signature)
	req.Header.Set("X-Signature-Timestamp", timestamp)
	return http.DefaultClient.Do(req)
}
