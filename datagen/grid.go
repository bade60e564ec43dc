package datagen

import (
	"image"
	"image/color"
	"image/png"
	"io"
)

const (
	gridColumns = 4
	gridScale   = 4 // screen pixels per scene pixel
	gridBorder  = 2 // pixels of grey between scenes
)

// writeGrid writes scenes as a PNG grid of gridColumns columns, each scene enlarged
// gridScale times and framed in grey.
func writeGrid(w io.Writer, scenes []scene) error {
	rows := max(1, (len(scenes)+gridColumns-1)/gridColumns)
	cell := SceneSize*gridScale + gridBorder
	img := image.NewRGBA(image.Rect(0, 0, gridColumns*cell+gridBorder, rows*cell+gridBorder))
	grey := color.RGBA{R: 96, G: 96, B: 96, A: 255}
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			img.SetRGBA(x, y, grey)
		}
	}
	for i, sc := range scenes {
		top := (i/gridColumns)*cell + gridBorder
		left := (i%gridColumns)*cell + gridBorder
		for y := range SceneSize * gridScale {
			for x := range SceneSize * gridScale {
				p := sc.pixels[((y/gridScale)*SceneSize+x/gridScale)*3:]
				img.SetRGBA(left+x, top+y, color.RGBA{R: toByte(p[0]), G: toByte(p[1]), B: toByte(p[2]), A: 255})
			}
		}
	}
	return png.Encode(w, img)
}

// toByte maps v in [0, 1] to 0–255, rounding to nearest.
func toByte(v float32) uint8 {
	return uint8(min(max(v, 0), 1)*255 + 0.5)
}
