package roles

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/xdg-go/scram"
)

// scramIterations is PostgreSQL's default iteration count (scram_iterations).
const scramIterations = 4096

// scramVerifier returns the form in which PostgreSQL stores a SCRAM-SHA-256 password,
// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", which CREATE ROLE accepts
// in place of the password (as libpq's PQencryptPasswordConn sends it). The password itself
// then never appears in a statement, so not in the server's log, pg_stat_activity or
// pg_stat_statements; the verifier only lets the server check a login, and a 256-bit random
// password cannot be recovered from it.
func scramVerifier(password string) (string, error) {
	client, err := scram.SHA256.NewClient("", password, "")
	if err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	creds, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(creds.StoredKey), b64(creds.ServerKey)), nil
}
