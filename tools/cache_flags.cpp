// The compile-cache flags (cache_flags.h).
#include "tools/cache_flags.h"

#include <CLI/CLI.hpp>

#include "codegen/compile_cache.h"

namespace kiln::cli {

void add_cache_flags(CLI::App& command, CacheFlags& flags) {
  CLI::Option* dir = command
                         .add_option("--cache-dir", flags.dir,
                                     "compile cache directory (default: $KILN_CACHE_DIR, "
                                     "$XDG_CACHE_HOME/kiln or ~/.cache/kiln)")
                         ->type_name("DIR");
  command.add_flag("--no-cache", flags.no_cache, "compile everything, reading and writing no cache")
      ->excludes(dir);
}

void apply_cache_flags(const CacheFlags& flags) {
  CompileCacheConfig config;
  config.enabled = !flags.no_cache;
  config.dir = flags.dir;
  set_default_compile_cache(config);
}

}  // namespace kiln::cli
