package discord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/tebura/tebura"
)

// defaultBackoff waits 1 s, 2 s, 4 s … up to two minutes between gateway
// reconnect attempts. Discord resets the token after 1000 IDENTIFYs a day,
// so a reconnect loop must never spin.
// See https://discord.com/developers/docs/events/gateway
func defaultBackoff(attempt int) time.Duration {
	if attempt > 7 {
		return 2 * time.Minute
	}
	return min(time.Duration(1<<max(attempt-1, 0))*time.Second, 2*time.Minute)
}

// Gateway close codes after which reconnecting cannot help.
// See https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes
var fatalClose = map[int]string{
	4004: "authentication failed",
	4010: "invalid shard",
	4011: "sharding required",
	4012: "invalid API version",
	4013: "invalid intents",
	4014: "disallowed intents",
}

// runGateway keeps the gateway connected until ctx is done. discordgo's own
// reconnect loop is off: this one has a bounded backoff, keeps Ready()
// truthful and stops on a fatal close code.
func (a *Adapter) runGateway(ctx context.Context) error {
	disconnected := make(chan struct{}, 1)
	removers := []func(){
		a.session.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
			a.setUp(false, errors.New("gateway connection closed"))
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}),
		a.session.AddHandler(func(_ *discordgo.Session, e *discordgo.InteractionCreate) {
			if e.Interaction != nil {
				a.interaction(ctx, e.Interaction, a.clock())
			}
		}),
	}
	defer func() {
		for _, r := range removers {
			r()
		}
	}()

	attempt := 0
	for {
		err := a.session.Open()
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			if attempt > 0 {
				a.logger.Info("discord gateway reconnected", "attempts", attempt)
			} else {
				a.logger.Info("discord gateway connected")
			}
			attempt = 0
			a.setUp(true, nil)
			select {
			case <-ctx.Done():
				a.setUp(false, nil)
				_ = a.session.Close()
				return nil
			case <-disconnected:
				a.logger.Warn("discord gateway disconnected, reconnecting")
				continue
			}
		}
		if ferr := fatalGateway(err); ferr != nil {
			a.setUp(false, ferr)
			return ferr
		}
		if isStatus(err, 401) {
			return errBadToken(err)
		}
		attempt++
		a.setUp(false, err)
		wait := a.backoff(attempt)
		a.logger.Warn("discord gateway connection failed", "err", err, "attempt", attempt, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// fatalGateway turns a fatal gateway close into a clear error, nil otherwise.
func fatalGateway(err error) error {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return nil
	}
	what, ok := fatalClose[ce.Code]
	if !ok {
		return nil
	}
	if ce.Code == 4004 {
		return errBadToken(err)
	}
	return tebura.Wrap(tebura.EINVALID, fmt.Errorf("gateway close %d: %w", ce.Code, err),
		"The Discord gateway closed the connection ("+what+"); this needs a configuration or code change, see the log.")
}
