#!/usr/bin/env python3
"""Runs the -fno-exceptions test program and checks "report, then abort": it dies of SIGABRT after the
installed handler saw the error and the report "[id] message" reached stderr, and nothing runs after.
Usage: check_no_exceptions.py PROGRAM"""
import signal
import subprocess
import sys


def main():
    r = subprocess.run([sys.argv[1]], capture_output=True, text=True, timeout=60)
    failures = []
    if r.returncode != -signal.SIGABRT:
        failures.append(f"expected death by SIGABRT, got exit status {r.returncode}")
    want_out = ["try_ entry points returned", "handler: rscovlm.registry.unknown_key"]
    if r.stdout.splitlines() != want_out:
        failures.append(f"stdout {r.stdout!r}, expected the lines {want_out}")
    if "[rscovlm.registry.unknown_key]" not in r.stderr or "codec.none" not in r.stderr:
        failures.append(f"the report is missing from stderr: {r.stderr!r}")
    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
