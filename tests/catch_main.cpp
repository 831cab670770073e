// Catch2 v2 main for every kiln test binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
