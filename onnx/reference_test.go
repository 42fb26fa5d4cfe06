package onnx

import (
	"encoding/binary"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// rawFloats decodes the raw data of a float initializer.
func rawFloats(t *pb.TensorProto) []float32 {
	f := make([]float32, len(t.RawData)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
	}
	return f
}

func initByName(mp *pb.ModelProto, name string) *pb.TensorProto {
	for _, t := range mp.Graph.Initializer {
		if t.Name == name {
			return t
		}
	}
	panic("no initializer " + name)
}

// refConv is a plain NCHW 3x3 convolution with stride 2 and padding 1,
// followed by Relu when relu is set.
func refConv(x []float32, n, c, h, w int, wt, b []float32, co int, relu bool) ([]float32, int, int) {
	oh, ow := (h+2-3)/2+1, (w+2-3)/2+1
	y := make([]float32, n*co*oh*ow)
	for in := 0; in < n; in++ {
		for o := 0; o < co; o++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					s := float64(b[o])
					for ci := 0; ci < c; ci++ {
						for ki := 0; ki < 3; ki++ {
							yi := 2*i - 1 + ki
							if yi < 0 || yi >= h {
								continue
							}
							for kj := 0; kj < 3; kj++ {
								xj := 2*j - 1 + kj
								if xj < 0 || xj >= w {
									continue
								}
								s += float64(wt[((o*c+ci)*3+ki)*3+kj]) * float64(x[((in*c+ci)*h+yi)*w+xj])
							}
						}
					}
					if relu && s < 0 {
						s = 0
					}
					y[((in*co+o)*oh+i)*ow+j] = float32(s)
				}
			}
		}
	}
	return y, oh, ow
}

// refStage computes stage k (from 1) of a buildNet model on x.
func refStage(mp *pb.ModelProto, s netSpec, k int, x []float32, n, h, w int) ([]float32, []int64) {
	c := 3
	for i := 1; i <= k; i++ {
		co := s.channels[i-1]
		x, h, w = refConv(x, n, c, h, w, rawFloats(initByName(mp, name("w", i))), rawFloats(initByName(mp, name("b", i))), co, true)
		c = co
	}
	return x, []int64{int64(n), int64(c), int64(h), int64(w)}
}

// refLogits computes the classifier output of a buildNet model.
func refLogits(mp *pb.ModelProto, s netSpec, x []float32, n, h, w int) []float32 {
	f, sh := refStage(mp, s, len(s.channels), x, n, h, w)
	c, hw := int(sh[1]), int(sh[2]*sh[3])
	fw, fb := rawFloats(initByName(mp, "fc_w")), rawFloats(initByName(mp, "fc_b"))
	k := len(fb)
	out := make([]float32, n*k)
	for i := 0; i < n; i++ {
		for o := 0; o < k; o++ {
			s := float64(fb[o])
			for ci := 0; ci < c; ci++ {
				var m float64
				for p := 0; p < hw; p++ {
					m += float64(f[(i*c+ci)*hw+p])
				}
				s += float64(fw[o*c+ci]) * m / float64(hw)
			}
			out[i*k+o] = float32(s)
		}
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}
