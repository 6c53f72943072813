// Integer-dot-product MatMul for Q4_K / Q5_K / Q6_K / Q8_0 and the legacy
// Q4_0 / Q4_1 / Q5_0 / Q5_1 weights (ggml's vec_dot arithmetic, spec
// quantization.md §9).
//
// Numerics (the contract the reference in kernels/reference/qlinalg.cc repeats):
//  1. Each activation row is quantized once per call to the weight type's
//     ggml vec_dot_type, with the bytes of ggml's x86 CPU backend
//     (QuantizeActRow below):
//       Q4_K/Q5_K/Q6_K -> Q8_K: QuantizeRowQ8_K (x86 uses the reference);
//       Q8_0/Q4_0/Q5_0 -> Q8_0: QuantizeActQ8_0 (quant/act_quant.h: multiplier
//                               127/amax, ties to even; NOT the file quantizer);
//       Q4_1/Q5_1      -> Q8_1: QuantizeActQ8_1 (same, plus s = d * sum(qs)).
//  2. Per weight block i an exact integer part is formed (int32, cannot overflow:
//     |sumi| <= 8 * 63 * 31 * 127 * 32 for Q5_K, well below 2^31):
//       Q4_K/Q5_K: sumi = sum_j sc_j * sum_{e in sub j} q_e a_e,
//                  summ = sum_j m_j * (bsums[2j] + bsums[2j+1])
//       Q6_K:      sumi = sum_g scales[g] * sum_{e in g} (u_e - 32) a_e
//       Q8_0:      sumi = sum_e qs_e a_e
//       Q4_0/Q5_0: sumi = sum_e (u_e - 8 or 16) a_e;  Q4_1/Q5_1: sum_e u_e a_e
//                  (kernels/cpu/qmatmul_legacy.h)
//     How a kernel forms these integers (VNNI, maddubs-style, scalar) cannot
//     change them.
//  3. The float combination is FIXED and sequential over blocks, one rounding
//     per step. GCC contracts a*b+c into an FMA across statements on targets
//     that have FMA (the VNNI functions do, the baseline does not), so every
//     product goes through Materialize(), which the compiler cannot see into:
//       K-quants: acc = 0; for i: d = f16(x.d) * a.d; m = f16(x.dmin) * a.d;
//                 acc = acc + d * float(sumi); acc = acc - m * float(summ)
//                 (Q6_K has no min term)
//       Q8_0, Q4_0, Q5_0:
//                 acc = 0; for i: d = f16(x.d) * f16(a.d); acc = acc + d * float(sumi)
//       Q4_1, Q5_1:
//                 acc = 0; for i: d = f16(x.d) * f16(a.d); acc = acc + d * float(sumi);
//                 acc = acc + f16(x.m) * f16(a.s)
//     CombineBlock* below is that code; kernels and reference both call it, so
//     results are bitwise equal across kernels, thread counts and T.
#ifndef SOV_KERNELS_CPU_QMATMUL_H_
#define SOV_KERNELS_CPU_QMATMUL_H_

#include <cstddef>
#include <cstdint>

#include "kernels/api.h"
#include "quant/blocks.h"
#include "quant/dtype.h"
#include "quant/float16.h"

namespace sov::kernels::internal {

// The activation format of a weight type (step 1 above), and one row of it:
// k floats (a multiple of the format's block size) into ActRowBytes(f, k) bytes.
// A Q8_0 / Q8_1 row is its nb = k / 32 ggml blocks followed, at
// ActTablesOffset, by two per-block tables derived from them (exactly):
// float d[nb] (the fp16 d widened) and, for Q8_0, int32 qsum[nb] (the sum of
// the block's qs), for Q8_1, float s[nb] (the fp16 s widened). The legacy
// kernels read the tables instead of redoing that work for every weight row;
// every other reader sees plain ggml blocks.
enum class ActFormat { kQ8_K, kQ8_0, kQ8_1 };
size_t ActRowBytes(ActFormat f, int64_t k);
void QuantizeActRow(ActFormat f, const float* x, int64_t k, void* dst);
// The Q8_K case of QuantizeActRow: a vector version of quant/'s
// QuantizeRowQ8_K with byte-identical output (kernels/cpu/act_q8k.cc).
void QuantizeActRowQ8K(const float* x, int64_t k, BlockQ8_K* y);
inline size_t ActTablesOffset(size_t block_bytes, int64_t nb) {
  return (static_cast<size_t>(nb) * block_bytes + 3) & ~size_t{3};
}

// True for the weight types the integer path handles (and cols % 256 == 0 for
// the K-quants, which a valid view guarantees).
bool QMatMulSupports(DType t);

// y = x W^T through the integer path (see above). Requires QMatMulSupports.
void QMatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy);

// The VNNI (vpdpbusd) kernels run when the CPU has AVX512-VNNI + VL + BW and
// they are enabled (default). Tests switch them off to cover the portable
// path; results are bitwise identical either way.
bool QMatMulVnniAvailable();
// AVX512-F/BW/VL/VNNI plus FMA and F16C: what the llama.cpp-order kernels'
// fast paths (kernels/cpu/ggml_*.cc) need. Cached.
bool CpuHasAvx512VnniFmaF16c();
void SetQMatMulVnniEnabled(bool enabled);
bool QMatMulVnniActive();

// Forces `v` to be a rounded float in a register: no FMA can absorb it.
inline float Materialize(float v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+x"(v));
#else
  volatile float t = v;
  v = t;
#endif
  return v;
}

// The fixed float step for one K-quant block (Q4_K/Q5_K), with the fp16
// scales already widened (exact; kernels may use F16C for it).
inline float CombineBlockKF(float acc, float xd, float xdmin, float a_d, int32_t sumi,
                            int32_t summ) {
  const float d = xd * a_d;
  const float m = xdmin * a_d;
  const float pos = Materialize(d * static_cast<float>(sumi));
  const float neg = Materialize(m * static_cast<float>(summ));
  acc = acc + pos;
  acc = acc - neg;
  return acc;
}

inline float CombineBlockK(float acc, uint16_t d_bits, uint16_t dmin_bits, float a_d, int32_t sumi,
                           int32_t summ) {
  return CombineBlockKF(acc, Fp16ToFp32(d_bits), Fp16ToFp32(dmin_bits), a_d, sumi, summ);
}

inline float CombineBlockQ6KF(float acc, float xd, float a_d, int32_t sumi) {
  const float d = xd * a_d;
  const float pos = Materialize(d * static_cast<float>(sumi));
  return acc + pos;
}

inline float CombineBlockQ6K(float acc, uint16_t d_bits, float a_d, int32_t sumi) {
  return CombineBlockQ6KF(acc, Fp16ToFp32(d_bits), a_d, sumi);
}

inline float CombineBlockQ8_0(float acc, uint16_t d_bits, uint16_t a_d_bits, int32_t sumi) {
  const float d = Fp16ToFp32(d_bits) * Fp16ToFp32(a_d_bits);
  const float pos = Materialize(d * static_cast<float>(sumi));
  return acc + pos;
}

inline float CombineBlockQ8_1(float acc, uint16_t d_bits, uint16_t m_bits, uint16_t a_d_bits,
                              uint16_t a_s_bits, int32_t sumi) {
  const float d = Fp16ToFp32(d_bits) * Fp16ToFp32(a_d_bits);
  const float pos = Materialize(d * static_cast<float>(sumi));
  const float min = Materialize(Fp16ToFp32(m_bits) * Fp16ToFp32(a_s_bits));
  acc = acc + pos;
  acc = acc + min;
  return acc;
}

// Scalar integer parts of one block (the definitions; also the portable
// kernels' inner loops, which compilers vectorize).
inline void IntPartsQ4K(const BlockQ4_K& x, const BlockQ8_K& a, int32_t* sumi, int32_t* summ) {
  int32_t si = 0, sm = 0;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, x.scales, &sc, &m);
    const uint8_t* q = x.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    int32_t s = 0;
    for (int l = 0; l < 32; ++l) s += ((q[l] >> shift) & 0xF) * a.qs[32 * j + l];
    si += sc * s;
    sm += m * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
  }
  *sumi = si;
  *summ = sm;
}

inline void IntPartsQ5K(const BlockQ5_K& x, const BlockQ8_K& a, int32_t* sumi, int32_t* summ) {
  int32_t si = 0, sm = 0;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, x.scales, &sc, &m);
    const uint8_t* q = x.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    int32_t s = 0;
    for (int l = 0; l < 32; ++l) {
      const int v = ((q[l] >> shift) & 0xF) | (((x.qh[l] >> j) & 1) << 4);
      s += v * a.qs[32 * j + l];
    }
    si += sc * s;
    sm += m * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
  }
  *sumi = si;
  *summ = sm;
}

inline int32_t IntPartQ6K(const BlockQ6_K& x, const BlockQ8_K& a) {
  int32_t si = 0;
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = x.ql + 64 * h;
    const uint8_t* qh = x.qh + 32 * h;
    const int8_t* aq = a.qs + 128 * h;
    int32_t s[8] = {};  // per 16-element group of this half
    for (int l = 0; l < 32; ++l) {
      const int u0 = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
      const int u1 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
      const int u2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
      const int u3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      const int g = l / 16;
      s[0 + g] += (u0 - 32) * aq[l];
      s[2 + g] += (u1 - 32) * aq[l + 32];
      s[4 + g] += (u2 - 32) * aq[l + 64];
      s[6 + g] += (u3 - 32) * aq[l + 96];
    }
    for (int g = 0; g < 8; ++g) si += x.scales[8 * h + g] * s[g];
  }
  return si;
}

inline int32_t IntPartQ8_0(const BlockQ8_0& x, const BlockQ8_0& a) {
  int32_t s = 0;
  for (int l = 0; l < kQK; ++l) s += x.qs[l] * a.qs[l];
  return s;
}

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_QMATMUL_H_
