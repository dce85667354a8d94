"""Shared plumbing of the CLI check scripts: run the built `rscovlm`, count checks, report failures."""
import subprocess
import sys


class Checks:
    def __init__(self, name, cli, prefix=()):
        self.name, self.cli, self.prefix = name, cli, list(prefix)
        self.failures = []
        self.count = 0

    def run(self, args, stdin=""):
        """Runs the CLI with `args` (after the prefix); returns (exit code, stdout, stderr)."""
        p = subprocess.run([self.cli] + self.prefix + list(args), input=stdin, capture_output=True, text=True,
                           timeout=120)
        return p.returncode, p.stdout, p.stderr

    def expect(self, cond, what):
        self.count += 1
        if not cond:
            self.failures.append(what)

    def finish(self):
        for f in self.failures:
            print("FAIL:", f)
        print("%s: %d checks, %d failed" % (self.name, self.count, len(self.failures)))
        sys.exit(1 if self.failures else 0)
