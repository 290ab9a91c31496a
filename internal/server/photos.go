package server

import (
	"net/http"
	"strconv"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/gridwork"
)

// eventPhoto serves GET /events/{id}/photos/{n}: a photo of an event, to a
// caller who may read the event (its grid in scope, or its reporter), and to
// no one else: an event out of scope answers 404 as one that does not exist.
// The bytes are served as the type the hub recognised when it took them,
// never sniffed again by the browser, never cached by a shared cache.
func eventPhoto(work *gridwork.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, ok := auth.FromContext(r.Context())
		if !ok {
			auth.Unauthorized(w, r, nil)
			return
		}
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 1 || n > 10 {
			http.NotFound(w, r)
			return
		}
		e, err := work.Event(r.Context(), r.PathValue("id"))
		if err != nil || e == nil || !graph.EventVisible(pr, e) {
			http.NotFound(w, r)
			return
		}
		ct, data, err := work.PhotoBytes(r.Context(), e.ID, n)
		if err != nil {
			http.Error(w, "photo unavailable", http.StatusInternalServerError)
			return
		}
		if data == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Length", strconv.Itoa(len(data)))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "private, no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		h.Set("Content-Disposition", "inline")
		w.Write(data)
	})
}
