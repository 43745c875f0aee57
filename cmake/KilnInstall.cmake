# Install and export: the static libraries registered by kiln_add_library, the
# public headers, the `kiln` tool, and a CMake package, so that a consumer writes
#   find_package(Kiln REQUIRED)
#   target_link_libraries(app PRIVATE Kiln::kiln)
# Included at the end of the top-level CMakeLists.txt, once every library exists.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(KILN_LIBRARIES GLOBAL PROPERTY KILN_LIBRARIES)
set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Kiln)

# Kiln::kiln = every Kiln library, with C++20 for whoever links it.
add_library(kiln_all INTERFACE)
target_link_libraries(kiln_all INTERFACE ${KILN_LIBRARIES})
target_compile_features(kiln_all INTERFACE cxx_std_20)
set_target_properties(kiln_all PROPERTIES EXPORT_NAME kiln)
add_library(Kiln::kiln ALIAS kiln_all)
foreach(lib IN LISTS KILN_LIBRARIES)
  target_compile_features(${lib} PUBLIC cxx_std_20)
endforeach()

install(TARGETS ${KILN_LIBRARIES} kiln_all EXPORT KilnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET kiln)
  install(TARGETS kiln RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# Headers: <folder>/x.h -> include/kiln/<folder>/x.h (the libraries' INSTALL_INTERFACE
# include dirs are include/kiln and include), and the umbrella frontend/kiln/*.h ->
# include/kiln/*.h so that #include <kiln/kiln.h> works as in the build tree.
foreach(dir ir runtime passes frontend codegen)
  if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${dir})
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION include/kiln/${dir}
      FILES_MATCHING PATTERN "*.h" PATTERN "*.def")
  endif()
endforeach()
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/frontend/kiln)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/frontend/kiln/ DESTINATION include/kiln
    FILES_MATCHING PATTERN "*.h" PATTERN "*.def")
endif()

# Every imported target a Kiln library links must be re-found by KilnConfig.cmake.
# Fail here, at configure time, rather than in a consumer's build.
set(KILN_KNOWN_DEPS Eigen3::Eigen fmt::fmt fmt::fmt-header-only nlohmann_json::nlohmann_json
  PkgConfig::GVC Threads::Threads)
set(KILN_NEEDS_THREADS OFF)
set(KILN_NEEDS_LLVM OFF)
foreach(lib IN LISTS KILN_LIBRARIES)
  get_target_property(deps ${lib} INTERFACE_LINK_LIBRARIES)
  if(NOT deps)
    continue()
  endif()
  string(REGEX MATCHALL "[A-Za-z0-9_]+::[A-Za-z0-9_+-]+" imported "${deps}")
  foreach(dep IN LISTS imported)
    if(dep MATCHES "^Boost::")
      continue()
    endif()
    if(NOT dep IN_LIST KILN_KNOWN_DEPS)
      message(FATAL_ERROR "${lib} links ${dep}: add its find_dependency to cmake/KilnConfig.cmake.in "
        "and to KILN_KNOWN_DEPS in cmake/KilnInstall.cmake")
    endif()
    if(dep STREQUAL "Threads::Threads")
      set(KILN_NEEDS_THREADS ON)
    endif()
  endforeach()
  if("${deps}" MATCHES "(^|[;:>])LLVM($|[;>])")
    set(KILN_NEEDS_LLVM ON)
  endif()
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/KilnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/KilnConfig.cmake
  INSTALL_DESTINATION ${KILN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/KilnConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(EXPORT KilnTargets NAMESPACE Kiln:: DESTINATION ${KILN_CMAKE_DIR})
install(FILES ${PROJECT_BINARY_DIR}/KilnConfig.cmake ${PROJECT_BINARY_DIR}/KilnConfigVersion.cmake
  DESTINATION ${KILN_CMAKE_DIR})
