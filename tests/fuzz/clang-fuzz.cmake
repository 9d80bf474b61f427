# Initial cache for the libFuzzer build: cmake -C tests/fuzz/clang-fuzz.cmake
# (what `make fuzz` does). See docs/fuzzing.md.
#
# Debian 12: clang 14 cannot compile correio (no usable <expected>); clang 16
# (apt: clang-16 libclang-rt-16-dev, scripts/install-fuzz-deps.sh) can, with
# one work-around: libstdc++ 12 hides <expected> unless
# __cpp_concepts >= 202002L, and clang 16 implements what <expected> needs
# (P0848 conditionally trivial special members) but still reports 201907L.
# Redefining the macro is safe for this pairing; newer clangs report
# 202002L themselves, so the flag is only added when the version is < 19.
set(CORREIO_FUZZ ON CACHE BOOL "libFuzzer build")
set(CORREIO_TESTS OFF CACHE BOOL "unit tests are built by the GCC build")
set(CORREIO_SANITIZE ON CACHE BOOL "ASan + UBSan")
set(CORREIO_WERROR OFF CACHE BOOL "")
set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "")

if(NOT DEFINED CORREIO_FUZZ_CLANG)
  find_program(CORREIO_FUZZ_CLANG NAMES clang++-19 clang++-18 clang++-17
               clang++-16 clang++)
endif()
set(CMAKE_CXX_COMPILER ${CORREIO_FUZZ_CLANG} CACHE FILEPATH "")
string(REPLACE "clang++" "clang" _correio_fuzz_cc ${CORREIO_FUZZ_CLANG})
set(CMAKE_C_COMPILER ${_correio_fuzz_cc} CACHE FILEPATH "")

set(_correio_fuzz_flags "-fsanitize=fuzzer-no-link -gline-tables-only")
execute_process(COMMAND ${CORREIO_FUZZ_CLANG} -dumpversion
                OUTPUT_VARIABLE _correio_fuzz_ver
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_correio_fuzz_ver VERSION_LESS 19)
  string(APPEND _correio_fuzz_flags
         " -U__cpp_concepts -D__cpp_concepts=202002L -Wno-builtin-macro-redefined")
endif()
set(CMAKE_CXX_FLAGS "${_correio_fuzz_flags}" CACHE STRING "")
set(CMAKE_C_FLAGS "-fsanitize=fuzzer-no-link" CACHE STRING "")
