package graph

import (
	"fmt"

	"github.com/lmpseg/lmpseg/resample"
)

// ArgmaxUpsampled writes into dst (N x H x W) the class of the largest bilinearly upsampled logit
// (align_corners = false, as ResizeBilinear) at each pixel of an H x W label map, without
// materialising the N x C x H x W logits, using the default number of threads. Ties go to the
// lower class. It panics when dst does not hold N*H*W values.
func ArgmaxUpsampled(dst []int32, logits *Tensor, H, W int) {
	Exec{}.ArgmaxUpsampled(dst, logits, H, W)
}

// ArgmaxUpsampled is the package-level ArgmaxUpsampled with e's thread count. Pixels are
// independent, so the result does not depend on the thread count.
func (e Exec) ArgmaxUpsampled(dst []int32, logits *Tensor, H, W int) {
	logits.check("argmax logits")
	if len(dst) != logits.N*H*W {
		panic(fmt.Sprintf("graph: ArgmaxUpsampled: dst holds %d values, want %d", len(dst), logits.N*H*W))
	}
	if len(dst) == 0 {
		return
	}
	h, w, C := logits.H, logits.W, logits.C
	ym, xm := resample.BilinearAxis(h, H), resample.BilinearAxis(w, W)
	plane := h * w
	parallel(e.threads(), logits.N*H, func(_, lo, hi int) {
		for it := lo; it < hi; it++ {
			n, y := it/H, it%H
			z := logits.Data[n*C*plane : (n+1)*C*plane]
			y0, y1, fy := int(ym.I0[y]), int(ym.I1[y]), ym.L[y]
			row := dst[(n*H+y)*W : (n*H+y+1)*W]
			for x := range row {
				x0, x1, fx := int(xm.I0[x]), int(xm.I1[x]), xm.L[x]
				a, b, c, d := y0*w+x0, y0*w+x1, y1*w+x0, y1*w+x1
				w00, w01 := (1-fy)*(1-fx), (1-fy)*fx
				w10, w11 := fy*(1-fx), fy*fx
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
	})
}
