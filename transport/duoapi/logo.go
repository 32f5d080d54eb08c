package duoapi

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
)

// drawLogo draws the PNG that /auth/v2/logo answers: Assent's mark, a white check on a
// round dark-blue field, 128 pixels wide. Duo answers the logo its administrator uploaded;
// Assent has one logo.
func drawLogo() []byte {
	const n = 128
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	blue := color.NRGBA{R: 0x1f, G: 0x3a, B: 0x68, A: 0xff}
	white := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	for y := range n {
		for x := range n {
			dx, dy := x-n/2, y-n/2
			if dx*dx+dy*dy <= (n/2-2)*(n/2-2) {
				img.Set(x, y, blue)
			}
		}
	}
	// The check: a short stroke down to the right, then a long one up to the right.
	stroke := func(x0, y0, x1, y1 int) {
		steps := max(abs(x1-x0), abs(y1-y0))
		for i := 0; i <= steps; i++ {
			x, y := x0+(x1-x0)*i/steps, y0+(y1-y0)*i/steps
			for oy := -5; oy <= 5; oy++ {
				for ox := -5; ox <= 5; ox++ {
					img.Set(x+ox, y+oy, white)
				}
			}
		}
	}
	stroke(36, 66, 56, 86)
	stroke(56, 86, 94, 42)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return b.Bytes()
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
