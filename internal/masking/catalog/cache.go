package catalog

import (
	"sync"
	"time"
)

// cache holds answers until the next Invalidate or until they expire. Misses are not
// cached: a relation or function that does not exist yet may be created at any time, also
// by someone not going through sluice, and must be seen as soon as it does.
type cache struct {
	mu    sync.Mutex
	at    time.Time
	names map[[2]string][]uint32
	rels  map[uint32]*Relation
	types map[uint32]*Type
	funcs map[[2]string][]Function
	casts map[castKey]castValue
}

type castKey struct {
	value  string
	typ    uint32
	typmod int32
}

type castValue struct {
	text, binary []byte
	err          error
}

func (c *cache) reset(now time.Time) {
	c.mu.Lock()
	c.at = now
	c.names = map[[2]string][]uint32{}
	c.rels = map[uint32]*Relation{}
	c.types = map[uint32]*Type{}
	c.funcs = map[[2]string][]Function{}
	c.casts = map[castKey]castValue{}
	c.mu.Unlock()
}

func (c *cache) expired(now time.Time, ttl time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Sub(c.at) > ttl
}

// get looks key up in one of the maps under the lock.
func get[K comparable, V any](c *cache, m func(*cache) map[K]V, key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := m(c)[key]
	return v, ok
}

func put[K comparable, V any](c *cache, m func(*cache) map[K]V, key K, v V) {
	c.mu.Lock()
	m(c)[key] = v
	c.mu.Unlock()
}
