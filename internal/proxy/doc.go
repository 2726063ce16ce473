// Package proxy is sluice's PostgreSQL wire-protocol proxy: it accepts the connections the
// kernel redirected to it, asks an origin.Lookup who opened each one (no origin: the
// connection is closed), serves the client side of the startup itself (TLS, protocol
// negotiation, cancel keys; the client is never asked for a password), opens the upstream
// connection with the agent's own credentials through pgconn, and then relays the session.
//
// The relay passes messages through as raw frames and decodes only what it must (the
// statement boundaries it counts, and whatever an Inspector asked to see), so an unused
// Inspector costs nothing per message. Statements an Inspector denies are answered with an
// ErrorResponse produced by the server itself for a harmless injected statement and then
// rewritten, so a denial aborts the transaction exactly like a real error would.
package proxy
