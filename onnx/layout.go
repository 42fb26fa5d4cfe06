package onnx

import "fmt"

// NHWCToNCHW writes one image of hw pixels and c channels, channels-last in
// src, into dst channels-first. It works in blocks of pixels whose values
// stay in cache while each channel's run of them is written. It panics if
// src or dst holds fewer than c*hw values.
func NHWCToNCHW(dst, src []float32, c, hw int) {
	if len(src) < c*hw || len(dst) < c*hw {
		panic(fmt.Sprintf("onnx: NHWCToNCHW of %d channels and %d pixels: src holds %d values, dst %d", c, hw, len(src), len(dst)))
	}
	const block = 512
	for i0 := 0; i0 < hw; i0 += block {
		i1 := min(i0+block, hw)
		blk := src[i0*c : i1*c]
		for k := 0; k < c; k++ {
			row := dst[k*hw+i0 : k*hw+i1]
			for j := range row {
				row[j] = blk[j*c+k]
			}
		}
	}
}

// nhwcToNCHWRef is the plain form of NHWCToNCHW that the tests compare it against.
func nhwcToNCHWRef(dst, src []float32, c, hw int) {
	for i := 0; i < hw; i++ {
		for k := 0; k < c; k++ {
			dst[k*hw+i] = src[i*c+k]
		}
	}
}
