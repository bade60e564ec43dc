//go:build amd64 && !purego

#include "textflag.h"

// AVX2 versions of the scalar loops of sigmoidSlice and tanhSlice in engine/fastmath.go. They
// run the same float64 operations in the same order, four elements per iteration, without
// FMA, so that every result has the same bits as the scalar sigmoidf and tanhf. Branches become selects: the
// clamp of exp64's argument is VMINPD/VMAXPD with the argument as second source, which keeps
// NaN as clampExp does, and tanh computes both of its formulas and blends them.

// fmconst holds each constant four times, one per float64 lane. Offsets:
#define EXPLOG2E32 0 // 32·log2(e)
#define EXPROUND 32 // 1.5·2^52, which rounds to an integer when added
#define EXPLN2DIV32 64 // ln(2)/32
#define ONE 96 // 1
#define HALF 128 // 1/2
#define SIXTH 160 // 1/6
#define C24 192 // 1/24
#define THIRD 224 // -1/3
#define C15 256 // 2/15
#define C315 288 // -17/315
#define SMALL 320 // 1/32, below which tanh uses its Taylor series
#define TWO 352 // 2
#define HI 384 // expArgMax = 104
#define LO 416 // -expArgMax
#define SIGN 448 // the sign bit
#define ABS 480 // every bit but the sign
#define MASK31 512 // the integer 31, for n&31
#define BIAS 544 // the integer 1023·32: (n+1023·32)>>5 = (n>>5)+1023 for n > -1023·32
#define EXP32 576 // float32 exponent bits, eight times
#define MANT32 608 // float32 mantissa bits, eight times

DATA fmconst<>+0(SB)/8, $0x40471547652b82fe
DATA fmconst<>+8(SB)/8, $0x40471547652b82fe
DATA fmconst<>+16(SB)/8, $0x40471547652b82fe
DATA fmconst<>+24(SB)/8, $0x40471547652b82fe
DATA fmconst<>+32(SB)/8, $0x4338000000000000
DATA fmconst<>+40(SB)/8, $0x4338000000000000
DATA fmconst<>+48(SB)/8, $0x4338000000000000
DATA fmconst<>+56(SB)/8, $0x4338000000000000
DATA fmconst<>+64(SB)/8, $0x3f962e42fefa39ef
DATA fmconst<>+72(SB)/8, $0x3f962e42fefa39ef
DATA fmconst<>+80(SB)/8, $0x3f962e42fefa39ef
DATA fmconst<>+88(SB)/8, $0x3f962e42fefa39ef
DATA fmconst<>+96(SB)/8, $0x3ff0000000000000
DATA fmconst<>+104(SB)/8, $0x3ff0000000000000
DATA fmconst<>+112(SB)/8, $0x3ff0000000000000
DATA fmconst<>+120(SB)/8, $0x3ff0000000000000
DATA fmconst<>+128(SB)/8, $0x3fe0000000000000
DATA fmconst<>+136(SB)/8, $0x3fe0000000000000
DATA fmconst<>+144(SB)/8, $0x3fe0000000000000
DATA fmconst<>+152(SB)/8, $0x3fe0000000000000
DATA fmconst<>+160(SB)/8, $0x3fc5555555555555
DATA fmconst<>+168(SB)/8, $0x3fc5555555555555
DATA fmconst<>+176(SB)/8, $0x3fc5555555555555
DATA fmconst<>+184(SB)/8, $0x3fc5555555555555
DATA fmconst<>+192(SB)/8, $0x3fa5555555555555
DATA fmconst<>+200(SB)/8, $0x3fa5555555555555
DATA fmconst<>+208(SB)/8, $0x3fa5555555555555
DATA fmconst<>+216(SB)/8, $0x3fa5555555555555
DATA fmconst<>+224(SB)/8, $0xbfd5555555555555
DATA fmconst<>+232(SB)/8, $0xbfd5555555555555
DATA fmconst<>+240(SB)/8, $0xbfd5555555555555
DATA fmconst<>+248(SB)/8, $0xbfd5555555555555
DATA fmconst<>+256(SB)/8, $0x3fc1111111111111
DATA fmconst<>+264(SB)/8, $0x3fc1111111111111
DATA fmconst<>+272(SB)/8, $0x3fc1111111111111
DATA fmconst<>+280(SB)/8, $0x3fc1111111111111
DATA fmconst<>+288(SB)/8, $0xbfaba1ba1ba1ba1c
DATA fmconst<>+296(SB)/8, $0xbfaba1ba1ba1ba1c
DATA fmconst<>+304(SB)/8, $0xbfaba1ba1ba1ba1c
DATA fmconst<>+312(SB)/8, $0xbfaba1ba1ba1ba1c
DATA fmconst<>+320(SB)/8, $0x3fa0000000000000
DATA fmconst<>+328(SB)/8, $0x3fa0000000000000
DATA fmconst<>+336(SB)/8, $0x3fa0000000000000
DATA fmconst<>+344(SB)/8, $0x3fa0000000000000
DATA fmconst<>+352(SB)/8, $0x4000000000000000
DATA fmconst<>+360(SB)/8, $0x4000000000000000
DATA fmconst<>+368(SB)/8, $0x4000000000000000
DATA fmconst<>+376(SB)/8, $0x4000000000000000
DATA fmconst<>+384(SB)/8, $0x405a000000000000
DATA fmconst<>+392(SB)/8, $0x405a000000000000
DATA fmconst<>+400(SB)/8, $0x405a000000000000
DATA fmconst<>+408(SB)/8, $0x405a000000000000
DATA fmconst<>+416(SB)/8, $0xc05a000000000000
DATA fmconst<>+424(SB)/8, $0xc05a000000000000
DATA fmconst<>+432(SB)/8, $0xc05a000000000000
DATA fmconst<>+440(SB)/8, $0xc05a000000000000
DATA fmconst<>+448(SB)/8, $0x8000000000000000
DATA fmconst<>+456(SB)/8, $0x8000000000000000
DATA fmconst<>+464(SB)/8, $0x8000000000000000
DATA fmconst<>+472(SB)/8, $0x8000000000000000
DATA fmconst<>+480(SB)/8, $0x7fffffffffffffff
DATA fmconst<>+488(SB)/8, $0x7fffffffffffffff
DATA fmconst<>+496(SB)/8, $0x7fffffffffffffff
DATA fmconst<>+504(SB)/8, $0x7fffffffffffffff
DATA fmconst<>+512(SB)/8, $0x000000000000001f
DATA fmconst<>+520(SB)/8, $0x000000000000001f
DATA fmconst<>+528(SB)/8, $0x000000000000001f
DATA fmconst<>+536(SB)/8, $0x000000000000001f
DATA fmconst<>+544(SB)/8, $0x0000000000007fe0
DATA fmconst<>+552(SB)/8, $0x0000000000007fe0
DATA fmconst<>+560(SB)/8, $0x0000000000007fe0
DATA fmconst<>+568(SB)/8, $0x0000000000007fe0
DATA fmconst<>+576(SB)/8, $0x7f8000007f800000
DATA fmconst<>+584(SB)/8, $0x7f8000007f800000
DATA fmconst<>+592(SB)/8, $0x7f8000007f800000
DATA fmconst<>+600(SB)/8, $0x7f8000007f800000
DATA fmconst<>+608(SB)/8, $0x007fffff007fffff
DATA fmconst<>+616(SB)/8, $0x007fffff007fffff
DATA fmconst<>+624(SB)/8, $0x007fffff007fffff
DATA fmconst<>+632(SB)/8, $0x007fffff007fffff
GLOBL fmconst<>(SB), RODATA|NOPTR, $640

// EXP64 sets Y4 = exp64(Y0) for Y0 already clamped to [-104, 104], as exp64 does: with
// nf = round(32·x/ln2) = 32k + j, r = x − nf·ln2/32 and the degree-4 Taylor polynomial p(r),
// e^x = p(r) · 2^(j/32) · 2^k. n = nf as an integer is the low bits of x·32/ln2 + 1.5·2^52,
// which is what int64(nf) gives for |nf| < 2^51. It needs DX = fmconst, AX = Exp2Table and
// Y10 = 1, and overwrites Y1, Y2, Y3, Y5, Y6 and Y7.
#define EXP64 \
	VMULPD      EXPLOG2E32(DX), Y0, Y1 \
	VADDPD      EXPROUND(DX), Y1, Y1   \
	VSUBPD      EXPROUND(DX), Y1, Y2   \
	VPSUBQ      EXPROUND(DX), Y1, Y3   \
	VMULPD      EXPLN2DIV32(DX), Y2, Y2 \
	VSUBPD      Y2, Y0, Y2             \
	VMULPD      C24(DX), Y2, Y4        \
	VADDPD      SIXTH(DX), Y4, Y4      \
	VMULPD      Y2, Y4, Y4             \
	VADDPD      HALF(DX), Y4, Y4       \
	VMULPD      Y2, Y4, Y4             \
	VADDPD      Y10, Y4, Y4            \
	VMULPD      Y2, Y4, Y4             \
	VADDPD      Y10, Y4, Y4            \
	VPAND       MASK31(DX), Y3, Y5     \
	VPCMPEQQ    Y6, Y6, Y6             \
	VGATHERQPD  Y6, (AX)(Y5*8), Y7     \
	VPADDQ      BIAS(DX), Y3, Y3       \
	VPSRLQ      $5, Y3, Y3             \
	VPSLLQ      $52, Y3, Y3            \
	VMULPD      Y7, Y4, Y4             \
	VMULPD      Y3, Y4, Y4

// FLUSH replaces every subnormal float32 lane of r with a zero of the same sign, as the
// engine's flushf does: it clears the mantissa of the lanes whose exponent bits are all zero.
// It needs C = fmconst and Z = 0, and overwrites t.
#define FLUSH(r, t, Z, C) \
	VANDPS   EXP32(C), r, t  \
	VPCMPEQD Z, t, t         \
	VANDPS   MANT32(C), t, t \
	VANDNPS  r, t, r

// CLAMP limits Y0 to [-104, 104] as clampExp does, keeping NaN. It needs Y8 = 104 and
// Y9 = -104. VMINPD returns its second source when the comparison is false or unordered.
#define CLAMP \
	VMINPD Y0, Y8, Y0 \
	VMAXPD Y0, Y9, Y0

// func Sigmoid(x []float32)
TEXT ·Sigmoid(SB), NOSPLIT, $0-24
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	SHRQ $2, CX
	JZ   sigmoidDone
	LEAQ fmconst<>(SB), DX
	LEAQ ·Exp2Table(SB), AX
	VMOVUPD HI(DX), Y8
	VMOVUPD LO(DX), Y9
	VMOVUPD ONE(DX), Y10
	VPXOR   Y12, Y12, Y12

sigmoidLoop:
	// 1 / (1 + exp64(clampExp(-x)))
	VCVTPS2PD  (SI), Y0
	VXORPD     SIGN(DX), Y0, Y0
	CLAMP
	EXP64
	VADDPD     Y10, Y4, Y4
	VDIVPD     Y4, Y10, Y4
	VCVTPD2PSY Y4, X4
	FLUSH(X4, X5, X12, DX)
	VMOVUPS    X4, (SI)
	ADDQ       $16, SI
	DECQ       CX
	JNZ        sigmoidLoop

sigmoidDone:
	VZEROUPPER
	RET

// func Tanh(dst, src []float32)
TEXT ·Tanh(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $2, CX
	JZ   tanhDone
	LEAQ fmconst<>(SB), DX
	LEAQ ·Exp2Table(SB), AX
	VMOVUPD HI(DX), Y8
	VMOVUPD LO(DX), Y9
	VMOVUPD ONE(DX), Y10
	VMOVUPD TWO(DX), Y11
	VPXOR   Y12, Y12, Y12

tanhLoop:
	VCVTPS2PD (SI), Y13
	VANDPD    ABS(DX), Y13, Y14

	// Y4 = 1 − 2/(exp64(clampExp(2·|x|)) + 1)
	VADDPD Y14, Y14, Y0
	CLAMP
	EXP64
	VADDPD Y10, Y4, Y4
	VDIVPD Y4, Y11, Y4
	VSUBPD Y4, Y10, Y4

	// Y2 = tanhSmall(|x|) = |x|·(1 + x²·(−1/3 + x²·(2/15 + x²·(−17/315))))
	VMULPD Y14, Y14, Y1
	VMULPD C315(DX), Y1, Y2
	VADDPD C15(DX), Y2, Y2
	VMULPD Y2, Y1, Y2
	VADDPD THIRD(DX), Y2, Y2
	VMULPD Y2, Y1, Y2
	VADDPD Y10, Y2, Y2
	VMULPD Y2, Y14, Y2

	// Take Y2 where |x| < 1/32 (false for NaN), then copy the sign of x.
	VCMPPD     $0x11, SMALL(DX), Y14, Y3
	VBLENDVPD  Y3, Y2, Y4, Y4
	VANDPD     ABS(DX), Y4, Y4
	VANDPD     SIGN(DX), Y13, Y5
	VORPD      Y5, Y4, Y4
	VCVTPD2PSY Y4, X4
	FLUSH(X4, X5, X12, DX)
	VMOVUPS    X4, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        tanhLoop

tanhDone:
	VZEROUPPER
	RET

// func AddTo(dst, src []float32)
TEXT ·AddTo(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   addDone

addLoop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     addLoop

addDone:
	VZEROUPPER
	RET

// func LSTMBackward(a *LSTMBackwardArgs)
//
// Offsets of LSTMBackwardArgs: Gates 0, DGates 8, Stride 16, CPrev 24, TanhC 32, DhOut 40,
// DhRec 48, Dc 56, N 64.
TEXT ·LSTMBackward(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R12
	MOVQ 0(R12), AX   // i gates; f, g and o follow at Stride, 2·Stride and 3·Stride
	MOVQ 8(R12), BX   // i gate gradients, laid out as the gates
	MOVQ 16(R12), DX  // Stride in bytes
	LEAQ (DX)(DX*2), SI
	MOVQ 24(R12), DI  // cPrev
	MOVQ 32(R12), R8  // tanh(c)
	MOVQ 40(R12), R9  // dhOut
	MOVQ 48(R12), R10 // dhRec, or nil
	MOVQ 56(R12), R11 // dc
	MOVQ 64(R12), CX
	SHRQ $3, CX
	JZ   lstmDone
	MOVQ          $0x3f800000, R13
	MOVQ          R13, X15
	VBROADCASTSS  X15, Y15 // 1
	VPXOR         Y14, Y14, Y14
	LEAQ          fmconst<>(SB), R12

lstmLoop:
	VMOVUPS (AX), Y0       // i
	VMOVUPS (AX)(DX*1), Y1 // f
	VMOVUPS (AX)(DX*2), Y2 // g
	VMOVUPS (AX)(SI*1), Y3 // o
	VMOVUPS (R9), Y4       // dh = dhOut (+ dhRec)
	TESTQ   R10, R10
	JZ      lstmNoRec
	VADDPS  (R10), Y4, Y4
	ADDQ    $32, R10

lstmNoRec:
	VMOVUPS (R8), Y5 // tc = tanh(c)

	// dct = dc + (dh·o)·(1 − tc·tc)
	VMULPS Y5, Y5, Y6
	VSUBPS Y6, Y15, Y6
	VMULPS Y3, Y4, Y7
	VMULPS Y6, Y7, Y7
	VADDPS (R11), Y7, Y7

	// di = ((dct·g)·i)·(1 − i)
	VMULPS Y2, Y7, Y8
	VMULPS Y0, Y8, Y8
	VSUBPS Y0, Y15, Y9
	VMULPS Y9, Y8, Y8

	// df = ((dct·cPrev)·f)·(1 − f)
	VMULPS (DI), Y7, Y9
	VMULPS Y1, Y9, Y9
	VSUBPS Y1, Y15, Y10
	VMULPS Y10, Y9, Y9

	// dg = (dct·i)·(1 − g·g)
	VMULPS Y0, Y7, Y10
	VMULPS Y2, Y2, Y11
	VSUBPS Y11, Y15, Y11
	VMULPS Y11, Y10, Y10

	// do = ((dh·tc)·o)·(1 − o)
	VMULPS Y5, Y4, Y11
	VMULPS Y3, Y11, Y11
	VSUBPS Y3, Y15, Y12
	VMULPS Y12, Y11, Y11

	// dc = dct·f. Every result is flushed and written after every gate is read, since the
	// gradients may replace the gates.
	VMULPS  Y1, Y7, Y12
	FLUSH(Y8, Y13, Y14, R12)
	FLUSH(Y9, Y13, Y14, R12)
	FLUSH(Y10, Y13, Y14, R12)
	FLUSH(Y11, Y13, Y14, R12)
	FLUSH(Y12, Y13, Y14, R12)
	VMOVUPS Y8, (BX)
	VMOVUPS Y9, (BX)(DX*1)
	VMOVUPS Y10, (BX)(DX*2)
	VMOVUPS Y11, (BX)(SI*1)
	VMOVUPS Y12, (R11)

	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R11
	DECQ CX
	JNZ  lstmLoop

lstmDone:
	VZEROUPPER
	RET
