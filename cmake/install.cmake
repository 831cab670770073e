# Install rules and the CMake package (docs/aot.md, "Install and examples").
#   cmake --install build --prefix /opt/kiln
# installs bin/kiln and bin/kiln-opt; lib/libkiln_rt.so (the embeddable runtime: the C
# API and what generated code calls, no LLVM) and the static libraries of every layer;
# include/kiln/kiln.h and include/kiln/c_api.h, with the headers they include under
# include/kiln/<layer>/; and lib/cmake/kiln/, so that
#   find_package(kiln)                       kiln::rt      libkiln_rt.so + include/kiln/c_api.h
#                                            kiln::rt_static   the same, static
#                                            kiln::kiln    compiler + DSL + trainer (LLVM 19)
#                                            kiln::cli     the kiln executable (kiln compile)
# kiln::kiln needs LLVM 19's and zlib's CMake packages where it is used; kiln::rt needs
# nothing but the C library.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)

# Everything a C++ user of the compiler links, as one target.
add_library(kiln_sdk INTERFACE)
target_link_libraries(kiln_sdk INTERFACE kiln_codegen kiln_train kiln_frontend kiln_passes
                      kiln_ir kiln_rt kiln_base)

set_target_properties(kiln_rt_shared PROPERTIES EXPORT_NAME rt)
set_target_properties(kiln_rt PROPERTIES EXPORT_NAME rt_static)
set_target_properties(kiln_sdk PROPERTIES EXPORT_NAME kiln)
set_target_properties(kiln PROPERTIES EXPORT_NAME cli)
foreach(layer base ir frontend passes train codegen)
  set_target_properties(kiln_${layer} PROPERTIES EXPORT_NAME ${layer})
endforeach()

install(TARGETS kiln kiln-opt kiln_rt_shared kiln_rt kiln_base kiln_ir kiln_frontend
                kiln_passes kiln_train kiln_codegen kiln_sdk
        EXPORT kilnTargets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/kiln/kiln.h include/kiln/c_api.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln)
# The layers' headers, as kiln.h includes them ("codegen/compile.h", ...). The flatbuffers
# schema readers stay internal.
foreach(dir ir frontend passes codegen runtime)
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln/${dir}
          FILES_MATCHING PATTERN "*.h" PATTERN "schema" EXCLUDE)
endforeach()
install(FILES ir/schema/format_versions.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln/ir/schema)

install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KILN_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/kilnConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/kilnConfig.cmake
                              INSTALL_DESTINATION ${KILN_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
                                 VERSION 0.1.0 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/kilnConfig.cmake ${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
        DESTINATION ${KILN_CMAKE_DIR})
