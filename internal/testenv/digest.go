package testenv

import (
	"crypto/sha256"
	"fmt"
	"hash"
)

// Digest hashes and counts what is written to it, so a test can compare a large stream
// (a COPY TO of 100 MB) through the proxy with the same stream direct without keeping it.
type Digest struct {
	h hash.Hash
	// N is the number of bytes written.
	N int64
}

// NewDigest returns an empty SHA-256 Digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Write hashes p.
func (d *Digest) Write(p []byte) (int, error) {
	d.N += int64(len(p))
	return d.h.Write(p)
}

// Sum returns the hex SHA-256 of everything written.
func (d *Digest) Sum() string { return fmt.Sprintf("%x", d.h.Sum(nil)) }
