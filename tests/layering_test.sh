#!/usr/bin/env bash
# Layering check (DESIGN.md, "The pipeline"): each layer includes only the layers to its
# left, and the embeddable runtime library carries no LLVM symbol. The CMake libraries
# are linked one way, so a backwards call fails to link; this test catches the backwards
# include before anyone writes the call.
# usage: layering_test.sh SOURCE_DIR PATH/TO/libkiln_rt.a
set -u
src=$1
rt_lib=$2
fail=0

# forbid DIR REGEX WHY: no file under DIR may include a header matching REGEX.
forbid() {
  local dir=$1 regex=$2 why=$3 hits
  hits=$(grep -rnE "#include [<\"]($regex)" "$src/$dir" --include='*.h' --include='*.cpp' || true)
  if [ -n "$hits" ]; then
    echo "layering: $why:"
    echo "$hits" | sed "s#$src/##"
    fail=1
  fi
}

base='ir/(status|dtype|shape|state)\.h'
forbid ir 'frontend/|passes/|codegen/|runtime/|models/|tools/|llvm' "ir/ depends on nothing of kiln above it"
for f in status dtype shape state; do
  forbid "ir/$f.h" 'ir/(graph|op|attrs|builder|tensor_ops)' "the base vocabulary stands alone"
done
forbid frontend 'passes/|codegen/|runtime/|models/|tools/|llvm' "frontend/ uses only ir/"
forbid passes 'frontend/|codegen/|runtime/|models/|tools/|llvm' "passes/ use only ir/"
forbid codegen 'frontend/|models/|tools/|runtime/train/' "codegen/ uses ir/, passes/ and the runtime's ABI"
forbid runtime 'frontend/|passes/|codegen/|models/|tools/|llvm|fmt/' "runtime/ never sees the compiler"
# The embeddable core (runtime/*, not runtime/train/) uses only the base vocabulary of ir/
# and the header-only flatbuffers helpers built on it.
rt_allowed="$base|ir/schema/flatbuffer_io\.h|ir/schema/format_versions\.h"
hits=$(grep -nE '#include "(ir/|runtime/train/)' "$src"/runtime/*.h "$src"/runtime/*.cpp | grep -vE "#include \"($rt_allowed)\"" || true)
if [ -n "$hits" ]; then
  echo "layering: kiln_rt uses only ir/{status,dtype,shape,state}.h, ir/schema/{flatbuffer_io,format_versions}.h and itself:"
  echo "$hits" | sed "s#$src/##"
  fail=1
fi
# ...so flatbuffer_io.h itself includes nothing of kiln but the base vocabulary and the
# flatc-generated headers.
fbio="$src/ir/schema/flatbuffer_io.h"
hits=$( { grep -nHE '#include "' "$fbio" | grep -vE "#include \"($base|[a-z0-9_]+_generated\.h)\""
          grep -nHE '#include <(ir|runtime|frontend|passes|codegen|models|tools|kiln)/' "$fbio"; } || true)
if [ -n "$hits" ]; then
  echo "layering: ir/schema/flatbuffer_io.h includes only ir/{status,dtype,shape,state}.h and *_generated.h:"
  echo "$hits" | sed "s#$src/##"
  fail=1
fi
# LLVM stays inside the LLVM backend (codegen/llvm/), which a -DKILN_LLVM=OFF build leaves
# out: anything else that included LLVM would break that build (README "Building without
# LLVM"). The LLVM-only tests are listed in cmake/no_llvm_tests.cmake.
hits=$(grep -rnE '#include [<"]llvm/' "$src"/ir "$src"/frontend "$src"/passes "$src"/codegen \
         "$src"/runtime "$src"/models "$src"/tools --include='*.h' --include='*.cpp' |
       grep -v "^$src/codegen/llvm/" || true)
if [ -n "$hits" ]; then
  echo "layering: only codegen/llvm/ includes LLVM's headers:"
  echo "$hits" | sed "s#$src/##"
  fail=1
fi
# Public runtime headers expose no third-party types.
hits=$(grep -nE '#include <(flatbuffers|fmt|llvm|nlohmann|CLI)' "$src"/runtime/*.h "$src"/include/kiln/*.h 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "layering: public runtime headers include third-party headers:"
  echo "$hits" | sed "s#$src/##"
  fail=1
fi

# The runtime library defines and references no LLVM symbol.
if ! command -v nm >/dev/null; then echo "layering: nm not found"; exit 1; fi
llvm_syms=$(nm -C "$rt_lib" 2>/dev/null | grep -E ' (llvm|LLVM)' | head -5 || true)
if [ -n "$llvm_syms" ]; then
  echo "layering: $rt_lib references LLVM:"
  echo "$llvm_syms"
  fail=1
fi
if [ ! -s "$rt_lib" ]; then echo "layering: $rt_lib missing"; fail=1; fi

[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
