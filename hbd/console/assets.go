package console

import (
	"embed"
	"mime"
	"net/http"
	"path"
)

// The page, its script and its style, in the binary: the console works on
// an isolated management network.
//
//go:embed assets
var assets embed.FS

// asset serves one embedded file (404 for anything else).
func (s *Server) asset(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile("assets/" + path.Base(name))
		if err != nil || name != path.Base(name) {
			http.NotFound(w, r)
			return
		}
		securityHeaders(w)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	}
}
