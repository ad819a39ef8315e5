package bolt

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/tebura/tebura"
)

// DiskFullMessage is what people are told when a write failed because the
// data disk is full: it is worth retrying once space is freed, so the
// error is ETRANSIENT (HTTP 503 for webhook senders, which retry).
const DiskFullMessage = "The bot's data disk is full, so this was not saved. Ask the operators to free space on the disk holding the bot's data directory, then try again."

// noSpace reports whether err is a full disk or an exhausted quota. bbolt
// keeps the errno when a page write fails, but formats it away (%s) when
// growing the file fails, so the text is checked too.
func noSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "no space left on device") || strings.Contains(msg, "disk quota exceeded")
}

// diskFull wraps a write that failed for lack of space. bbolt rolled the
// transaction back, so nothing of it is stored.
func diskFull(err error, what string) error {
	return tebura.Wrap(tebura.ETRANSIENT, fmt.Errorf("bolt: %s: %w", what, err), DiskFullMessage)
}
