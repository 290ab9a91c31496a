package auth

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Media types of a GraphQL response (GraphQL over HTTP).
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// maxAuthHeaderLen bounds the Authorization header: "Bearer " and a token.
const maxAuthHeaderLen = len("Bearer ") + MaxTokenLen

// Middleware authenticates every request it wraps: a valid bearer token puts
// its Principal in the request context; anything else is answered 401 with a
// GraphQL-shaped body, {"errors":[{"message":...,"extensions":{"code":
// "UNAUTHENTICATED"}}]}, and never reaches next.
//
// Mount it on the routes that need a caller (GraphQL, report, export) and
// leave /healthz and /readyz outside it; when it must wrap a whole mux instead,
// list the open paths in Config.OpenPaths (HealthPaths).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v.open[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		token, err := bearer(r.Header)
		if err == nil {
			var p *Principal
			if p, err = v.Verify(r.Context(), token); err == nil {
				next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
				return
			}
		}
		Unauthorized(w, r, err)
	})
}

// bearer extracts the token from exactly one "Authorization: Bearer <token>"
// header. Two headers are refused rather than one picked: proxies and the app
// might pick differently.
func bearer(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrMissingToken
	case 1:
	default:
		return "", ErrDuplicateHeaders
	}
	v := strings.TrimSpace(values[0])
	if v == "" {
		return "", ErrMissingToken
	}
	if len(v) > maxAuthHeaderLen {
		return "", ErrMalformedToken
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrWrongScheme
	}
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return "", ErrMissingToken
	}
	return token, nil
}

// Unauthorized answers a request that failed authentication: status 401, a
// WWW-Authenticate challenge (RFC 6750 §3: no error code when no credentials
// were sent, invalid_request for a malformed header, invalid_token otherwise)
// and a GraphQL error body with code UNAUTHENTICATED. err should be an *Error;
// any other error is reported as a generic failure, never echoed.
func Unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Reason: "authentication failed"}
	}
	challenge := `Bearer realm="gridhub"`
	switch e.Reason {
	case ErrMissingToken.Reason:
	case ErrDuplicateHeaders.Reason, ErrWrongScheme.Reason:
		challenge += `, error="invalid_request"`
	default:
		challenge += `, error="invalid_token"`
	}
	body, _ := json.Marshal(map[string]any{
		"errors": []any{map[string]any{
			"message":    e.Reason,
			"extensions": map[string]string{"code": "UNAUTHENTICATED"},
		}},
	})
	body = append(body, '\n')
	hdr := w.Header()
	hdr.Set("WWW-Authenticate", challenge)
	hdr.Set("Content-Type", responseType(r.Header.Values("Accept")))
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(body)
}

// responseType picks application/graphql-response+json when the client ranks
// it at least as high as application/json, as GraphQL over HTTP asks; plain
// application/json otherwise, which every legacy client reads.
func responseType(accept []string) string {
	gqlQ, jsonQ := -1.0, -1.0
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					continue
				}
			}
			switch mt {
			case mediaGraphQLResponse:
				gqlQ = max(gqlQ, q)
			case mediaJSON:
				jsonQ = max(jsonQ, q)
			}
		}
	}
	if gqlQ > 0 && gqlQ >= jsonQ {
		return mediaGraphQLResponse
	}
	return mediaJSON
}
