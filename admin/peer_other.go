//go:build !linux && !darwin

package admin

import "errors"

// peerUID cannot tell the peer on this platform: every admin request is
// refused (403), and the CLI falls back to opening the store itself.
func peerUID(int) (uint32, error) {
	return 0, errors.New("peer credentials are not available on this platform")
}
