package masking

import (
	"regexp"

	"github.com/jackc/pgx/v5/pgproto3"
)

// quoted finds what PostgreSQL's messages quote: values in input errors (invalid input
// syntax for type integer: "..."), and identifiers.
var quoted = regexp.MustCompile(`"(?:[^"]|"")*"`)

// withheld replaces the parts of a message that may hold a masked value.
const withheld = "[withheld by sluice: the statement reads masked columns]"

// scrubError returns the error or notice with sensitive values removed, or nil if nothing
// changed. Every text field is scrubbed by the content detectors. When the statement that
// caused it reads tables with masked columns, the message's quoted strings (where input
// functions quote the value they rejected) are masked too, and the detail and context
// (where PostgreSQL shows failing rows, conflicting keys and the text being parsed) are
// withheld.
func (s *Session) scrubError(m *pgproto3.ErrorResponse, notice bool) *pgproto3.ErrorResponse {
	h := s.head()
	if !notice && h != nil && (h.kind == 'q' || h.kind == 'x') {
		return nil // the answer to the proxy's stand-in: its own refusal, already in place
	}
	sensitive := true
	if sp := s.current(); sp != nil && h != nil {
		sensitive = sp.sensitive
	} else if h == nil {
		sensitive = false // not caused by a statement: an asynchronous notice, a shutdown
	}
	d := s.e.state.Load().detector
	out := *m
	changed := false
	scrub := func(p *string) {
		if v, hit := d.MaskString(*p); hit {
			*p, changed = v, true
		}
	}
	for _, p := range []*string{&out.Message, &out.Detail, &out.Hint, &out.Where, &out.InternalQuery} {
		scrub(p)
	}
	if len(m.UnknownFields) > 0 {
		out.UnknownFields = make(map[byte]string, len(m.UnknownFields))
		for k, v := range m.UnknownFields {
			scrub(&v)
			out.UnknownFields[k] = v
		}
	}
	if sensitive {
		if q := quoted.ReplaceAllString(out.Message, `"`+withheld+`"`); q != out.Message {
			out.Message, changed = q, true
		}
		for _, p := range []*string{&out.Detail, &out.Where, &out.InternalQuery} {
			if *p != "" {
				*p, changed = withheld, true
			}
		}
	}
	if !changed {
		return nil
	}
	return &out
}

// scrubNotification masks detector findings in a notification's channel and payload: a
// NOTIFY payload built from masked columns has no origin to mask it by.
func (s *Session) scrubNotification(m *pgproto3.NotificationResponse) pgproto3.BackendMessage {
	d := s.e.state.Load().detector
	ch, hit1 := d.MaskString(m.Channel)
	payload, hit2 := d.MaskString(m.Payload)
	if !hit1 && !hit2 {
		return nil
	}
	return &pgproto3.NotificationResponse{PID: m.PID, Channel: ch, Payload: payload}
}
