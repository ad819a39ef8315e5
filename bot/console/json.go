package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// inEvent is one input line in JSON mode:
//
//	{"type":"command","user":"alice","text":"/runbook run x env=prod"}
//	{"type":"click","user":"bob","message":"m3","button":"approve"}
//	{"type":"click","user":"bob","callback_id":"cb_…"}
//	{"type":"wait"}   (returns once every event sent so far has been handled)
//
// user may be empty (the current user) or carry the "console:" prefix.
// button is an action ID, a label (case-insensitive) or a 1-based index
// (number or string); without message it applies to the latest message with
// buttons. callback_id finds the button by its callback ID instead, in
// message if given, else in the latest message holding it.
type inEvent struct {
	Type       string          `json:"type"`
	User       string          `json:"user,omitempty"`
	Text       string          `json:"text,omitempty"`
	Message    string          `json:"message,omitempty"`
	Button     json.RawMessage `json:"button,omitempty"`
	CallbackID string          `json:"callback_id,omitempty"`
}

// outEvent is one output line in JSON mode: a post, edit, private message,
// file, or an error about an input line.
type outEvent struct {
	Type    string       `json:"type"` // "post", "edit", "private", "file", "error"
	Ref     string       `json:"ref,omitempty"`
	Channel string       `json:"channel,omitempty"`
	Thread  string       `json:"thread,omitempty"`
	To      string       `json:"to,omitempty"`      // recipient of a private message
	Private bool         `json:"private,omitempty"` // an edit of a private message
	Frame   int          `json:"frame,omitempty"`   // edits so far, on "edit"
	Message *bot.Message `json:"message,omitempty"`
	Buttons []outButton  `json:"buttons,omitempty"`
	File    *outFile     `json:"file,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// outButton is a button as a script sees it, with its 1-based index.
type outButton struct {
	Index      int    `json:"index"`
	Label      string `json:"label"`
	ActionID   string `json:"action_id"`
	CallbackID string `json:"callback_id"`
}

// outFile describes an uploaded file: where it was saved, or its content
// when the console has no file directory.
type outFile struct {
	Name    string `json:"name"`
	Title   string `json:"title,omitempty"`
	Bytes   int    `json:"bytes"`
	Path    string `json:"path,omitempty"`
	Content string `json:"content,omitempty"`
}

func outButtons(bs []bot.Button) []outButton {
	if len(bs) == 0 {
		return nil
	}
	out := make([]outButton, len(bs))
	for i, b := range bs {
		out[i] = outButton{Index: i + 1, Label: b.Label, ActionID: b.ActionID, CallbackID: b.CallbackID}
	}
	return out
}

// writeJSON writes ev as one line. a.mu is held.
func (a *Adapter) writeJSON(ev outEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return tebura.Wrap(tebura.EINTERNAL, err, "The console could not encode the message.")
	}
	return a.writeText(string(b)+"\n", "")
}

// handleJSON interprets one JSON input line; a malformed line is answered
// with an error object and skipped.
func (a *Adapter) handleJSON(ctx context.Context, h bot.Handler, wg *sync.WaitGroup, line string) {
	var in inEvent
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		a.note(fmt.Sprintf("Skipped a line that is not a JSON event object: %v.", err))
		return
	}
	if dec.More() {
		a.note("Skipped a line with more than one JSON value; send one event per line.")
		return
	}
	a.mu.Lock()
	user := a.user
	a.mu.Unlock()
	if u := strings.TrimPrefix(in.User, Platform+":"); u != "" {
		user = u
	}
	switch in.Type {
	case "command":
		name, text, ok := splitCommand(strings.TrimSpace(in.Text))
		if !ok {
			a.note(`A command event needs "text", such as "/runbook list".`)
			return
		}
		dispatch(ctx, h, wg, a.command(user, name, text))
	case "click":
		pick, what, err := pickerFor(in)
		if err != nil {
			a.note(err.Error())
			return
		}
		id := in.Message
		if id == "" && in.CallbackID != "" {
			id = a.messageWithCallback(in.CallbackID)
		}
		ev, _, err := a.click(user, id, pick, what)
		if err != nil {
			a.note(tebura.ErrorMessage(err))
			return
		}
		dispatch(ctx, h, wg, ev)
	case "wait":
		wait(ctx, wg)
	default:
		a.note(fmt.Sprintf(`Skipped an event of unknown type %q; use "command", "click" or "wait".`, in.Type))
	}
}

// pickerFor returns how to choose the button a click event names.
func pickerFor(in inEvent) (func([]bot.Button) (int, bool), string, error) {
	if in.CallbackID != "" {
		return func(bs []bot.Button) (int, bool) {
			for i, b := range bs {
				if b.CallbackID == in.CallbackID {
					return i, true
				}
			}
			return 0, false
		}, fmt.Sprintf("button with callback ID %q", in.CallbackID), nil
	}
	raw := bytes.TrimSpace(in.Button)
	if len(raw) == 0 {
		return nil, "", errors.New(`A click event needs "button" (action ID, label or 1-based index) or "callback_id".`)
	}
	var key string
	if err := json.Unmarshal(raw, &key); err != nil {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, "", errors.New(`"button" must be an action ID, a label or a 1-based index.`)
		}
		key = strconv.Itoa(n)
	}
	return func(bs []bot.Button) (int, bool) {
		for i, b := range bs {
			if b.ActionID == key {
				return i, true
			}
		}
		for i, b := range bs {
			if strings.EqualFold(b.Label, key) {
				return i, true
			}
		}
		if n, err := strconv.Atoi(key); err == nil && n >= 1 && n <= len(bs) {
			return n - 1, true
		}
		return 0, false
	}, fmt.Sprintf("button %q", key), nil
}

// messageWithCallback returns the latest message with a button carrying
// the callback ID, or "" (then the latest message with buttons is used, and
// the click is refused there with a clear error).
func (a *Adapter) messageWithCallback(cb string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := a.seq; i >= 1; i-- {
		if m := a.msgs[refID(i)]; m != nil {
			for _, b := range m.m.Buttons {
				if b.CallbackID == cb {
					return m.ref.ID
				}
			}
		}
	}
	return ""
}
