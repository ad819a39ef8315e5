// Package console is the terminal chat adapter: Tebura without Slack or
// Discord, for local use, demos and end-to-end tests.
//
// It reads lines from an input (a terminal or a pipe) and writes messages as
// readable text blocks. Lines starting with "/" are commands, lines starting
// with "!" are console keys: "!1" presses a button, "!as bob" changes who you
// are, "!help" lists them. With Options.JSON both directions are one JSON
// object per line, for scripts: input {"type":"command",…}, {"type":"click",…}
// or {"type":"wait"}; output one {"type":"post"|"edit"|"private"|"file",
// "ref":"m3",…,"message":{…},"buttons":[{"index":1,…}]} per message shown,
// and {"type":"error","error":"…"} for an input line that was skipped.
//
// Events are handed to the Handler in input order, each on its own
// goroutine, as a real platform would: a later line may be handled before an
// earlier one has finished. A script therefore waits for the output it
// expects (a message with buttons before pressing "!1"), or sends "!wait" to
// let everything sent so far finish.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// Platform is the console's platform name and identity prefix
// ("console:alice").
const Platform = "console"

// Defaults for empty Options.
const (
	DefaultUser    = "operator"
	DefaultChannel = "console"
)

// maxLine is the longest input line accepted; longer input ends Run with an
// error.
const maxLine = 1 << 20

// Options configure the console.
type Options struct {
	// In is read line by line; nil reads nothing.
	In io.Reader
	// Out receives the rendered messages; nil discards them.
	Out io.Writer
	// User is the acting user's name at start (DefaultUser if empty); the
	// identity is "console:" + User. "!as NAME" changes it.
	User string
	// Channel is the one channel the console shows (DefaultChannel if empty).
	Channel string
	// JSON switches input and output to one JSON object per line.
	JSON bool
	// TTY says Out is a terminal: an edited message that is still the last
	// output is redrawn in place; otherwise edits are re-printed.
	TTY bool
	// Width is the terminal width in columns, used to count wrapped rows when
	// redrawing in place; 0 assumes lines never wrap.
	Width int
	// FileDir is where Upload writes files; empty prints their content.
	FileDir string
	// Hint is a line printed once when Run starts in text mode, such as how
	// to get help; empty prints nothing. Ignored with JSON.
	Hint string
	// Clock stamps received events; nil means time.Now.
	Clock func() time.Time
	// Logger receives operational problems; nil discards.
	Logger *slog.Logger
}

// Adapter is the console chat. It implements bot.Chat, bot.Limited,
// bot.EditLimited (it is not: a terminal) and bot.FileUploader. Ephemeral replies are printed with an
// "(only you see this)" marker.
type Adapter struct {
	in      io.Reader
	out     io.Writer
	channel string
	json    bool
	tty     bool
	width   int
	fileDir string
	hint    string
	clock   func() time.Time
	log     *slog.Logger

	mu        sync.Mutex // serialises writes to out and guards the fields below
	user      string
	seq       int
	msgs      map[string]*message
	lastBlock string // message ID of the block printed last, "" if something else came after
	lastRows  int    // terminal rows of that block
	writeErr  error  // a write failure to log once a.mu is released
}

// message is what the console remembers of a message it showed.
type message struct {
	ref   bot.MessageRef
	m     bot.Message
	frame int    // number of edits so far
	to    string // recipient name of a private message, "" if public
}

var (
	_ bot.Chat         = (*Adapter)(nil)
	_ bot.Limited      = (*Adapter)(nil)
	_ bot.FileUploader = (*Adapter)(nil)
	_ bot.EditLimited  = (*Adapter)(nil)
)

// New returns a console adapter.
func New(o Options) *Adapter {
	if o.In == nil {
		o.In = strings.NewReader("")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Adapter{
		in:      o.In,
		out:     o.Out,
		channel: o.Channel,
		json:    o.JSON,
		tty:     o.TTY && !o.JSON,
		width:   o.Width,
		fileDir: o.FileDir,
		hint:    o.Hint,
		clock:   o.Clock,
		log:     o.Logger,
		user:    strings.TrimPrefix(o.User, Platform+":"),
		msgs:    map[string]*message{},
	}
}

// Name returns "console".
func (a *Adapter) Name() string { return Platform }

// EditLimited reports false: a terminal redraws as often as asked, so the
// platform edit budget meant for Slack and Discord does not apply.
func (a *Adapter) EditLimited() bool { return false }

// Limits are generous: a terminal has no hard limit, but a stream's tail
// should still fit on a screen.
func (a *Adapter) Limits() bot.Limits {
	return bot.Limits{
		Header:     200,
		Text:       8000,
		FieldValue: 2000,
		Fields:     25,
		Code:       4000,
		Buttons:    10,
		ButtonText: 80,
		Total:      16000,
	}
}

// Run prints Options.Hint (text mode), then reads the input and hands
// events to h until the input ends or ctx is done. At the end of input it waits for the handlers of the events it
// dispatched to return (or ctx to end) and returns nil: the caller decides
// whether the server keeps running. A read error is returned.
//
// The goroutine reading In cannot be interrupted while it is blocked in
// Read; it ends with the input.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if a.hint != "" && !a.json {
		a.note(a.hint)
	}
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(a.in)
		sc.Buffer(make([]byte, 0, 64*1024), maxLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	var handlers sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			return nil
		case line := <-lines:
			a.handleLine(ctx, h, &handlers, line)
		case err := <-readErr:
			wait(ctx, &handlers)
			if err != nil {
				return fmt.Errorf("console: reading input: %w", err)
			}
			return nil
		}
	}
}

// wait returns when wg is done or ctx ends.
func wait(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// dispatch hands ev to h on its own goroutine.
func dispatch(ctx context.Context, h bot.Handler, wg *sync.WaitGroup, ev bot.Event) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.HandleEvent(ctx, ev)
	}()
}

// handleLine interprets one input line.
func (a *Adapter) handleLine(ctx context.Context, h bot.Handler, wg *sync.WaitGroup, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	if a.json {
		a.handleJSON(ctx, h, wg, line)
		return
	}
	a.mu.Lock()
	if a.tty {
		a.lastBlock = "" // the terminal echoed the line below the last block
	}
	user := a.user
	a.mu.Unlock()

	switch {
	case strings.HasPrefix(line, "/"):
		name, text, ok := splitCommand(line)
		if !ok {
			a.note("Type a command after the slash, such as /tebura help.")
			return
		}
		dispatch(ctx, h, wg, a.command(user, name, text))
	case line == "!help":
		a.note(helpText)
	case line == "!wait":
		wait(ctx, wg)
	case line == "!as" || strings.HasPrefix(line, "!as "):
		a.switchUser(strings.TrimSpace(strings.TrimPrefix(line, "!as")))
	case strings.HasPrefix(line, "!"):
		idx, id, err := parsePress(line)
		if err != nil {
			a.note(err.Error())
			return
		}
		ev, label, err := a.press(user, id, idx)
		if err != nil {
			a.note(tebura.ErrorMessage(err))
			return
		}
		a.note(fmt.Sprintf("(%s pressed [%d] %s on %s)", Platform+":"+user, idx, label, ev.Message.ID))
		dispatch(ctx, h, wg, ev)
	default:
		a.note("Ignored: start a line with / for a command or ! for a console key (!help lists them).")
	}
}

const helpText = `Console keys:
  /COMMAND [ARGS]   send a command, e.g. /tebura help or /runbook list
  !N                press button N of the latest message that has buttons
  !N@mID            press button N of message mID, e.g. !1@m3
  !as NAME          act as console:NAME (try four-eyes approval alone); !as shows who you are
  !wait             wait until everything sent so far has been handled
  !help             this list`

// splitCommand splits "/runbook run x env=prod" into "runbook" and
// "run x env=prod".
func splitCommand(line string) (name, text string, ok bool) {
	line = strings.TrimPrefix(line, "/")
	name, text, _ = strings.Cut(line, " ")
	if i := strings.IndexFunc(name, unicode.IsSpace); i >= 0 {
		name, text = name[:i], name[i+1:]+" "+text
	}
	name = strings.TrimSpace(name)
	return name, strings.TrimSpace(text), name != ""
}

// parsePress parses "!2" or "!2@m5".
func parsePress(line string) (idx int, id string, err error) {
	s := strings.TrimPrefix(line, "!")
	num, id, _ := strings.Cut(s, "@")
	idx, convErr := strconv.Atoi(num)
	if convErr != nil || idx < 1 {
		return 0, "", fmt.Errorf("Unknown console key %q: press a button with !1, !2 (or !1@m3), or type !help.", line)
	}
	return idx, strings.TrimSpace(id), nil
}

func (a *Adapter) switchUser(name string) {
	name = strings.TrimPrefix(name, Platform+":")
	if name == "" {
		a.mu.Lock()
		user := a.user
		a.mu.Unlock()
		a.note(fmt.Sprintf("You are %s:%s.", Platform, user))
		return
	}
	if strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		a.note("A console name is one word, such as !as bob.")
		return
	}
	a.mu.Lock()
	a.user = name
	a.mu.Unlock()
	a.note(fmt.Sprintf("You are now %s:%s.", Platform, name))
}

func (a *Adapter) actor(user string) bot.Actor {
	return bot.Actor{ID: Platform + ":" + user, Name: user}
}

func (a *Adapter) command(user, name, text string) *bot.Command {
	return &bot.Command{
		Platform: Platform,
		Actor:    a.actor(user),
		Channel:  a.channel,
		Name:     name,
		Text:     text,
		Reply:    &replier{a: a, to: bot.Target{Channel: a.channel}, user: user},
		Received: a.clock(),
	}
}

// press resolves button idx (1-based) of message id, or of the latest
// message with buttons when id is empty, into a Click.
func (a *Adapter) press(user, id string, idx int) (*bot.Click, string, error) {
	return a.click(user, id, func(bs []bot.Button) (int, bool) {
		return idx - 1, idx >= 1 && idx <= len(bs)
	}, fmt.Sprintf("button %d", idx))
}

// click finds a message (id, or the latest with buttons) and a button in it
// chosen by pick, and returns the Click and the button's label.
func (a *Adapter) click(user, id string, pick func([]bot.Button) (int, bool), what string) (*bot.Click, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var msg *message
	if id == "" {
		for i := a.seq; i >= 1 && msg == nil; i-- {
			if m := a.msgs[refID(i)]; m != nil && len(m.m.Buttons) > 0 {
				msg = m
			}
		}
		if msg == nil {
			return nil, "", tebura.Errorf(tebura.ENOTFOUND, "No message has buttons yet.")
		}
	} else if msg = a.msgs[id]; msg == nil {
		return nil, "", tebura.Errorf(tebura.ENOTFOUND, "There is no message %s.", id)
	}
	i, ok := pick(msg.m.Buttons)
	if !ok {
		if len(msg.m.Buttons) == 0 {
			return nil, "", tebura.Errorf(tebura.ENOTFOUND, "%s has no buttons (any more).", msg.ref.ID)
		}
		return nil, "", tebura.Errorf(tebura.ENOTFOUND, "%s has no %s; its buttons are %s.", msg.ref.ID, what, buttonList(msg.m.Buttons))
	}
	b := msg.m.Buttons[i]
	return &bot.Click{
		Platform:   Platform,
		Actor:      a.actor(user),
		ActionID:   b.ActionID,
		CallbackID: b.CallbackID,
		Message:    msg.ref,
		Reply:      &replier{a: a, to: bot.Target{Channel: msg.ref.Channel, Thread: msg.ref.Thread}, user: user},
		Received:   a.clock(),
	}, b.Label, nil
}

func buttonList(bs []bot.Button) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("[%d] %s", i+1, b.Label)
	}
	return strings.Join(parts, " ")
}

func refID(n int) string { return "m" + strconv.Itoa(n) }

// replier answers an event's sender on the console.
type replier struct {
	a    *Adapter
	to   bot.Target
	user string
}

// Reply posts to the channel the event came from.
func (r *replier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	return r.a.Post(ctx, r.to, m)
}

// Private prints m marked as seen only by the sender.
func (r *replier) Private(ctx context.Context, m bot.Message) error {
	_, err := r.a.show(ctx, r.to, m, r.user)
	return err
}

// Post prints a new message.
func (a *Adapter) Post(ctx context.Context, to bot.Target, m bot.Message) (bot.MessageRef, error) {
	return a.show(ctx, to, m, "")
}

// show prints a new message, private to user if user is not empty.
func (a *Adapter) show(ctx context.Context, to bot.Target, m bot.Message, user string) (bot.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return bot.MessageRef{}, err
	}
	m = bot.Fit(m, a.Limits())
	if to.Channel == "" {
		to.Channel = a.channel
	}
	a.mu.Lock()
	defer a.unlock()
	a.seq++
	ref := bot.MessageRef{Platform: Platform, Channel: to.Channel, ID: refID(a.seq), Thread: to.Thread}
	msg := &message{ref: ref, m: m, to: user}
	a.msgs[ref.ID] = msg
	typ := "post"
	if user != "" {
		typ = "private"
	}
	return ref, a.writeMessage(typ, msg)
}

// Edit replaces a message: redrawn in place on a terminal when it is still
// the last output, re-printed with its update count otherwise.
func (a *Adapter) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m = bot.Fit(m, a.Limits())
	a.mu.Lock()
	defer a.unlock()
	msg := a.msgs[ref.ID]
	if msg == nil {
		return tebura.Errorf(tebura.ENOTFOUND, "There is no console message %s to edit.", ref.ID)
	}
	msg.m = m
	msg.frame++
	return a.writeMessage("edit", msg)
}

// Upload writes f under FileDir and prints where, or prints its content when
// no FileDir is set.
func (a *Adapter) Upload(ctx context.Context, to bot.Target, f bot.File) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.unlock()
	a.seq++
	id := refID(a.seq)
	name := filepath.Base(filepath.Clean("/" + f.Name))
	if name == "/" || name == "." {
		name = "file"
	}
	path := ""
	if a.fileDir != "" {
		path = filepath.Join(a.fileDir, id+"-"+name)
		if err := os.MkdirAll(a.fileDir, 0o750); err != nil {
			return tebura.Wrap(tebura.EINTERNAL, err, "The console could not save the file.")
		}
		if err := os.WriteFile(path, f.Content, 0o600); err != nil {
			return tebura.Wrap(tebura.EINTERNAL, err, "The console could not save the file.")
		}
	}
	if a.json {
		of := &outFile{Name: name, Title: jsonText(f.Title), Bytes: len(f.Content), Path: path}
		if path == "" {
			of.Content = string(f.Content)
		}
		return a.writeJSON(outEvent{Type: "file", Ref: id, Channel: to.Channel, Thread: to.Thread, File: of})
	}
	title := f.Title
	if title == "" {
		title = name
	}
	rule := fmt.Sprintf("── %s file: %s (%s, %d bytes) ──\n", id, clean(title), clean(name), len(f.Content))
	body := Render(bot.Message{Text: []string{"saved to " + path}}, 0)
	if path == "" {
		body = Render(bot.Message{Code: &bot.Code{Title: name, Text: string(f.Content)}}, 0)
	}
	return a.writeText(rule+body, "")
}

// writeMessage prints msg as typ ("post", "private", "edit"). a.mu is held.
func (a *Adapter) writeMessage(typ string, msg *message) error {
	if a.json {
		m := forJSON(msg.m)
		ev := outEvent{Type: typ, Ref: msg.ref.ID, Channel: msg.ref.Channel, Thread: msg.ref.Thread,
			To: msg.to, Frame: msg.frame, Message: &m, Buttons: outButtons(m.Buttons)}
		if typ == "edit" && msg.to != "" {
			ev.Private = true
		}
		return a.writeJSON(ev)
	}
	var notes []string
	if msg.ref.Channel != a.channel {
		notes = append(notes, "in #"+msg.ref.Channel)
	}
	if msg.ref.Thread != "" {
		notes = append(notes, "in thread "+msg.ref.Thread)
	}
	if msg.frame > 0 {
		notes = append(notes, fmt.Sprintf("update %d", msg.frame))
	}
	if msg.to != "" {
		notes = append(notes, fmt.Sprintf("only you see this: %s:%s", Platform, msg.to))
	}
	rule := "── " + msg.ref.ID
	if len(notes) > 0 {
		rule += " (" + clean(strings.Join(notes, ", ")) + ")"
	}
	text := rule + " ──\n" + Render(msg.m, 0)
	if msg.frame > 0 && a.tty && a.lastBlock == msg.ref.ID && a.lastRows > 0 {
		// Still the last output: move up over it and clear to the end.
		text = fmt.Sprintf("\x1b[%dF\x1b[J", a.lastRows) + text
	}
	return a.writeText(text, msg.ref.ID)
}

// writeText writes s and remembers whether it was a message block. a.mu is
// held.
func (a *Adapter) writeText(s, block string) error {
	_, err := io.WriteString(a.out, s)
	a.lastBlock, a.lastRows = block, a.rows(s)
	if err != nil {
		a.writeErr = err
		return tebura.Wrap(tebura.ETRANSIENT, err, "The console could not print the message.")
	}
	return nil
}

// unlock releases a.mu, then logs a write failure that happened while it
// was held: the logger's output may go through Interleave, which takes a.mu.
func (a *Adapter) unlock() {
	err := a.writeErr
	a.writeErr = nil
	a.mu.Unlock()
	if err != nil {
		a.log.Warn("console write failed", "err", err)
	}
}

// Interleave returns a writer for other output that shares the terminal
// with the console, such as the log on stderr. Each Write takes the
// console's output lock, so it never lands inside a message block, and
// marks that the last block is no longer at the bottom: the next edit of it
// is re-printed below instead of redrawn in place over what w received.
// Do not log to a logger writing through it while holding the console's
// lock (the adapter itself never does).
func (a *Adapter) Interleave(w io.Writer) io.Writer {
	return &interleaved{a: a, w: w}
}

// interleaved is the writer Interleave returns.
type interleaved struct {
	a *Adapter
	w io.Writer
}

// Write writes p to the underlying writer under the console's lock.
func (iw *interleaved) Write(p []byte) (int, error) {
	iw.a.mu.Lock()
	defer iw.a.mu.Unlock()
	if len(p) > 0 {
		iw.a.lastBlock, iw.a.lastRows = "", 0
	}
	return iw.w.Write(p)
}

// rows counts the terminal rows s occupies after its last cursor move.
func (a *Adapter) rows(s string) int {
	if i := strings.LastIndex(s, "\x1b[J"); i >= 0 {
		s = s[i+len("\x1b[J"):]
	}
	n := 0
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		w := utf8.RuneCountInString(strings.TrimSuffix(line, "\n"))
		if a.width > 0 && w > a.width {
			n += (w + a.width - 1) / a.width
		} else {
			n++
		}
	}
	return n
}

// note prints a line from the console itself (hints, errors of console
// keys).
func (a *Adapter) note(s string) {
	a.mu.Lock()
	defer a.unlock()
	if a.json {
		_ = a.writeJSON(outEvent{Type: "error", Error: s})
		return
	}
	_ = a.writeText(clean(s)+"\n", "")
}

// forJSON is m as a JSON event carries it: without bot.Verbatim's marks
// and terminal escapes, which mean nothing to a JSON reader and would act
// on a terminal that shows the stream (encoding/json leaves the 8-bit
// CSI U+009B as it is). Other control characters are JSON-escaped.
func forJSON(m bot.Message) bot.Message {
	m.Header, m.Context = jsonText(m.Header), jsonText(m.Context)
	m.Text = append([]string(nil), m.Text...)
	for i, t := range m.Text {
		m.Text[i] = jsonText(t)
	}
	m.Fields = append([]bot.Field(nil), m.Fields...)
	for i, f := range m.Fields {
		m.Fields[i] = bot.Field{Label: jsonText(f.Label), Value: jsonText(f.Value)}
	}
	m.Links = append([]bot.Link(nil), m.Links...)
	for i, l := range m.Links {
		m.Links[i].Label = jsonText(l.Label)
	}
	m.Buttons = append([]bot.Button(nil), m.Buttons...)
	for i, b := range m.Buttons {
		m.Buttons[i].Label = jsonText(b.Label)
	}
	if m.Code != nil {
		c := *m.Code
		c.Title, c.Text = jsonText(c.Title), jsonText(c.Text)
		m.Code = &c
	}
	return m
}

func jsonText(s string) string { return bot.StripANSI(bot.Unmark(s)) }
