// Executes one lowered plan step: resolves operand offsets against the arena
// base and calls the kernels (kernels/api.h). Used by runtime/executor.cc.
#ifndef SOV_RUNTIME_PLAN_EXEC_H_
#define SOV_RUNTIME_PLAN_EXEC_H_

#include <cstdint>

#include "graph/plan.h"
#include "runtime/kv_cache.h"
#include "runtime/numerics.h"

namespace sov {

struct StepContext {
  uint8_t* arena = nullptr;
  int64_t T = 0;     // rows of token-row operands in this step
  int64_t pos0 = 0;  // position of row 0
  KvCache* kv = nullptr;
  const graph::Plan* plan = nullptr;
  Numerics numerics = Numerics::kReference;  // kGgml: kv is fp16 (runtime/numerics.h)
};

void RunStep(const graph::Step& s, const StepContext& ctx);

template <typename T>
T* OperandPtr(const StepContext& ctx, const graph::Operand& o) {
  return reinterpret_cast<T*>(ctx.arena + o.offset);
}

}  // namespace sov

#endif  // SOV_RUNTIME_PLAN_EXEC_H_
