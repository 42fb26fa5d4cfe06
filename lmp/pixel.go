package lmp

import (
	"fmt"
	"math"
)

// checkPixelArgs panics (a programmer error) when the slice lengths do not match the shape.
func checkPixelArgs(fn string, logits []float32, labels []int32, n, c, hw int, outs ...int) {
	if n < 0 || c < 1 || hw < 0 || len(logits) != n*c*hw || len(labels) != n*hw {
		panic(fmt.Sprintf("lmp: %s: shape n=%d c=%d hw=%d does not match len(logits)=%d, len(labels)=%d",
			fn, n, c, hw, len(logits), len(labels)))
	}
	for _, l := range outs {
		if l >= 0 && l != len(labels) && l != len(logits) {
			panic(fmt.Sprintf("lmp: %s: output length %d does not match the shape", fn, l))
		}
	}
}

// SoftmaxCE writes for every pixel i of the NCHW logits (n images, c classes, hw pixels each)
// the cross-entropy dstCE[i] = -log softmax(z_i)[labels[i]] and dstProb[i] = softmax(z_i)[labels[i]].
// Pixel i = k*hw + j of image k has the logits logits[(k*c+ch)*hw + j]. Pixels whose label is
// ignore or outside [0, c) get CE 0 and probability 1. The softmax subtracts the per-pixel
// maximum, so any finite logits are safe. dstProb may be nil. Mismatched lengths panic.
func SoftmaxCE(dstCE, dstProb, logits []float32, labels []int32, n, c, hw int, ignore int32) {
	lp := -1
	if dstProb != nil {
		lp = len(dstProb)
		if lp != n*hw {
			lp = -2
		}
	}
	checkPixelArgs("SoftmaxCE", logits, labels, n, c, hw)
	if len(dstCE) != n*hw || lp == -2 {
		panic(fmt.Sprintf("lmp: SoftmaxCE: len(dstCE) = %d, len(dstProb) = %d, want %d", len(dstCE), len(dstProb), n*hw))
	}
	mx := make([]float32, hw)
	sum := make([]float64, hw)
	for k := 0; k < n; k++ {
		z, lab := imageStats(mx, sum, logits, labels, k, c, hw)
		ce := dstCE[k*hw : (k+1)*hw]
		for j, y := range lab {
			if y == ignore || y < 0 || int(y) >= c {
				ce[j] = 0
				if dstProb != nil {
					dstProb[k*hw+j] = 1
				}
				continue
			}
			// CE = log sum exp(z - max) - (z_y - max) >= 0.
			v := math.Log(sum[j]) - float64(z[int(y)*hw+j]-mx[j])
			if v < 0 {
				v = 0
			}
			ce[j] = float32(v)
			if dstProb != nil {
				dstProb[k*hw+j] = float32(math.Exp(-v))
			}
		}
	}
}

// imageStats returns image k's logits z (c x hw) and labels (hw) from the batch, with
// softmaxStats of z in mx and sum.
func imageStats(mx []float32, sum []float64, logits []float32, labels []int32, k, c, hw int) (z []float32, lab []int32) {
	z = logits[k*c*hw : (k+1)*c*hw]
	softmaxStats(mx, sum, z, c, hw)
	return z, labels[k*hw : (k+1)*hw]
}

// softmaxStats writes the per-pixel maximum over the c channels of z (c x hw) into mx and
// sum_ch exp(z - max) into sum, channel-major so that every loop runs over contiguous memory.
func softmaxStats(mx []float32, sum []float64, z []float32, c, hw int) {
	copy(mx, z[:hw])
	for ch := 1; ch < c; ch++ {
		for j, v := range z[ch*hw : (ch+1)*hw] {
			if v > mx[j] {
				mx[j] = v
			}
		}
	}
	clear(sum)
	for ch := 0; ch < c; ch++ {
		for j, v := range z[ch*hw : (ch+1)*hw] {
			sum[j] += math.Exp(float64(v - mx[j]))
		}
	}
}

// SoftmaxCEGrad writes into dst (the shape of logits) the gradient coef[i]*(softmax(z_i) -
// onehot(labels[i])) for every pixel i: the gradient of sum_i coef[i]*CE_i with respect to
// the logits. Pixels whose label is ignore or outside [0, c) get zero. Mismatched lengths panic.
func SoftmaxCEGrad(dst, logits []float32, labels []int32, coef []float32, n, c, hw int, ignore int32) {
	checkPixelArgs("SoftmaxCEGrad", logits, labels, n, c, hw)
	if len(dst) != len(logits) || len(coef) != len(labels) {
		panic(fmt.Sprintf("lmp: SoftmaxCEGrad: len(dst) = %d, len(coef) = %d, want %d and %d", len(dst), len(coef), len(logits), len(labels)))
	}
	mx := make([]float32, hw)
	sum := make([]float64, hw)
	scale := make([]float64, hw)
	for k := 0; k < n; k++ {
		z, lab := imageStats(mx, sum, logits, labels, k, c, hw)
		d := dst[k*c*hw : (k+1)*c*hw]
		cf := coef[k*hw : (k+1)*hw]
		for j, y := range lab {
			if y == ignore || y < 0 || int(y) >= c {
				scale[j] = 0
			} else {
				scale[j] = float64(cf[j]) / sum[j]
			}
		}
		for ch := 0; ch < c; ch++ {
			zc := z[ch*hw : (ch+1)*hw]
			dc := d[ch*hw : (ch+1)*hw]
			for j, v := range zc {
				if scale[j] == 0 {
					dc[j] = 0
					continue
				}
				dc[j] = float32(scale[j] * math.Exp(float64(v-mx[j])))
			}
		}
		// The label channel in float64: coef*(p - 1) without float32 cancellation.
		for j, y := range lab {
			if scale[j] != 0 {
				i := int(y)*hw + j
				d[i] = float32(scale[j]*math.Exp(float64(z[i]-mx[j])) - float64(cf[j]))
			}
		}
	}
}
