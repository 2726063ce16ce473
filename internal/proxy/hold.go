package proxy

// Canceler is implemented by a SessionInspector that can hold a client message before it
// is forwarded (a statement waiting for an approval). The client's CancelRequest for the
// session calls Cancel, so cancelling withdraws what is held, as it would cancel a
// statement running on the server; the cancel is forwarded upstream as well.
type Canceler interface {
	Cancel()
}
