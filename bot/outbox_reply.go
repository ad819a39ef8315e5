package bot

import "context"

// Handler returns h with each event's Replier routed through the Outbox,
// so that an answer the platform cannot take right now is not lost:
//
//   - Reply (visible in the channel) is made the platform's way first
//     (Slack's chat.postMessage or response_url, Discord's interaction
//     response); when that fails transiently, or posts to the channel are
//     already waiting for the platform, it becomes a channel post through
//     the Outbox: kept, delivered in order when the platform is back, and
//     editable through its provisional ref. This is also how an answer
//     that outlives the platform's response window (Discord's 15-minute
//     interaction token) still reaches the channel: a run's result is
//     public anyway.
//   - Private (seen only by the actor) is retried in memory with the
//     Outbox's backoff until it is delivered, the platform refuses it for
//     good (a Discord token past its 15 minutes) or the delivery deadline
//     passes; then it is dropped with a log line. It is never turned into
//     a channel post (a refusal or someone's log request is nobody else's
//     business), and it is not written to the store: a response_url or an
//     interaction token is a capability, and private text stays out of the
//     data dir.
func (o *Outbox) Handler(h Handler) Handler {
	return HandlerFunc(func(ctx context.Context, ev Event) {
		switch e := ev.(type) {
		case *Command:
			if e.Reply != nil && e.Channel != "" {
				c := *e
				c.Reply = o.replier(e.Reply, Target{Channel: e.Channel, Thread: e.Thread})
				ev = &c
			}
		case *Click:
			if e.Reply != nil && e.Message.Channel != "" {
				c := *e
				c.Reply = o.replier(e.Reply, Target{Channel: e.Message.Channel, Thread: e.Message.Thread})
				ev = &c
			}
		}
		h.HandleEvent(ctx, ev)
	})
}

// privateUploader is the optional capability of a Replier to attach a file
// only the actor sees (commands/runbookchat.PrivateUploader); the wrapper
// keeps it when the adapter's replier has it.
type privateUploader interface {
	UploadPrivate(ctx context.Context, f File) error
}

// replier wraps rep for events in to, keeping its private uploads.
func (o *Outbox) replier(rep Replier, to Target) Replier {
	r := &outboxReplier{o: o, inner: rep, to: to}
	if up, ok := rep.(privateUploader); ok {
		return outboxUploadingReplier{r, up}
	}
	return r
}

// outboxUploadingReplier is an outboxReplier that can upload privately.
type outboxUploadingReplier struct {
	*outboxReplier
	up privateUploader
}

// UploadPrivate passes straight through: a private file is not kept.
func (r outboxUploadingReplier) UploadPrivate(ctx context.Context, f File) error {
	return r.up.UploadPrivate(ctx, f)
}

// outboxReplier is a Replier whose answers survive an outage (see Handler).
type outboxReplier struct {
	o     *Outbox
	inner Replier
	to    Target
}

// Reply implements Replier.
func (r *outboxReplier) Reply(ctx context.Context, m Message) (MessageRef, error) {
	if posts, _ := r.o.Pending(r.to.Channel); posts > 0 {
		// Behind posts still waiting: in order, through the queue.
		return r.o.Post(ctx, r.to, m)
	}
	ctx1, cancel := context.WithTimeout(ctx, r.o.timeout) // a hanging platform is a failed attempt
	ref, err := r.inner.Reply(ctx1, m)
	cancel()
	if err == nil || !Transient(err) {
		return ref, err
	}
	r.o.log.Warn("reply failed, posting it to the channel through the outbox", "channel", r.to.Channel, "err", err)
	return r.o.Post(ctx, r.to, m)
}

// Private implements Replier.
func (r *outboxReplier) Private(ctx context.Context, m Message) error {
	ctx1, cancel := context.WithTimeout(ctx, r.o.timeout)
	err := r.inner.Private(ctx1, m)
	cancel()
	if err == nil || !Transient(err) {
		return err
	}
	r.o.mu.Lock()
	r.o.stats.Kept++
	r.o.mu.Unlock()
	go r.o.retryPrivate(r.inner, r.to.Channel, m, err)
	return nil
}

// retryPrivate retries a private answer until it is delivered, refused for
// good, or the deadline passes (see Handler).
func (o *Outbox) retryPrivate(rep Replier, channel string, m Message, err error) {
	end := o.clock.Now().Add(o.deadline)
	wait := o.first
	for {
		o.mu.Lock()
		o.stats.Retries++
		o.mu.Unlock()
		left := end.Sub(o.clock.Now())
		if left <= 0 {
			o.mu.Lock()
			o.stats.Dropped++
			o.mu.Unlock()
			o.log.Error("private reply dropped after the delivery deadline", "channel", channel, "deadline", o.deadline, "err", err)
			return
		}
		o.log.Warn("private reply failed, retrying", "channel", channel, "retry_in", min(wait, left), "err", err)
		select {
		case <-o.clock.After(min(wait, left)):
		case <-o.ctx.Done():
			o.log.Warn("private reply not delivered before shutdown", "channel", channel)
			return
		}
		wait = min(2*wait, o.most)
		ctx, cancel := context.WithTimeout(o.ctx, o.timeout)
		err = rep.Private(ctx, m)
		cancel()
		switch {
		case err == nil:
			o.mu.Lock()
			o.stats.Delivered++
			o.mu.Unlock()
			o.log.Info("private reply delivered after an outage", "channel", channel)
			return
		case !Transient(err):
			o.mu.Lock()
			o.stats.Failed++
			o.mu.Unlock()
			o.log.Error("private reply not delivered", "channel", channel, "err", err)
			return
		}
	}
}
