package httpapi

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QRCode is a QR code of a link, as a PNG and as an SVG image.
type QRCode struct {
	PNG []byte `json:"png" doc:"PNG image, base64 in JSON"`
	SVG string `json:"svg" doc:"SVG image"`
}

// qrPixels is the most pixels a QR code's PNG is wide.
const qrPixels = 320

// NewQRCode draws content as a QR code. In the PNG every module is a whole number of pixels,
// as many as fit in 320 (with the quiet zone): a grid scaled by a fraction blurs module edges,
// and readers misjudge the grid of some codes (one in 30 for one reader).
func NewQRCode(content string) (QRCode, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return QRCode{}, fmt.Errorf("qr code: %w", err)
	}
	// A negative size is the size of one module.
	png, err := q.PNG(-max(1, qrPixels/len(q.Bitmap())))
	if err != nil {
		return QRCode{}, fmt.Errorf("qr code: %w", err)
	}
	return QRCode{PNG: png, SVG: svgOf(q.Bitmap())}, nil
}

// svgOf draws a QR bitmap (its quiet zone included) as one SVG path of unit squares.
func svgOf(bits [][]bool) string {
	n := len(bits)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bits {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
