package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// genesis is the Prev of a log's first record.
var genesis = strings.Repeat("0", 2*sha256.Size)

// lineHash is the chain hash of one line: SHA-256 over its exact bytes without the
// newline. Hashing the bytes as written (rather than a re-encoding of the parsed record)
// means the verifier needs no canonicalisation: whatever changes a byte changes the hash.
func lineHash(line []byte) [sha256.Size]byte { return sha256.Sum256(line) }

func hexHash(h [sha256.Size]byte) string {
	var b [2 * sha256.Size]byte // on the stack: one allocation per record, not two
	hex.Encode(b[:], h[:])
	return string(b[:])
}

// signedMessage is what a checkpoint's signature covers: a fixed, line-oriented text with
// a version tag, so the bytes signed never depend on JSON encoding details.
func signedMessage(seq uint64, t time.Time, cp *Checkpoint) []byte {
	return fmt.Appendf(nil, "sluice audit checkpoint v1\nseq=%d\ntime=%s\nreason=%s\nsegment=%d\nlast_seq=%d\nlast_hash=%s\nprev_sig=%s\nkey_id=%s\n",
		seq, t.UTC().Format(time.RFC3339Nano), cp.Reason, cp.Segment, cp.LastSeq, cp.LastHash, cp.PrevSig, cp.KeyID)
}

// sign fills cp.Sig for a checkpoint record with the given seq and time.
func sign(key ed25519.PrivateKey, seq uint64, t time.Time, cp *Checkpoint) {
	cp.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedMessage(seq, t, cp)))
}

// verifySig reports whether cp.Sig is pub's signature of the checkpoint record.
func verifySig(pub ed25519.PublicKey, seq uint64, t time.Time, cp *Checkpoint) bool {
	sig, err := base64.StdEncoding.DecodeString(cp.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, signedMessage(seq, t, cp), sig)
}
