package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestSealingKey: secrets.key is 32 bytes in hex or any base64 alphabet;
// anything else is a problem of Validate naming the key and saying how to
// make one.
func TestSealingKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, 32) // 0xfb makes + and / in base64
	tests := []struct {
		name, value string
		want        []byte // nil with wantErr: refused
		wantErr     string
	}{
		{name: "none", value: ""},
		{name: "hex", value: hex.EncodeToString(key), want: key},
		{name: "hex, upper case, newline", value: strings.ToUpper(hex.EncodeToString(key)) + "\n", want: key},
		{name: "base64", value: base64.StdEncoding.EncodeToString(key), want: key},
		{name: "base64 url, unpadded", value: base64.RawURLEncoding.EncodeToString(key), want: key},
		{name: "too short", value: base64.StdEncoding.EncodeToString(key[:16]), wantErr: "decodes to 16 bytes; it must be 32"},
		{name: "hex too short", value: hex.EncodeToString(key[:31]), wantErr: "decodes to"},
		{name: "a password", value: "correct horse battery staple", wantErr: "neither 64 hex digits nor base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Sealing.Key = Secret(tt.value)
			got, err := c.Sealing.KeyBytes()
			verr := c.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("KeyBytes() error = %v, want one saying %q", err, tt.wantErr)
				}
				if verr == nil || !strings.Contains(verr.Error(), "secrets.key") || strings.Contains(verr.Error(), tt.value) {
					t.Errorf("Validate() = %v, want a problem naming secrets.key and not showing the value", verr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) || verr != nil {
				t.Fatalf("KeyBytes() = %x, %v; Validate() = %v; want %x", got, err, verr, tt.want)
			}
		})
	}
}
