package graph

import "sync"

// The convolutions' matrix products. gemm is a packed, cache-blocked
// single-goroutine product in the manner of BLIS and GotoBLAS: blocks of B
// (gemmKC x gemmNC) and of A (gemmMC x gemmKC) are copied into panels of
// gemmNR columns and gemmMR rows, and a 6 x 16 register-blocked kernel
// multiplies one pair of panels at a time: AVX-512 or AVX2 with FMA
// assembly on amd64, whichever the processor has, plain Go elsewhere. gemmRef is the plain triple
// loop the tests compare it with. The convolutions call gemm from their
// own workers, so it starts no goroutines.

const (
	gemmMR = 6
	gemmNR = 16
	gemmKC = 256
	gemmMC = 144
	gemmNC = 3072
)

// mat is a row-major matrix view: element (i, j) lies at
// Data[i*Stride+j], or at Data[j*Stride+i] when T is set (the view is the
// transpose of what Data holds).
type mat struct {
	Data   []float32
	Stride int
	T      bool
}

func (a mat) at(i, j int) float32 {
	if a.T {
		return a.Data[j*a.Stride+i]
	}
	return a.Data[i*a.Stride+j]
}

type gemmBuf struct{ a, b []float32 }

var gemmPool = sync.Pool{New: func() any {
	return &gemmBuf{a: make([]float32, gemmMC*gemmKC), b: make([]float32, gemmKC*gemmNC)}
}}

// gemm sets the m x n matrix c (row stride ldc) to a*b, a m x k and b
// k x n, or adds a*b to it when acc is set. It panics when c is too short
// for m rows of n values.
func gemm(m, n, k int, a, b mat, c []float32, ldc int, acc bool) {
	if m <= 0 || n <= 0 {
		return
	}
	if len(c) < (m-1)*ldc+n {
		panic("graph: gemm: destination too short")
	}
	if !acc {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	if k <= 0 {
		return
	}
	buf := gemmPool.Get().(*gemmBuf)
	defer gemmPool.Put(buf)
	var tile [gemmMR * gemmNR]float32
	for jc := 0; jc < n; jc += gemmNC {
		nc := min(gemmNC, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			packB(buf.b, b, pc, jc, kc, nc)
			for ic := 0; ic < m; ic += gemmMC {
				mc := min(gemmMC, m-ic)
				packA(buf.a, a, ic, pc, mc, kc)
				for jr := 0; jr < nc; jr += gemmNR {
					nr := min(gemmNR, nc-jr)
					bp := buf.b[jr*kc:][:gemmNR*kc]
					for ir := 0; ir < mc; ir += gemmMR {
						mr := min(gemmMR, mc-ir)
						ap := buf.a[ir*kc:][:gemmMR*kc]
						ci := (ic+ir)*ldc + jc + jr
						if mr == gemmMR && nr == gemmNR {
							kern6x16(kc, ap, bp, c[ci:], ldc)
							continue
						}
						clear(tile[:])
						kern6x16(kc, ap, bp, tile[:], gemmNR)
						for r := 0; r < mr; r++ {
							row := c[ci+r*ldc:][:nr]
							for j := range row {
								row[j] += tile[r*gemmNR+j]
							}
						}
					}
				}
			}
		}
	}
}

// packA copies rows [ic, ic+mc) and columns [pc, pc+kc) of a into dst as
// panels of gemmMR rows, each laid out column after column (gemmMR values
// per column), padding the last panel with zeros.
func packA(dst []float32, a mat, ic, pc, mc, kc int) {
	for p := 0; p < mc; p += gemmMR {
		panel := dst[p*kc:][:gemmMR*kc]
		rows := min(gemmMR, mc-p)
		switch {
		case a.T:
			for l := 0; l < kc; l++ {
				src := a.Data[(pc+l)*a.Stride+ic+p:][:rows]
				d := panel[l*gemmMR:][:gemmMR]
				copy(d, src)
				clear(d[rows:])
			}
		case rows == gemmMR:
			r0 := a.Data[(ic+p)*a.Stride+pc:][:kc]
			r1 := a.Data[(ic+p+1)*a.Stride+pc:][:kc]
			r2 := a.Data[(ic+p+2)*a.Stride+pc:][:kc]
			r3 := a.Data[(ic+p+3)*a.Stride+pc:][:kc]
			r4 := a.Data[(ic+p+4)*a.Stride+pc:][:kc]
			r5 := a.Data[(ic+p+5)*a.Stride+pc:][:kc]
			for l := range r0 {
				d := (*[gemmMR]float32)(panel[l*gemmMR:])
				d[0], d[1], d[2], d[3], d[4], d[5] = r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
			}
		default:
			for r := 0; r < gemmMR; r++ {
				if r >= rows {
					for l := 0; l < kc; l++ {
						panel[l*gemmMR+r] = 0
					}
					continue
				}
				src := a.Data[(ic+p+r)*a.Stride+pc:][:kc]
				for l, v := range src {
					panel[l*gemmMR+r] = v
				}
			}
		}
	}
}

// packB copies rows [pc, pc+kc) and columns [jc, jc+nc) of b into dst as
// panels of gemmNR columns, each laid out row after row (gemmNR values per
// row), padding the last panel with zeros.
func packB(dst []float32, b mat, pc, jc, kc, nc int) {
	for q := 0; q < nc; q += gemmNR {
		panel := dst[q*kc:][:gemmNR*kc]
		cols := min(gemmNR, nc-q)
		switch {
		case !b.T && cols == gemmNR:
			packRows16(panel, b.Data[pc*b.Stride+jc+q:], b.Stride, kc)
		case !b.T:
			for l := 0; l < kc; l++ {
				d := panel[l*gemmNR:][:gemmNR]
				copy(d, b.Data[(pc+l)*b.Stride+jc+q:][:cols])
				clear(d[cols:])
			}
		case cols == gemmNR:
			packBT16(panel, b, pc, jc+q, kc)
		default:
			for j := 0; j < gemmNR; j++ {
				if j >= cols {
					for l := 0; l < kc; l++ {
						panel[l*gemmNR+j] = 0
					}
					continue
				}
				src := b.Data[(jc+q+j)*b.Stride+pc:][:kc]
				for l, v := range src {
					panel[l*gemmNR+j] = v
				}
			}
		}
	}
}

// packBT16 packs the gemmNR columns j0.. of rows [pc, pc+kc) of the
// transposed view b into panel: it reads gemmNR stored rows side by side.
func packBT16(panel []float32, b mat, pc, j0, kc int) {
	var s [gemmNR][]float32
	for j := range s {
		s[j] = b.Data[(j0+j)*b.Stride+pc:][:kc]
	}
	for h := 0; h < gemmNR; h += 8 {
		s0, s1, s2, s3, s4, s5, s6, s7 := s[h][:kc], s[h+1][:kc], s[h+2][:kc], s[h+3][:kc], s[h+4][:kc], s[h+5][:kc], s[h+6][:kc], s[h+7][:kc]
		for l := range s0 {
			d := (*[8]float32)(panel[l*gemmNR+h:])
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s0[l], s1[l], s2[l], s3[l], s4[l], s5[l], s6[l], s7[l]
		}
	}
}

// packRows16Go copies rows runs of 16 values of src, stride values apart,
// into dst one after the other.
func packRows16Go(dst, src []float32, stride, rows int) {
	for l := 0; l < rows; l++ {
		copy(dst[l*16:][:16], src[l*stride:][:16])
	}
}

// kern6x16Go is the plain-Go kernel: it adds the product of the packed
// 6 x k panel a and k x 16 panel b into the 6 x 16 block at c (row stride
// ldc).
func kern6x16Go(k int, a, b, c []float32, ldc int) {
	var acc [gemmMR][gemmNR]float32
	for l := 0; l < k; l++ {
		bv := b[l*gemmNR:][:gemmNR]
		av := a[l*gemmMR:][:gemmMR]
		for r, x := range av {
			row := &acc[r]
			for j, y := range bv {
				row[j] += x * y
			}
		}
	}
	for r := range acc {
		row := c[r*ldc:][:gemmNR]
		for j, v := range acc[r] {
			row[j] += v
		}
	}
}

// gemmRef is gemm by the definition, summing in float64: the reference
// the tests compare gemm with.
func gemmRef(m, n, k int, a, b mat, c []float32, ldc int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += float64(a.at(i, l)) * float64(b.at(l, j))
			}
			if acc {
				s += float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}
