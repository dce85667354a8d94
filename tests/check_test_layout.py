#!/usr/bin/env python3
"""The unit tests mirror include/rscovlm/ and the core tests stay on the core side of the boundary.

Usage: check_test_layout.py <project root>. Fails when
- a folder of tests/unit/ (other than support/) is not a module of include/rscovlm/ (or `core`, the
  top-level headers and detail/), or is missing from tests/CMakeLists.txt's module lists;
- a test of a core module (RSCOVLM_CORE_TEST_MODULES) includes an io, engine, interop or torch header
  (core tests link only rscovlm::rscovlm; decoded fixtures come from tests/unit/support/fixtures.hpp).
"""
import os
import re
import sys

BOUNDARY = re.compile(r'#\s*include\s*[<"]rscovlm/(io|engine|interop|torch)/')


def cmake_list(text, name):
    m = re.search(r"set\(%s ([^)]*)\)" % name, text)
    if not m:
        raise SystemExit("tests/CMakeLists.txt has no %s list" % name)
    return m.group(1).split()


def main():
    root = os.path.abspath(sys.argv[1])
    cmake = open(os.path.join(root, "tests", "CMakeLists.txt"), encoding="utf-8").read()
    core = cmake_list(cmake, "RSCOVLM_CORE_TEST_MODULES")
    io = cmake_list(cmake, "RSCOVLM_IO_TEST_MODULES")
    modules = set(os.listdir(os.path.join(root, "include", "rscovlm"))) | {"core"}
    unit = os.path.join(root, "tests", "unit")
    failures = []
    for d in sorted(os.listdir(unit)):
        if not os.path.isdir(os.path.join(unit, d)) or d == "support":
            continue
        if d not in modules:
            failures.append("tests/unit/%s mirrors no module of include/rscovlm/" % d)
        if d not in core and d not in io:
            failures.append("tests/unit/%s is in neither module list of tests/CMakeLists.txt: its tests never run" % d)
    for m in core + io:
        if not os.path.isdir(os.path.join(unit, m)):
            failures.append("tests/CMakeLists.txt lists module %s, which has no tests/unit/%s folder" % (m, m))
    for m in core:
        folder = os.path.join(unit, m)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            text = open(os.path.join(folder, f), encoding="utf-8").read()
            for line in text.splitlines():
                if BOUNDARY.search(line):
                    failures.append("tests/unit/%s/%s (core module) includes %s: core tests link only "
                                    "rscovlm::rscovlm; move it to io/engine/interop or use support/fixtures.hpp"
                                    % (m, f, line.strip()))
    for f in failures:
        print("FAIL", f)
    print("test layout: %d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
