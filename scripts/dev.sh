#!/usr/bin/env bash
# One entry point for the README's quick start. Each command installs what is missing, configures,
# builds and runs, so it works as written on a fresh Debian 12 machine.
#   scripts/dev.sh demo [demo args...]   build the CLI (rscovlm, rscovlm-torch) and run `rscovlm demo`
#   scripts/dev.sh test                  build everything (-Werror) and run the whole test suite,
#                                        then the unit tests and fuzz replays again under ASan+UBSan
# Environment: RSCOVLM_WITH_TORCH=OFF skips the LibTorch plugins; RSCOVLM_SKIP_SANITIZE=1 skips the
# sanitizer pass; RSCOVLM_SANITIZE_CLI=1 adds the CLI and conformance scripts to it (about 10 CPU-minutes
# more to compile and 4.5 more to run; off by default to keep CI under its time budget); JOBS sets build parallelism
# (default: number of cores).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
jobs="${JOBS:-$(nproc)}"
torch="${RSCOVLM_WITH_TORCH:-AUTO}"
cmd="${1:-}"; shift || true

case "$cmd" in
  demo)
    scripts/install-deps.sh
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRSCOVLM_WITH_TORCH="$torch" >/dev/null
    cmake --build build --target rscovlm_programs -j "$jobs"   # rscovlm, and rscovlm-torch with LibTorch
    exec build/bin/rscovlm demo "$@"
    ;;
  test)
    if [ "$torch" = "OFF" ]; then scripts/install-deps.sh; else scripts/install-deps.sh --torch; fi
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRSCOVLM_WERROR=ON -DRSCOVLM_UNITY_TESTS=ON -DRSCOVLM_WITH_TORCH="$torch"
    cmake --build build -j "$jobs"
    (cd build && ctest --output-on-failure --no-tests=error -j "$jobs")
    if [ "${RSCOVLM_SKIP_SANITIZE:-0}" != "1" ]; then
      san_cli=OFF; san_tests='^(unit\.test_|fuzz\.)'
      if [ "${RSCOVLM_SANITIZE_CLI:-0}" = "1" ]; then
        san_cli=ON; san_tests='^(unit\.test_|fuzz\.|cli\.|conformance\.)'
      fi
      echo "== $san_tests under AddressSanitizer + UndefinedBehaviorSanitizer"
      cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DRSCOVLM_WERROR=ON -DRSCOVLM_SANITIZE=ON -DRSCOVLM_UNITY_TESTS=ON \
            -DRSCOVLM_WITH_TORCH=OFF -DRSCOVLM_TEST_SINGLE_HEADER=OFF -DRSCOVLM_BUILD_EXAMPLES="$san_cli" \
            -DRSCOVLM_BUILD_EXAMPLE_PROGRAMS=OFF >/dev/null
      cmake --build build-sanitize -j "$jobs"
      (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
         ctest --output-on-failure --no-tests=error -j "$jobs" -R "$san_tests")
    fi
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
