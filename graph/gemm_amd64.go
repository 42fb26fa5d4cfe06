package graph

import "unsafe"

//go:noescape
func kern6x16AVX512(k int, a, b, c *float32, ldc int)

//go:noescape
func kern6x16FMA(k int, a, b, c *float32, ldc int)

//go:noescape
func packRows16AVX(dst, src *float32, stride, rows int)

// packRows16 copies rows runs of 16 values of src, stride values apart,
// into dst one after the other.
func packRows16(dst, src []float32, stride, rows int) {
	if rows <= 0 {
		return
	}
	if useFMA {
		_ = dst[16*rows-1]
		_ = src[(rows-1)*stride+15]
		packRows16AVX(unsafe.SliceData(dst), unsafe.SliceData(src), stride, rows)
		return
	}
	packRows16Go(dst, src, stride, rows)
}

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv0() (eax uint32)

// hasFMA reports whether the processor and the operating system support
// AVX and FMA3 (the 256-bit registers saved on context switches).
func hasFMA() bool {
	max, _, _, _ := cpuid(0, 0)
	if max < 1 {
		return false
	}
	_, _, ecx, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	return xgetbv0()&6 == 6
}

// hasAVX512 reports whether the processor and the operating system
// support AVX-512F (the mask and 512-bit registers saved on context
// switches).
func hasAVX512() bool {
	if !hasFMA() {
		return false
	}
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<16) != 0 && xgetbv0()&0xe6 == 0xe6
}

var (
	useFMA    = hasFMA()
	useAVX512 = hasAVX512()
)

// kern6x16 adds the product of the packed 6 x k panel a and k x 16 panel b
// into the 6 x 16 block of c at c[0] with row stride ldc. The caller
// guarantees the lengths: a holds 6k values, b 16k, c 5*ldc+16.
func kern6x16(k int, a, b, c []float32, ldc int) {
	if useFMA {
		_ = a[6*k-1]
		_ = b[16*k-1]
		_ = c[5*ldc+15]
		if useAVX512 {
			kern6x16AVX512(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc)
			return
		}
		kern6x16FMA(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc)
		return
	}
	kern6x16Go(k, a, b, c, ldc)
}
