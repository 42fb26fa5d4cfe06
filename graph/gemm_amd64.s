#include "textflag.h"

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() (eax uint32)
TEXT ·xgetbv0(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	RET

// KSTEP multiplies one column of the 6-row A panel (at ao(SI)) by one row
// of the 16-column B panel (at bo(DI)) into the accumulators Y4..Y15.
#define KSTEP(ao0, ao1, ao2, ao3, ao4, ao5, bo0, bo1) \
	VMOVUPS bo0(DI), Y0; \
	VMOVUPS bo1(DI), Y1; \
	VBROADCASTSS ao0(SI), Y2; \
	VFMADD231PS Y0, Y2, Y4; \
	VFMADD231PS Y1, Y2, Y5; \
	VBROADCASTSS ao1(SI), Y3; \
	VFMADD231PS Y0, Y3, Y6; \
	VFMADD231PS Y1, Y3, Y7; \
	VBROADCASTSS ao2(SI), Y2; \
	VFMADD231PS Y0, Y2, Y8; \
	VFMADD231PS Y1, Y2, Y9; \
	VBROADCASTSS ao3(SI), Y3; \
	VFMADD231PS Y0, Y3, Y10; \
	VFMADD231PS Y1, Y3, Y11; \
	VBROADCASTSS ao4(SI), Y2; \
	VFMADD231PS Y0, Y2, Y12; \
	VFMADD231PS Y1, Y2, Y13; \
	VBROADCASTSS ao5(SI), Y3; \
	VFMADD231PS Y0, Y3, Y14; \
	VFMADD231PS Y1, Y3, Y15

// ROWADD adds the accumulators lo and hi into the 16 values at (DX) and
// moves DX to the next row of C.
#define ROWADD(lo, hi) \
	VADDPS (DX), lo, lo; \
	VMOVUPS lo, (DX); \
	VADDPS 32(DX), hi, hi; \
	VMOVUPS hi, 32(DX); \
	ADDQ R8, DX

// func kern6x16FMA(k int, a, b, c *float32, ldc int)
TEXT ·kern6x16FMA(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	CMPQ CX, $4
	JLT  tail

loop4:
	KSTEP(0, 4, 8, 12, 16, 20, 0, 32)
	KSTEP(24, 28, 32, 36, 40, 44, 64, 96)
	KSTEP(48, 52, 56, 60, 64, 68, 128, 160)
	KSTEP(72, 76, 80, 84, 88, 92, 192, 224)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    store

loop1:
	KSTEP(0, 4, 8, 12, 16, 20, 0, 32)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

store:
	ROWADD(Y4, Y5)
	ROWADD(Y6, Y7)
	ROWADD(Y8, Y9)
	ROWADD(Y10, Y11)
	ROWADD(Y12, Y13)
	ROWADD(Y14, Y15)
	VZEROUPPER
	RET

// func packRows16AVX(dst, src *float32, stride, rows int)
// copies rows runs of 16 values, src advancing by stride values, dst by 16.
TEXT ·packRows16AVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), DX
	MOVQ rows+24(FP), CX
	SHLQ $2, DX
	TESTQ CX, CX
	JZ   done

prow:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  prow

done:
	VZEROUPPER
	RET

// KSTEP512 is KSTEP with one 16-wide register per row of the block and
// the A values broadcast from memory by the FMAs themselves.
#define KSTEP512(ao0, ao1, ao2, ao3, ao4, ao5, bo) \
	VMOVUPS bo(DI), Z0; \
	VFMADD231PS.BCST ao0(SI), Z0, Z4; \
	VFMADD231PS.BCST ao1(SI), Z0, Z5; \
	VFMADD231PS.BCST ao2(SI), Z0, Z6; \
	VFMADD231PS.BCST ao3(SI), Z0, Z7; \
	VFMADD231PS.BCST ao4(SI), Z0, Z8; \
	VFMADD231PS.BCST ao5(SI), Z0, Z9

#define ROWADD512(acc) \
	VADDPS (DX), acc, acc; \
	VMOVUPS acc, (DX); \
	ADDQ R8, DX

// func kern6x16AVX512(k int, a, b, c *float32, ldc int)
TEXT ·kern6x16AVX512(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	CMPQ CX, $4
	JLT  tail512

loop512:
	KSTEP512(0, 4, 8, 12, 16, 20, 0)
	KSTEP512(24, 28, 32, 36, 40, 44, 64)
	KSTEP512(48, 52, 56, 60, 64, 68, 128)
	KSTEP512(72, 76, 80, 84, 88, 92, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop512

tail512:
	TESTQ CX, CX
	JZ    store512

one512:
	KSTEP512(0, 4, 8, 12, 16, 20, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  one512

store512:
	ROWADD512(Z4)
	ROWADD512(Z5)
	ROWADD512(Z6)
	ROWADD512(Z7)
	ROWADD512(Z8)
	ROWADD512(Z9)
	VZEROUPPER
	RET
