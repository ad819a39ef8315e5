package bot

import "context"

// The wrappers below give an Outbox exactly the channel, upload and group
// capabilities of the chat it wraps: callers decide by type assertion
// whether to open a channel or attach a file, so the decorator must neither
// hide a capability nor pretend to have one. These calls pass straight
// through (no queue), except that an upload is retried while the failure
// is transient, within the caller's ctx and the delivery deadline: a run
// that ends during an outage still gets its full log attached when the
// platform is back.

type outboxChannels struct{ cm ChannelManager }

func (w outboxChannels) CreateChannel(ctx context.Context, spec ChannelSpec) (Channel, error) {
	return w.cm.CreateChannel(ctx, spec)
}
func (w outboxChannels) Invite(ctx context.Context, channelID string, members []string) error {
	return w.cm.Invite(ctx, channelID, members)
}
func (w outboxChannels) SetTopic(ctx context.Context, channelID, topic string) error {
	return w.cm.SetTopic(ctx, channelID, topic)
}
func (w outboxChannels) Archive(ctx context.Context, channelID string) error {
	return w.cm.Archive(ctx, channelID)
}

type outboxFiles struct {
	fu FileUploader
	o  *Outbox
}

func (w outboxFiles) Upload(ctx context.Context, to Target, f File) error {
	end := w.o.clock.Now().Add(w.o.deadline)
	wait := w.o.first
	for {
		err := w.fu.Upload(ctx, to, f)
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		left := end.Sub(w.o.clock.Now())
		if left <= 0 {
			return err
		}
		w.o.log.Warn("chat upload failed, retrying", "channel", to.Channel, "retry_in", min(wait, left), "err", err)
		select {
		case <-w.o.clock.After(min(wait, left)):
		case <-ctx.Done():
			return err
		case <-w.o.ctx.Done(): // stopped
			return err
		}
		wait = min(2*wait, w.o.most)
	}
}

type outboxGroups struct{ gr GroupResolver }

func (w outboxGroups) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return w.gr.GroupMembers(ctx, group)
}

// One type per combination of the three pass-through capabilities.
type (
	outboxC struct {
		*Outbox
		outboxChannels
	}
	outboxF struct {
		*Outbox
		outboxFiles
	}
	outboxG struct {
		*Outbox
		outboxGroups
	}
	outboxCF struct {
		*Outbox
		outboxChannels
		outboxFiles
	}
	outboxCG struct {
		*Outbox
		outboxChannels
		outboxGroups
	}
	outboxFG struct {
		*Outbox
		outboxFiles
		outboxGroups
	}
	outboxCFG struct {
		*Outbox
		outboxChannels
		outboxFiles
		outboxGroups
	}
)

// wrapCapabilities returns o dressed with the capabilities its inner chat has.
func wrapCapabilities(o *Outbox) Chat {
	cm, c := o.inner.(ChannelManager)
	fu, f := o.inner.(FileUploader)
	gr, g := o.inner.(GroupResolver)
	ch, fi, gp := outboxChannels{cm}, outboxFiles{fu, o}, outboxGroups{gr}
	switch {
	case c && f && g:
		return outboxCFG{o, ch, fi, gp}
	case c && f:
		return outboxCF{o, ch, fi}
	case c && g:
		return outboxCG{o, ch, gp}
	case f && g:
		return outboxFG{o, fi, gp}
	case c:
		return outboxC{o, ch}
	case f:
		return outboxF{o, fi}
	case g:
		return outboxG{o, gp}
	}
	return o
}
