// CPU loop schedules (see schedule.h).
#include "codegen/llvm/schedule.h"

#include <sstream>

namespace kiln::llvmgen {

LoopSchedule schedule_loop(const kir::LoopKernel& k) {
  LoopSchedule s;
  int n = static_cast<int>(k.dims.size());
  if (n == 0) return s;
  bool has_red = false;
  for (int d = 0; d < n; ++d) has_red |= k.reduced[d];
  s.vector_axis = n - 1;
  if (has_red && k.reduced[n - 1]) {
    s.scalar_accumulator = true;
    for (int d = 0; d < n; ++d) (k.reduced[d] ? s.reduced_axes : s.parallel_axes).push_back(d);
  } else {
    for (int d = 0; d < n - 1; ++d) (k.reduced[d] ? s.reduced_axes : s.parallel_axes).push_back(d);
  }
  s.units = 1;
  for (int d : s.parallel_axes) s.units *= k.dims[d];
  if (!s.scalar_accumulator && s.units == 1) {
    s.vector_is_parallel = true;
    s.units = k.dims[n - 1];
  }
  return s;
}

std::string describe(const LoopSchedule& s) {
  std::ostringstream os;
  os << "parallel [";
  for (size_t i = 0; i < s.parallel_axes.size(); ++i) os << (i ? "," : "") << s.parallel_axes[i];
  os << "] units=" << s.units << " vector " << s.vector_axis
     << (s.vector_is_parallel ? " (split)" : "") << (s.scalar_accumulator ? " acc=scalar" : "");
  return os.str();
}

}  // namespace kiln::llvmgen
