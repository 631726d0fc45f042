package notify

import (
	"embed"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// The templates: templates/layout.txt and templates/layout.html define
// "layout" and the shared blocks; each kind has <kind>.txt, defining
// "subject" and "content", and <kind>.html, defining "content".
//
//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

type templateSet struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// templates holds one parsed set per kind; parsing embedded files cannot
// fail at run time, so a mistake panics when the package loads (and in its
// tests).
var templates = parseTemplates()

func parseTemplates() map[string]templateSet {
	funcs := texttemplate.FuncMap{
		// indent continues a multi-line value under its "Label: " line.
		"indent": func(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") },
	}
	textBase := texttemplate.Must(texttemplate.New("").Option("missingkey=error").Funcs(funcs).
		ParseFS(templateFS, "templates/layout.txt"))
	htmlBase := htmltemplate.Must(htmltemplate.New("").Option("missingkey=error").
		ParseFS(templateFS, "templates/layout.html"))
	sets := make(map[string]templateSet)
	for _, kind := range Kinds() {
		t := texttemplate.Must(texttemplate.Must(textBase.Clone()).
			ParseFS(templateFS, "templates/"+kind+".txt"))
		h := htmltemplate.Must(htmltemplate.Must(htmlBase.Clone()).
			ParseFS(templateFS, "templates/"+kind+".html"))
		for _, name := range []string{"subject", "content", "layout"} {
			if t.Lookup(name) == nil {
				panic("notify: templates/" + kind + ".txt defines no " + name)
			}
		}
		for _, name := range []string{"content", "layout"} {
			if h.Lookup(name) == nil {
				panic("notify: templates/" + kind + ".html defines no " + name)
			}
		}
		sets[kind] = templateSet{text: t, html: h}
	}
	return sets
}
