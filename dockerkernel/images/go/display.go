// Package display is gophernotes' display package for dockerkernel's Go cells: the values
// that show in a MIME type (HTML, Markdown, LaTeX, SVG, PNG, ...) and the types a notebook
// implements to choose how its own values show (Renderer, SimpleRenderer). Notebooks written
// for gophernotes use it without importing it; a notebook program imports it when a cell
// names `display.` (dockerkernel/notebook_program.py).
//
// The API follows gophernotes' (github.com/gopherdata/gophernotes, its examples/Display.ipynb
// lists it); the code is dockerkernel's. The program's runtime (notebook_runtime.py) shows a
// Data, a Renderer and a SimpleRenderer by their shapes, so it does not import this package.
package display

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"mime"
	"os"
	"path/filepath"
	"strings"
)

// MIME types of the outputs Jupyter frontends render.
const (
	MIMETypeHTML       = "text/html"
	MIMETypeJavaScript = "application/javascript"
	MIMETypeJPEG       = "image/jpeg"
	MIMETypeJSON       = "application/json"
	MIMETypeLatex      = "text/latex"
	MIMETypeMarkdown   = "text/markdown"
	MIMETypePNG        = "image/png"
	MIMETypePDF        = "application/pdf"
	MIMETypeSVG        = "image/svg+xml"
	MIMETypeText       = "text/plain"
)

// MIMEMap holds one output in several MIME types: type -> data.
type MIMEMap = map[string]interface{}

// Data is one Jupyter display_data: its MIME bundle, metadata and transient fields. An alias
// of an unnamed struct, as in gophernotes, so that the runtime recognises it without this package.
type Data = struct {
	Data      MIMEMap
	Metadata  MIMEMap
	Transient MIMEMap
}

// Renderer is a value that chooses its whole display.
type Renderer interface {
	Render() Data
}

// SimpleRenderer is a value that chooses its MIME bundle.
type SimpleRenderer interface {
	SimpleRender() MIMEMap
}

// binary MIME types travel base64-encoded in Jupyter messages
var binary = map[string]bool{MIMETypePNG: true, MIMETypeJPEG: true, MIMETypePDF: true}

// MakeData is data in mimeType, with its fmt.Sprint as the text/plain fallback (a binary
// type's fallback is "<mimeType>").
func MakeData(mimeType string, data interface{}) Data {
	if binary[mimeType] {
		return MakeData3(mimeType, "<"+mimeType+">", data)
	}
	return MakeData3(mimeType, fmt.Sprint(data), data)
}

// MakeData3 is data in mimeType with plaintext as its text/plain fallback.
func MakeData3(mimeType string, plaintext string, data interface{}) Data {
	if b, ok := data.([]byte); ok && binary[mimeType] {
		data = base64.StdEncoding.EncodeToString(b)
	}
	bundle := MIMEMap{MIMETypeText: plaintext}
	if mimeType != MIMETypeText {
		bundle[mimeType] = data
	}
	return Data{Data: bundle}
}

// Any is MakeData: data shown as mimeType.
func Any(mimeType string, data interface{}) Data { return MakeData(mimeType, data) }

// Auto is data as it would show as a cell's value: a Data, Renderer or SimpleRenderer as it
// chooses, an image as a PNG, bytes in the type their first bytes say, anything else as text.
func Auto(data interface{}) Data {
	switch v := data.(type) {
	case Data:
		return v
	case Renderer:
		return v.Render()
	case SimpleRenderer:
		return Data{Data: v.SimpleRender()}
	case image.Image:
		if d, err := Image(v); err == nil {
			return d
		}
	case []byte:
		if t := sniff(v); t != "" {
			return MakeData(t, v)
		}
	}
	return MakeData(MIMETypeText, data)
}

// sniff is the MIME type the first bytes of b say, of those Jupyter renders, or "".
func sniff(b []byte) string {
	head := strings.TrimSpace(string(b[:min(len(b), 512)]))
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return MIMETypePNG
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return MIMETypeJPEG
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return MIMETypePDF
	case strings.HasPrefix(head, "<svg") || strings.HasPrefix(head, "<?xml") && strings.Contains(head, "<svg"):
		return MIMETypeSVG
	}
	return ""
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// File is the contents of the file at path, shown as mimeType; with "", the type its
// extension (mime.TypeByExtension) or its first bytes say.
func File(mimeType string, path string) (Data, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Data{}, err
	}
	if mimeType == "" {
		mimeType = strings.SplitN(mime.TypeByExtension(filepath.Ext(path)), ";", 2)[0]
	}
	if mimeType == "" {
		mimeType = sniff(b)
	}
	if mimeType == "" {
		mimeType = MIMETypeText
	}
	if binary[mimeType] {
		return MakeData(mimeType, b), nil
	}
	return MakeData(mimeType, string(b)), nil
}

// Image is img as a PNG.
func Image(img image.Image) (Data, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Data{}, err
	}
	return PNG(buf.Bytes()), nil
}

func HTML(html string) Data             { return MakeData(MIMETypeHTML, html) }
func JavaScript(javascript string) Data { return MakeData(MIMETypeJavaScript, javascript) }
func JPEG(jpeg []byte) Data             { return MakeData(MIMETypeJPEG, jpeg) }
func Latex(latex string) Data           { return MakeData3(MIMETypeLatex, latex, latex) }
func Markdown(markdown string) Data     { return MakeData(MIMETypeMarkdown, markdown) }
func PDF(pdf []byte) Data               { return MakeData(MIMETypePDF, pdf) }
func PNG(png []byte) Data               { return MakeData(MIMETypePNG, png) }
func SVG(svg string) Data               { return MakeData(MIMETypeSVG, svg) }

// Math is LaTeX math, shown as a display equation.
func Math(latex string) Data { return MakeData3(MIMETypeLatex, latex, "$$"+latex+"$$") }

// JSON is a JSON object, with its indented text as the fallback.
func JSON(object map[string]interface{}) Data {
	text, _ := json.MarshalIndent(object, "", "  ")
	return MakeData3(MIMETypeJSON, string(text), object)
}
