// Block layouts of the ggml quantized formats (spec quantization.md §4–§8,
// §12.6). Field order and sizes are the GGUF byte layout: a row of a tensor is
// these structs back to back, little-endian. fp16 fields are raw binary16 bits
// (see quant/float16.h).
#ifndef SOV_QUANT_BLOCKS_H_
#define SOV_QUANT_BLOCKS_H_

#include <cstdint>

namespace sov {

inline constexpr int kQK = 32;         // elements per block of the legacy formats and Q8_0
inline constexpr int kQK_K = 256;      // elements per K-quant super-block
inline constexpr int kScaleSizeK = 12;  // packed 6-bit scales and mins of Q4_K / Q5_K

// Q8_0 (ggml block_q8_0): y = d * qs.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// Q4_0 (ggml block_q4_0), read-only: y = d * (nibble - 8); element j in the
// low nibble of qs[j], element j + 16 in the high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// Q4_1 (ggml block_q4_1), read-only: y = d * nibble + m.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// Q5_0 (ggml block_q5_0), read-only: 5th bit of element j is bit j of qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q5_1 (ggml block_q5_1), read-only.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q4_K (ggml block_q4_K): 8 sub-blocks of 32, 6-bit scales and mins.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kScaleSizeK];
  uint8_t qs[kQK_K / 2];
};

// Q5_K (ggml block_q5_K): Q4_K plus one high bit per element in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kScaleSizeK];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K (ggml block_q6_K): 16 sub-blocks of 16 with int8 scales; d is last.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Q8_K (ggml block_q8_K), activations only: fp32 d, bsums[g] = sum of qs[16g..16g+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// The ggml spellings, for readers coming from the spec or ggml-common.h.
using block_q8_0 = BlockQ8_0;
using block_q4_K = BlockQ4_K;
using block_q5_K = BlockQ5_K;
using block_q6_K = BlockQ6_K;
using block_q8_K = BlockQ8_K;

// Sub-block j's 6-bit scale and min from Q4_K / Q5_K packed scales (spec §5.1).
inline void GetScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace sov

#endif  // SOV_QUANT_BLOCKS_H_
