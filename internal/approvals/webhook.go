package approvals

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Webhook returns a Notify function that POSTs each request as JSON to url. The body has a
// Slack-compatible "text" summary besides the request's fields, so an incoming-webhook URL
// works as is. Failures are logged: the request still waits for `sluice approvals`.
func Webhook(url string, client *http.Client, log *slog.Logger) func(Request) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return func(r Request) {
		body, err := json.Marshal(struct {
			Text    string  `json:"text"`
			Request Request `json:"request"`
		}{
			Text: fmt.Sprintf("sluice: %s (%s) wants to run a statement held by rule %s: %s — approve with `sluice approvals approve %s` before %s",
				r.Subject, r.Cgroup, r.Rule, truncate(r.Text, 300), r.ID, r.Expires.Format(time.RFC3339)),
			Request: r,
		})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			log.Error("approval webhook", "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			log.Error("approval webhook", "request", r.ID, "err", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			log.Error("approval webhook", "request", r.ID, "status", resp.Status)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
