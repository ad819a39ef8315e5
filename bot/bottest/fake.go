// Package bottest is the chat model's test kit: a recording fake chat
// (every post, edit, private reply and upload kept in order), its
// identities and channel, a message flattener for Contains checks, and a
// goroutine-safe buffer for captured output. It imports nothing above bot,
// so tests of the adapters and of everything built on bot can use it; the
// harness that drives the whole bot around this chat is commands/commandstest.
package bottest

import (
	"strings"

	"github.com/tebura/tebura/bot"
)

// IdentityPrefix is the prefix of the fake chat's identities. It borrows the
// console's, since access only accepts identities of known platforms.
const IdentityPrefix = "console:"

// User is a person of the fake chat: identity "console:<name>".
func User(name string, groups ...string) bot.Actor {
	return bot.Actor{ID: IdentityPrefix + name, Name: name, Groups: groups}
}

// Channel is the one channel of the fake chat.
const Channel = "C1"

// Text flattens a message into one string: header, text, fields, code,
// context and button labels, as a reader sees them (without bot.Verbatim's
// marks), for Contains checks.
func Text(m bot.Message) string {
	parts := []string{m.Header}
	parts = append(parts, m.Text...)
	for _, f := range m.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	if m.Code != nil {
		parts = append(parts, m.Code.Title, m.Code.Text)
	}
	parts = append(parts, m.Context)
	for _, b := range m.Buttons {
		parts = append(parts, "["+b.Label+"]")
	}
	return bot.Unmark(strings.Join(parts, "\n"))
}
