package bottest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

func TestChatRecordsPostsAndEdits(t *testing.T) {
	c := NewChat(bot.Limits{})
	if c.Limits() != bot.LimitsOf(nil) {
		t.Errorf("zero limits should become the neutral defaults")
	}
	ctx := context.Background()
	var posted []bot.MessageRef
	c.OnPost(func(r bot.MessageRef) { posted = append(posted, r) })
	ref, err := c.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: "one"})
	if err != nil || ref.Platform != Platform || ref.Channel != "C1" || ref.ID == "" {
		t.Fatalf("Post = %+v, %v", ref, err)
	}
	if err := c.Edit(ctx, ref, bot.Message{Header: "two"}); err != nil {
		t.Fatal(err)
	}
	msgs := c.Messages()
	if len(msgs) != 1 || len(posted) != 1 {
		t.Fatalf("%d messages, %d post hooks; want 1 and 1", len(msgs), len(posted))
	}
	if v := msgs[0].Versions(); len(v) != 2 || v[0].Header != "one" || msgs[0].Last().Header != "two" || len(msgs[0].Times()) != 2 {
		t.Errorf("versions = %+v", v)
	}
	err = c.Edit(ctx, bot.MessageRef{ID: "nope"}, bot.Message{})
	if tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("edit of an unknown message: %v, want ENOTFOUND", err)
	}
	boom := errors.New("platform down")
	c.SetEditHook(func(context.Context, bot.MessageRef, bot.Message) error { return boom })
	if err := c.Edit(ctx, ref, bot.Message{Header: "three"}); !errors.Is(err, boom) {
		t.Errorf("edit with failing hook: %v", err)
	}
	if c.EditCount() != 1 {
		t.Errorf("EditCount = %d, want 1 (failed edits are not recorded)", c.EditCount())
	}
}

func TestFileChatAndReplier(t *testing.T) {
	c := NewChat(bot.Limits{})
	var chat bot.Chat = FileChat{c}
	up, ok := chat.(bot.FileUploader)
	if !ok {
		t.Fatal("FileChat is not a FileUploader")
	}
	if _, ok := bot.Chat(c).(bot.FileUploader); ok {
		t.Fatal("the plain Chat must not upload")
	}
	ctx := context.Background()
	if err := up.Upload(ctx, bot.Target{Channel: "C1"}, bot.File{Name: "x.log", Content: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	if f := c.Files(); len(f) != 1 || f[0].File.Name != "x.log" {
		t.Errorf("files = %+v", f)
	}
	var posted []*Msg
	var private []bot.Message
	r := c.Replier(User("alice"), Channel, func(m *Msg, p *bot.Message) {
		if m != nil {
			posted = append(posted, m)
		}
		if p != nil {
			private = append(private, *p)
		}
	})
	if _, err := r.Reply(ctx, bot.Message{Header: "public"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Private(ctx, bot.Message{Text: []string{"secret"}}); err != nil {
		t.Fatal(err)
	}
	if len(posted) != 1 || len(private) != 1 || !strings.Contains(Text(private[0]), "secret") {
		t.Errorf("seen = %d posted, %d private", len(posted), len(private))
	}
	if p := c.Privates(); len(p) != 1 || p[0].To != "console:alice" {
		t.Errorf("privates = %+v", p)
	}
}
