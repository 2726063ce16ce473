package audit

import (
	"errors"
	"fmt"
)

// ErrUnavailable is wrapped by every Append error that means "this record is not in the
// log": a failed write or fsync, a log being repaired, a closed log. The proxy must then
// refuse the statement (SQLSTATE 58030, io_error) rather than run it unaudited.
var ErrUnavailable = errors.New("audit log unavailable")

// ErrClosed is returned by Append after Close. It wraps ErrUnavailable, because for the
// proxy a closed log is a log it cannot write.
var ErrClosed = fmt.Errorf("%w: the log is closed", ErrUnavailable)

// ErrInvalid is wrapped by the errors of Append for a malformed event (no session id, an
// unknown decision, a redacted parameter that carries a value). It is a programming error
// in the caller, distinct from ErrUnavailable; the statement must be refused all the same.
var ErrInvalid = errors.New("invalid audit event")

// WriteError is the error of an Append whose record could not be written or synced. Op
// names the failed operation ("write", "fsync", "create segment", ...), Path the file, Err
// the system error (e.g. syscall.ENOSPC). It wraps both ErrUnavailable and Err, so callers
// can test for either with errors.Is.
type WriteError struct {
	Op   string
	Path string
	Err  error
}

// Error implements error.
func (e *WriteError) Error() string {
	return fmt.Sprintf("%v: %s %s: %v", ErrUnavailable, e.Op, e.Path, e.Err)
}

// Unwrap returns ErrUnavailable and the underlying error.
func (e *WriteError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }
