// Package ui holds the web UI's files, embedded into the binary so haul
// needs nothing beside itself. It is a leaf: it imports nothing of haul's.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Static returns the UI's static files (index.html, app.js, style.css),
// rooted at the static directory.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
