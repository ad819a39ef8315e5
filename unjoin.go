package tebura

import "errors"

// Unjoin returns the errors joined in err (errors.Join, or any error with
// Unwrap() []error), flattened at every depth, in order: the list of
// problems a validator returns as one error, ready to print one a line or
// to place at the key each names. A wrapper around a join
// (fmt.Errorf("...: %w", errors.Join(...)), as mapstructure returns) is
// looked through, its own words dropped: the leaves carry the detail. An
// error that joins nothing is returned alone; nil gives nil.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, x := range j.Unwrap() {
				out = append(out, Unjoin(x)...)
			}
			return out
		}
	}
	return []error{err}
}
