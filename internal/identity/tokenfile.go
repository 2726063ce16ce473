package identity

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// tokenFiles caches the identities verified from token files (Kubernetes projected tokens,
// static token files), so a per-statement lookup costs a map access, not a file read and a
// signature check.
type tokenFiles struct {
	recheck time.Duration
	mu      sync.Mutex
	byPath  map[string]*tokenFile
}

// tokenFile is one token file and what was last verified from it.
type tokenFile struct {
	path string
	mu   sync.Mutex
	// checked is when the file was last stat'ed; zero forces a check.
	checked time.Time
	// info identifies the version of the file id and err were read from.
	info   os.FileInfo
	id     Identity
	claims claims
	err    error
}

// identity returns the identity verified from the token file at path; see tokenFile.identity.
func (t *tokenFiles) identity(ctx context.Context, v *Verifier, path string) (Identity, claims, error) {
	return t.file(path).identity(ctx, v, t.recheck)
}

// file returns the cache entry of path, creating it on first use.
func (t *tokenFiles) file(path string) *tokenFile {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byPath[path]
	if !ok {
		f = &tokenFile{path: path}
		t.byPath[path] = f
	}
	return f
}

// prune forgets the files no cached cgroup refers to any more.
func (t *tokenFiles) prune(keep map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.byPath {
		if !keep[p] {
			delete(t.byPath, p)
		}
	}
}

// identity returns the identity verified from the file's current token. The file is stat'ed at
// most once per recheck interval, or on every call once its identity has expired, so a
// rotation (the kubelet swaps in a new token well before expiry) is seen within the interval
// and an expired token is replaced as soon as the file is. The token is read and verified again
// only when the file changed or the last attempt failed, since a failure may have been an
// unreachable provider.
func (f *tokenFile) identity(ctx context.Context, v *Verifier, recheck time.Duration) (Identity, claims, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := v.now()
	if !f.checked.IsZero() && now.Sub(f.checked) < recheck && (f.err != nil || v.checkValid(f.id) == nil) {
		return f.id, f.claims, f.err
	}
	f.checked = now
	info, err := os.Stat(f.path)
	if err != nil {
		f.info, f.id, f.claims, f.err = nil, Identity{}, nil, err
		return Identity{}, nil, err
	}
	if f.err == nil && f.info != nil && sameVersion(f.info, info) {
		return f.id, f.claims, nil
	}
	id, c, err := readAndVerify(ctx, v, f.path)
	if ctx.Err() != nil {
		f.checked = time.Time{} // the caller gave up; that says nothing about the file
	}
	f.info, f.id, f.claims, f.err = info, id, c, err
	return id, c, err
}

// sameVersion reports whether two stats show the same version of a file. The kubelet and
// careful operators replace token files by renaming a new file over the old one (a new inode);
// an in-place rewrite changes the modification time or size.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// readAndVerify reads a token file, at most maxTokenSize+1 bytes so an oversized file is
// reported as such, and verifies its token.
func readAndVerify(ctx context.Context, v *Verifier, path string) (Identity, claims, error) {
	f, err := os.Open(path)
	if err != nil {
		return Identity{}, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenSize+1))
	if err != nil {
		return Identity{}, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return v.verify(ctx, string(data))
}
