package oidclocal

import (
	"bytes"
	"encoding/json"
	"net/http"
)

const (
	discoveryPath = "/.well-known/openid-configuration"
	jwksPath      = "/jwks"
	oversizedPath = "/oversized-jwks"
	// oversizedPadding is how many bytes the oversized key set carries beyond its keys: more
	// than any real provider's key set, so a verifier's response cap must trip on it.
	oversizedPadding = 2 << 20
)

// handler routes the provider's endpoints. Each counts its requests before anything else, so
// the counters include requests answered 503.
func (is *Issuer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+discoveryPath, func(w http.ResponseWriter, r *http.Request) {
		is.discoveryHits.Add(1)
		if is.refuse(w) {
			return
		}
		writeJSON(w, is.discovery())
	})
	mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		if is.refuse(w) {
			return
		}
		writeJSON(w, is.JWKS())
	})
	mux.HandleFunc("GET "+oversizedPath, func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		if is.refuse(w) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[],"padding":"`))
		_, _ = w.Write(bytes.Repeat([]byte("x"), oversizedPadding))
		_, _ = w.Write([]byte(`"}`))
	})
	return mux
}

// discovery is the OpenID Provider Metadata document: the fields OpenID Connect Discovery 1.0
// requires, with the key set at JWKSURL unless SetJWKSURI named another.
func (is *Issuer) discovery() map[string]any {
	jwksURI := is.JWKSURL()
	if u := is.jwksURI.Load(); u != nil {
		jwksURI = *u
	}
	return map[string]any{
		"issuer":                                is.url,
		"jwks_uri":                              jwksURI,
		"authorization_endpoint":                is.url + "/authorize",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": supportedAlgorithms(),
	}
}

// refuse answers 503 if the issuer is set unavailable, and reports whether it did.
func (is *Issuer) refuse(w http.ResponseWriter) bool {
	if !is.unavailable.Load() {
		return false
	}
	http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v) // a failed write is the client's loss
}

// JWKSURL is the URL of the key set the discovery document names by default, for
// configurations that skip discovery and name the key set directly.
func (is *Issuer) JWKSURL() string { return is.url + jwksPath }

// OversizedJWKSURL serves a syntactically valid key set padded to over 2 MiB. It exists only for
// tests: a verifier must cap what it reads from a provider (go-oidc reads whole bodies into
// memory), and only a real oversized response proves the cap works. No discovery document names
// it unless SetJWKSURI points there; requests count as JWKSHits.
func (is *Issuer) OversizedJWKSURL() string { return is.url + oversizedPath }

// DiscoveryHits is the number of discovery requests served so far, so callers can check what a
// verifier fetched (and that it did not fetch at all).
func (is *Issuer) DiscoveryHits() int64 { return is.discoveryHits.Load() }

// JWKSHits is the number of key set requests served so far, on either key set URL, so callers
// can check when a verifier refetched keys and that a refetch limit holds.
func (is *Issuer) JWKSHits() int64 { return is.jwksHits.Load() }

// SetUnavailable makes every endpoint answer 503 (true) or serve normally again (false), as a
// provider in trouble does, to test that verification fails closed and recovers.
func (is *Issuer) SetUnavailable(down bool) { is.unavailable.Store(down) }

// SetJWKSURI sets the jwks_uri the discovery document names, to test what a verifier does with
// a key set URL it must refuse (plain http, another host, an oversized set). "" restores the
// default, JWKSURL.
func (is *Issuer) SetJWKSURI(uri string) {
	if uri == "" {
		is.jwksURI.Store(nil)
		return
	}
	is.jwksURI.Store(&uri)
}
