package train

import (
	"github.com/lmpseg/lmpseg/graph"
)

// bilinearTaps returns, for output index o of an axis resized from in to out elements with
// align_corners=false (half-pixel centres, source clamped at 0 as in PyTorch and ONNX Resize), the
// two source indices and the weight of the second.
func bilinearTaps(o, in, out int) (i0, i1 int, f float32) {
	src := (float32(o)+0.5)*float32(in)/float32(out) - 0.5
	if src < 0 {
		src = 0
	}
	i0 = int(src)
	if i0 > in-1 {
		i0 = in - 1
	}
	i1 = i0 + 1
	if i1 > in-1 {
		i1 = in - 1
	}
	return i0, i1, src - float32(i0)
}

// ArgmaxUpsampled writes into dst (N x H x W) the class of largest bilinearly upsampled logit at each
// label pixel, without materialising the N x C x H x W logits. Ties go to the lower class.
func ArgmaxUpsampled(dst []int32, logits *graph.Tensor, H, W int) {
	if len(dst) != logits.N*H*W {
		panic("train: ArgmaxUpsampled: dst length mismatch")
	}
	h, w, C := logits.H, logits.W, logits.C
	xs0, xs1, fx := make([]int, W), make([]int, W), make([]float32, W)
	for x := 0; x < W; x++ {
		xs0[x], xs1[x], fx[x] = bilinearTaps(x, w, W)
	}
	plane := h * w
	for n := 0; n < logits.N; n++ {
		z := logits.Data[n*C*plane : (n+1)*C*plane]
		for y := 0; y < H; y++ {
			y0, y1, fy := bilinearTaps(y, h, H)
			row := dst[(n*H+y)*W : (n*H+y+1)*W]
			for x := range row {
				a, b := y0*w+xs0[x], y0*w+xs1[x]
				c, d := y1*w+xs0[x], y1*w+xs1[x]
				w00 := (1 - fy) * (1 - fx[x])
				w01 := (1 - fy) * fx[x]
				w10 := fy * (1 - fx[x])
				w11 := fy * fx[x]
				best, arg := float32(0), int32(0)
				for k := 0; k < C; k++ {
					p := z[k*plane:]
					v := w00*p[a] + w01*p[b] + w10*p[c] + w11*p[d]
					if k == 0 || v > best {
						best, arg = v, int32(k)
					}
				}
				row[x] = arg
			}
		}
	}
}
