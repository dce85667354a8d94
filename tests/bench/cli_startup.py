#!/usr/bin/env python3
"""Start-up cost of the command-line programs: wall time, CPU time (user + system) and peak RSS of `rscovlm --help` (the core
program, which never loads LibTorch) beside `rscovlm-torch --help` (the LibTorch subcommands), and of
`rscovlm generate --help` (the core program running rscovlm-torch for it), median of N runs each,
measured in the same run. Prints a table; asserts nothing.

Usage: tests/bench/cli_startup.py <directory holding rscovlm (and rscovlm-torch)> [N=21]
"""
import os
import statistics
import subprocess
import sys
import time


def measure(argv, n):
    walls, cpus, rss = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - t0)
        cpus.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss / 1024.0)  # KiB -> MiB (Linux)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("%s exited %d" % (" ".join(argv), os.waitstatus_to_exitcode(status)))
    return statistics.median(walls) * 1000.0, statistics.median(cpus) * 1000.0, statistics.median(rss)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bindir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    core = os.path.join(bindir, "rscovlm")
    torch = os.path.join(bindir, "rscovlm-torch")
    rows = [("rscovlm --help", [core, "--help"])]
    if not os.access(core, os.X_OK):
        raise SystemExit("no rscovlm in %s" % bindir)
    if os.access(torch, os.X_OK):
        rows += [("rscovlm-torch --help", [torch, "--help"]),
                 ("rscovlm generate --help (runs rscovlm-torch)", [core, "generate", "--help"])]
    else:
        print("(no rscovlm-torch in %s: LibTorch plugin not built)" % bindir)
    measure(rows[0][1], 2)  # warm the page cache
    print("%-46s %10s %10s %14s   (median of %d runs; ratio: wall time against the first row)"
          % ("command", "wall (ms)", "cpu (ms)", "peak RSS (MiB)", n))
    base = None
    for label, argv in rows:
        ms, cpu, mib = measure(argv, n)
        base = base or ms
        print("%-46s %10.1f %10.1f %14.1f   x%.1f" % (label, ms, cpu, mib, ms / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
