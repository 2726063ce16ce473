package proxy

import (
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the proxy itself answers with.
const (
	CodeProtocolViolation     = "08P01" // malformed or oversized message, protocol misuse
	CodeConnectionRejected    = "08004" // no target for the original destination
	CodeUnableToConnect       = "08001" // the upstream connection could not be opened
	CodeInvalidAuthorization  = "28000" // user or database name not allowed
	CodeInsufficientPrivilege = "42501" // a statement denied by the Inspector
	CodeFeatureNotSupported   = "0A000" // FunctionCall, replication, unknown protocol
	CodeAdminShutdown         = "57P01" // the agent is shutting down
	CodeCannotConnectNow      = "57P03" // a session would start while the agent shuts down
	CodeInternalError         = "XX000" // an Inspector failed on a result
)

// Severities of the errors the proxy sends: ERROR keeps the session, FATAL ends it.
const (
	severityError = "ERROR"
	severityFatal = "FATAL"
)

// Error is an error the client receives as a PostgreSQL ErrorResponse. An Inspector
// returns one to choose the SQLSTATE and wording of a refusal; any other error is sent
// with a default code and its text as the message.
type Error struct {
	Code    string // SQLSTATE
	Message string
	Detail  string
	Hint    string
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// asError returns err as an *Error: itself when it is one (anywhere in its chain),
// otherwise an Error with code and err's text.
func asError(err error, code string) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Code: code, Message: err.Error()}
}

// response encodes e with the given severity ("ERROR" keeps the session, "FATAL" ends it).
func (e *Error) response(severity string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            severity,
		SeverityUnlocalized: severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
}

// Fatal wraps e so that, returned by an Inspector's ClientMessage, it ends the session
// instead of refusing one statement: the client receives e as a FATAL ErrorResponse and
// the connection closes. For refusals that no retry can cure within the session, such as
// an identity grant that expired.
func Fatal(e *Error) error { return &fatalError{e: e} }

type fatalError struct{ e *Error }

func (f *fatalError) Error() string { return f.e.Error() }
func (f *fatalError) Unwrap() error { return f.e }
