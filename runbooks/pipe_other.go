//go:build !linux

package runbooks

import "os"

// growPipe is a no-op where the pipe size cannot be set.
func growPipe(*os.File) bool { return false }
