// --cache-dir DIR and --no-cache: the compile-cache flags of every `kiln` command that
// compiles (train, eval, inspect, bench, generate, translate). The tool turns the cache
// (codegen/compile_cache.h) on for the whole process unless --no-cache is given.
#pragma once

#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace kiln::cli {

struct CacheFlags {
  std::string dir;       // --cache-dir; empty: $KILN_CACHE_DIR, $XDG_CACHE_HOME/kiln, ~/.cache/kiln
  bool no_cache = false;  // --no-cache
};

void add_cache_flags(CLI::App& command, CacheFlags& flags);

// set_default_compile_cache from the flags.
void apply_cache_flags(const CacheFlags& flags);

}  // namespace kiln::cli
