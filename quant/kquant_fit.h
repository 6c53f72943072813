// The scale searches shared by the K-quant formats (spec quantization.md §2.3,
// §5.3–§5.6, §7.3). Internal to quant/: every caller must be compiled with the
// quant library's flags (-ffp-contract=off, no fast-math), because the bytes
// depend on each binary32 operation being rounded separately, in C order.
#ifndef SOV_QUANT_KQUANT_FIT_H_
#define SOV_QUANT_KQUANT_FIT_H_

#include <cstdint>
#include <cstring>

namespace sov::quant_internal {

// Round to nearest, ties to even, exactly as ggml does it: add 1.5 * 2^23 in
// binary32 and read the low mantissa bits. Only meaningful for |f| <= 4194303,
// but reproduced bit for bit outside that range too (Inf, NaN, huge ratios in
// adversarial blocks), since the quantizers clamp whatever comes out.
inline int NearestInt(float f) {
  const float v = f + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, sizeof(i));
  return (i & 0x007FFFFF) - 0x00400000;
}

inline float MaxF(float a, float b) { return a > b ? a : b; }  // ggml MAX: NaN order matters

// Asymmetric fit x ~ scale * L + min with L in [0, nmax] over n values
// (ggml make_qkx2_quants / make_qkx3_quants with use_mad = false). Returns the
// scale; *neg_min receives -min (>= 0). `laux` is n bytes of scratch.
// `strict_degenerate` selects qkx2's `max == min` test; qkx3 uses `max <= min`.
float MakeQkxQuants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                    uint8_t* laux, float rmin, float rdelta, int nstep, bool strict_degenerate);

// Fit of n non-negative values (sub-block scales or mins) to levels 0..nmax
// with one shared scale (ggml make_qp_quants). Levels are stored as uint8 with
// C conversion semantics, like ggml's (negative inputs wrap).
float MakeQpQuants(int n, int nmax, const float* x, uint8_t* L, const float* w);

// Symmetric fit with weights qw (or x^2 when qw is null); levels stored with
// +nmax offset (ggml make_qx_quants, rmse_type 1).
float MakeQxQuants(int n, int nmax, const float* x, int8_t* L, const float* qw);

// Scales, mins and levels of one Q4_K / Q5_K super-block before bit packing.
struct AsymSuperBlock {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t L[256];
};

// Parameters of the no-imatrix search (they differ between Q4_K and Q5_K).
struct AsymRefParams {
  int nmax;
  float rmin;
  float rdelta;
  int nstep;
  bool clamp_qp_levels;  // Q5_K passes make_qp_quants' levels through min(63, .)
};

// One super-block of 256 values; qw (256 importance values for these columns)
// selects the imatrix path of §5.4, null the reference path of §5.3.
void QuantizeAsymSuperBlock(const float* x, const float* qw, const AsymRefParams& p,
                            AsymSuperBlock* out);

}  // namespace sov::quant_internal

#endif  // SOV_QUANT_KQUANT_FIT_H_
