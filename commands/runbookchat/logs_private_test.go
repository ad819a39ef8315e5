package runbookchat_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
)

// privateFiles is a replier that can attach a file for its actor only, as
// a direct message would; its other answers are recorded.
type privateFiles struct {
	mu      sync.Mutex
	files   []bot.File
	private []bot.Message
	posted  []bot.Message
}

func (r *privateFiles) Reply(_ context.Context, m bot.Message) (bot.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posted = append(r.posted, m)
	return bot.MessageRef{}, nil
}

func (r *privateFiles) Private(_ context.Context, m bot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.private = append(r.private, m)
	return nil
}

func (r *privateFiles) UploadPrivate(_ context.Context, f bot.File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = append(r.files, f)
	return nil
}

// TestLogsNeverUploadToTheChannel: /runbook logs of a long log answers
// privately. The chat's own upload would put the log in the channel for
// everyone, so without a private upload the answer is the log's end and
// where to get the rest; with one, the whole file goes to the asker only.
func TestLogsNeverUploadToTheChannel(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{flood}})
	h.Say(alice, "/runbook run flood").Card(t)
	id := h.LastRun().ID
	h.WaitFinal(id)
	channelFiles := len(h.Chat.Files()) // the run's own message may carry the log

	turn := h.Say(alice, "/runbook logs "+id)
	if n := len(h.Chat.Files()); n != channelFiles {
		t.Errorf("/runbook logs uploaded %d file(s) into the channel", n-channelFiles)
	}
	if p := turn.Posted(); len(p) != 0 {
		t.Errorf("/runbook logs posted %d message(s) in the channel", len(p))
	}
	text := turn.PrivateText()
	for _, want := range []string{"\n9999\n10000", "`tebura logs " + id + "`", "attached to the run's own message"} {
		mustContain(t, "private answer", text, want)
	}

	// A replier that can attach privately gets the whole log as a file.
	r := &privateFiles{}
	h.Bot.HandleEvent(context.Background(), &bot.Command{Platform: bottest.Platform, Actor: alice, Channel: bottest.Channel,
		Name: "runbook", Text: "logs " + id, Reply: r, Received: time.Now()})
	if n := len(h.Chat.Files()); n != channelFiles {
		t.Errorf("/runbook logs with a private upload uploaded %d file(s) into the channel", n-channelFiles)
	}
	if len(r.files) != 1 || !strings.Contains(string(r.files[0].Content), "\n1\n2\n3\n") || !strings.Contains(string(r.files[0].Content), "\n10000\n") {
		t.Fatalf("private files = %d, want the whole log", len(r.files))
	}
	if len(r.posted) != 0 || len(r.private) != 1 || !strings.Contains(bottest.Text(r.private[0]), "for you only") {
		t.Errorf("answers: %d posted, private %v", len(r.posted), r.private)
	}
}
