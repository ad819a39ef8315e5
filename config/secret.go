package config

// Secret is a configuration value that must never be printed: its String and
// MarshalText methods redact it. Value returns the real value.
type Secret string

// Value returns the secret in clear, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// MarshalText redacts the secret in any encoding of the config.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
