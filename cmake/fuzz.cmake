# libFuzzer targets (fuzz/, see docs/fuzzing.md).
#
# Only with -DHONEYNET_FUZZ=ON and clang (`make fuzz`, `make fuzz-short` configure
# build-fuzz that way); in every other build this file defines nothing.
#
# Each target fuzz/fuzz_<name>.cpp is a thin LLVMFuzzerTestOneInput around the
# harness function hn::fuzz::Fuzz<Name>() in fuzz/harness/<name>.h, which the
# unit tests (tests/unit/fuzz_regression_test.cpp) also run on saved inputs.
# The project sources a target needs are built once more, into
# honeynet_fuzz_core, with coverage instrumentation (fuzzer-no-link) and
# ASan+UBSan; UBSan findings abort so that libFuzzer records them as crashes.
option(HONEYNET_FUZZ "Build the libFuzzer targets under fuzz/ (needs clang)" OFF)

if(HONEYNET_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HONEYNET_FUZZ=ON needs clang (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++, or run `make fuzz`.")
  endif()

  set(HN_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)

  # Only the stages the targets exercise (no io/lab/cli: nothing of them is reached).
  file(GLOB HN_FUZZ_CORE_SRC CONFIGURE_DEPENDS
    ${CMAKE_SOURCE_DIR}/src/common/*.cpp
    ${CMAKE_SOURCE_DIR}/src/config/*.cpp
    ${CMAKE_SOURCE_DIR}/src/decode/*.cpp
    ${CMAKE_SOURCE_DIR}/src/flow/*.cpp
    ${CMAKE_SOURCE_DIR}/src/control/*.cpp
    ${CMAKE_SOURCE_DIR}/src/rules/*.cpp     # the engine's inline rules
    ${CMAKE_SOURCE_DIR}/src/actions/*.cpp)  # and its bandwidth shaper
  list(APPEND HN_FUZZ_CORE_SRC
    ${CMAKE_SOURCE_DIR}/src/wall/engine.cpp
    ${CMAKE_SOURCE_DIR}/src/analysis/pcap_input.cpp
    ${CMAKE_SOURCE_DIR}/src/capture/pcap_writer.cpp   # pcap_writer: for fuzz_seed
    ${CMAKE_SOURCE_DIR}/src/capture/write_behind.cpp)
  add_library(honeynet_fuzz_core STATIC ${HN_FUZZ_CORE_SRC})
  target_include_directories(honeynet_fuzz_core PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(honeynet_fuzz_core PUBLIC ${HN_FUZZ_SANITIZERS})
  target_compile_options(honeynet_fuzz_core PRIVATE -fsanitize=fuzzer-no-link)
  target_link_libraries(honeynet_fuzz_core PUBLIC PkgConfig::PCAP PkgConfig::TOMLPP
    PkgConfig::HYPERSCAN PkgConfig::PCRE2 nlohmann_json::nlohmann_json fmt::fmt Threads::Threads)

  set(HN_FUZZ_TARGETS decode flow control engine config pcap)
  foreach(name ${HN_FUZZ_TARGETS})
    add_executable(fuzz_${name} ${CMAKE_SOURCE_DIR}/fuzz/fuzz_${name}.cpp)
    target_include_directories(fuzz_${name} PRIVATE ${CMAKE_SOURCE_DIR}/fuzz)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer ${HN_FUZZ_SANITIZERS})
    target_link_libraries(fuzz_${name} PRIVATE honeynet_fuzz_core)
  endforeach()
  list(TRANSFORM HN_FUZZ_TARGETS PREPEND fuzz_ OUTPUT_VARIABLE HN_FUZZ_EXES)
  add_custom_target(fuzz_targets DEPENDS ${HN_FUZZ_EXES})

  # Writes the seed corpus fuzz/corpus/<target>/ from the unit tests' frame
  # builders (tests/unit/frames.h): `ninja -C build-fuzz fuzz_seed && build-fuzz/fuzz_seed fuzz/corpus`.
  add_executable(fuzz_seed ${CMAKE_SOURCE_DIR}/fuzz/tools/fuzz_seed.cpp)
  target_include_directories(fuzz_seed PRIVATE ${CMAKE_SOURCE_DIR}/fuzz ${CMAKE_SOURCE_DIR}/tests/unit)
  target_link_libraries(fuzz_seed PRIVATE honeynet_fuzz_core)
  target_link_options(fuzz_seed PRIVATE ${HN_FUZZ_SANITIZERS})
endif()
