// Package record is the format of the values Tebura's stores keep: JSON
// objects that start with a "v":1 field. store/bolt and store/postgres
// both write it, so a record copied from one store to the other (tebura
// store migrate) keeps its format, and a future format is refused by a
// release that cannot read it instead of being misread.
package record

import (
	"encoding/json"
	"fmt"
)

// Version is the value of the "v" field of every record.
const Version = 1

// versionPrefix starts every record Marshal writes.
const versionPrefix = `{"v":1`

// Marshal encodes v (which must encode as a JSON object) with a leading
// "v":1 field.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("%T does not encode as a JSON object", v)
	}
	out := make([]byte, 0, len(versionPrefix)+len(b))
	out = append(out, versionPrefix...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	return append(out, b[1:]...), nil
}

// Unmarshal decodes a record written by Marshal into v, refusing other
// versions. Decoding copies, so v stays valid after the bytes are reused.
func Unmarshal(data []byte, v any) error {
	n := len(versionPrefix)
	fast := len(data) > n && string(data[:n]) == versionPrefix && (data[n] == ',' || data[n] == '}')
	if !fast {
		var hdr struct {
			V int `json:"v"`
		}
		if err := json.Unmarshal(data, &hdr); err != nil {
			return fmt.Errorf("decode record header: %w", err)
		}
		if hdr.V != Version {
			return fmt.Errorf("record version %d, this tebura reads version %d; upgrade tebura", hdr.V, Version)
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}
