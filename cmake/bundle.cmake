# -DKILN_BUNDLE=<dir>: build from a folder that scripts/gpu_bundle.sh prepared, for the GPU
# machines (DESIGN.md "GPU machines": no flatbuffers, no network; README "Building
# without LLVM"). Everything header-only that kiln needs beyond the C++ library and zlib
# comes from the folder, never from the system, so a build here with the bundle is the
# build there:
#   <dir>/include/           flatbuffers/, CLI/ (CLI11), nlohmann/ (json), catch2/catch.hpp (v2)
#   <dir>/generated/schema/  flatc's <schema>_generated.h and SCHEMAS.sha256
#   <dir>/cmake/             Catch2 v2's Catch.cmake and CatchAddTests.cmake
# No flatc is run: the generated headers must come from the ir/schema/*.fbs of this tree,
# which SCHEMAS.sha256 lets configure check.
set(KILN_BUNDLE_INCLUDE ${KILN_BUNDLE}/include)
foreach(needed include/flatbuffers/flatbuffers.h include/CLI/CLI.hpp include/nlohmann/json.hpp
               include/catch2/catch.hpp generated/schema/SCHEMAS.sha256 cmake/Catch.cmake)
  if(NOT EXISTS ${KILN_BUNDLE}/${needed})
    message(FATAL_ERROR "KILN_BUNDLE=${KILN_BUNDLE} lacks ${needed}: make it with "
                        "scripts/gpu_bundle.sh on a machine with flatbuffers, CLI11, "
                        "nlohmann-json and Catch2 v2")
  endif()
endforeach()

# The generated headers must match this tree's schemas.
file(STRINGS ${KILN_BUNDLE}/generated/schema/SCHEMAS.sha256 KILN_BUNDLED_SUMS)
file(GLOB KILN_SCHEMAS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/ir/schema/*.fbs)
set(KILN_SCHEMA_HEADERS)
foreach(fbs ${KILN_SCHEMAS})
  get_filename_component(name ${fbs} NAME)
  get_filename_component(stem ${fbs} NAME_WE)
  file(SHA256 ${fbs} sum)
  list(FIND KILN_BUNDLED_SUMS "${sum}  ${name}" found)
  if(found EQUAL -1 OR NOT EXISTS ${KILN_BUNDLE}/generated/schema/${stem}_generated.h)
    message(FATAL_ERROR "KILN_BUNDLE=${KILN_BUNDLE}: its generated header for ir/schema/${name} "
                        "is missing or was made from another version of the schema: "
                        "run scripts/gpu_bundle.sh again")
  endif()
  list(APPEND KILN_SCHEMA_HEADERS ${KILN_BUNDLE}/generated/schema/${stem}_generated.h)
endforeach()
set(KILN_SCHEMA_DIR ${KILN_BUNDLE}/generated/schema)
set(KILN_FLATBUFFERS_INCLUDE ${KILN_BUNDLE_INCLUDE})
add_custom_target(kiln_schema_headers)  # nothing to generate
message(STATUS "kiln: flatbuffers, CLI11, nlohmann_json and Catch2 from the bundle ${KILN_BUNDLE}")

# The header-only libraries, under the names find_package would give them.
foreach(target CLI11::CLI11 nlohmann_json::nlohmann_json Catch2::Catch2)
  add_library(${target} INTERFACE IMPORTED)
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${KILN_BUNDLE_INCLUDE})
endforeach()
list(PREPEND CMAKE_MODULE_PATH ${KILN_BUNDLE}/cmake)  # include(Catch): catch_discover_tests
