package main

import (
	"fmt"
	"image"
	_ "image/jpeg" // QR images may be photos
	_ "image/png"
	"os"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// readQRFile decodes the QR code in an image file, as a phone's camera would read the
// security page's code.
func readQRFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("qr image: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return "", fmt.Errorf("qr image %s: %w", path, err)
	}
	return decodeQR(img)
}

// decodeQR returns the text of the QR code in img.
func decodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("qr image: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		// The detector, made for photos, misjudges the grid of about 1 in 30 pristine codes
		// (an image saved from the page, as the server drew it). Such an image is read whole,
		// as a pure barcode.
		pure, perr := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
		if perr != nil {
			return "", fmt.Errorf("qr image: no QR code found: %w", err)
		}
		res = pure
	}
	return res.GetText(), nil
}
