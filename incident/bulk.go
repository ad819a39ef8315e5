package incident

// AlertLoader is an optional capability of a Tx: the entries of many
// alerts of one incident read at once. A webhook carries up to hundreds of
// alerts and ingest looks up each; a store across a network (PostgreSQL)
// answers them in one round trip instead of one each. store/bolt, in
// process, does without.
type AlertLoader interface {
	// AlertsOf returns the stored entries of incident n among
	// fingerprints, by fingerprint; absent ones are left out. The entries
	// are copies.
	AlertsOf(n int64, fingerprints []string) (map[string]*AlertEntry, error)
}

// alertsOf reads the entries of alerts in incident n: through the
// AlertLoader when tx (or the Tx a dry run wraps) has one, else one Alert
// call each.
func alertsOf(tx Tx, n int64, alerts []Alert) (map[string]*AlertEntry, error) {
	inner := tx
	if d, ok := tx.(dryTx); ok {
		inner = d.Tx
	}
	fps := make([]string, len(alerts))
	for i, a := range alerts {
		fps[i] = a.Fingerprint
	}
	if l, ok := inner.(AlertLoader); ok {
		return l.AlertsOf(n, fps)
	}
	out := make(map[string]*AlertEntry, len(alerts))
	for _, fp := range fps {
		e, ok, err := tx.Alert(n, fp)
		if err != nil {
			return nil, err
		}
		if ok {
			out[fp] = e
		}
	}
	return out, nil
}
