//go:build !amd64

package graph

// kern6x16 is kern6x16Go where no assembly kernel exists.
func kern6x16(k int, a, b, c []float32, ldc int) { kern6x16Go(k, a, b, c, ldc) }

// packRows16 is packRows16Go where no assembly kernel exists.
func packRows16(dst, src []float32, stride, rows int) { packRows16Go(dst, src, stride, rows) }

// useFMA and useAVX512 are false where no assembly kernel exists.
var useFMA, useAVX512 bool
