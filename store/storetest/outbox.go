package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
)

// testOutbox checks the store behind bot.Outbox: deliveries are kept per
// platform, listed in the order they were made, replaced by ID, deleted
// (twice is no error), and survive a reopen.
func testOutbox(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	if st.Outbox == nil {
		t.Skip("the store under test keeps no outbox")
	}
	ctx := t.Context()
	now := st.Clock.Now()
	put := func(d bot.Delivery) {
		t.Helper()
		if err := st.Outbox.PutDelivery(ctx, d); err != nil {
			t.Fatalf("PutDelivery(%s): %v", d.ID, err)
		}
	}
	ids := func(platform string) string {
		t.Helper()
		ds, err := st.Outbox.Deliveries(ctx, platform)
		if err != nil {
			t.Fatalf("Deliveries(%s): %v", platform, err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.ID+"="+d.Message.Header)
		}
		return fmt.Sprint(out)
	}
	msg := func(h string) bot.Message { return bot.Message{Header: h, Text: []string{"body of " + h}} }
	// Made out of key order: b before a, c a second later; a discord one
	// in between must not show among slack's.
	put(bot.Delivery{Platform: "slack", ID: "outbox:x-2", To: bot.Target{Channel: "C1"}, Message: msg("first"), Created: now})
	put(bot.Delivery{Platform: "slack", ID: "outbox:x-10", To: bot.Target{Channel: "C1"}, Message: msg("second"), Created: now.Add(time.Second)})
	put(bot.Delivery{Platform: "discord", ID: "outbox:y-1", To: bot.Target{Channel: "9"}, Message: msg("other"), Created: now})
	put(bot.Delivery{Platform: "slack", ID: "outbox:x-3", Edit: true, Ref: bot.MessageRef{Platform: "slack", Channel: "C1", ID: "outbox:x-2"},
		Message: msg("edit"), Created: now.Add(2 * time.Second)})
	if got, want := ids("slack"), "[outbox:x-2=first outbox:x-10=second outbox:x-3=edit]"; got != want {
		t.Errorf("slack deliveries %s, want %s (in the order they were made)", got, want)
	}
	if got, want := ids("discord"), "[outbox:y-1=other]"; got != want {
		t.Errorf("discord deliveries %s, want %s", got, want)
	}
	// A newer content replaces the record with the same ID.
	put(bot.Delivery{Platform: "slack", ID: "outbox:x-2", To: bot.Target{Channel: "C1"}, Message: msg("first, final"), Created: now})
	if got, want := ids("slack"), "[outbox:x-2=first, final outbox:x-10=second outbox:x-3=edit]"; got != want {
		t.Errorf("after a replace: %s, want %s", got, want)
	}
	for range 2 {
		if err := st.Outbox.DeleteDelivery(ctx, "slack", "outbox:x-3"); err != nil {
			t.Fatalf("DeleteDelivery: %v", err)
		}
	}
	posted := bot.MessageRef{Platform: "slack", Channel: "C1", ID: "1712345678.000100"}
	put(bot.Delivery{Platform: "slack", ID: "outbox:x-10", To: bot.Target{Channel: "C1"}, Created: now.Add(time.Second), Posted: posted})

	if st.Reopen != nil {
		st = st.Reopen(t)
	}
	ds, err := st.Outbox.Deliveries(ctx, "slack")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].ID != "outbox:x-2" || ds[0].Message.Text[0] != "body of first, final" || !ds[0].Created.Equal(now) ||
		ds[1].Posted != posted || ds[1].To.Channel != "C1" {
		t.Errorf("after reopen: %+v", ds)
	}
}
