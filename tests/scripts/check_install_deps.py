#!/usr/bin/env python3
"""scripts/install-deps.sh waits for the package manager's lock instead of failing at once.

Runs the script with stand-ins for dpkg-query (every package missing), id (root) and apt-get (fails
with apt's lock message a few times, then succeeds) first on PATH, and checks that it retries and
says it waits, and that it gives up, with the lock error, once RSCOVLM_APT_LOCK_WAIT has passed.
Usage: check_install_deps.py SOURCE_DIR"""
import os
import subprocess
import sys
import tempfile

LOCK_MSG = ("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)\n"
            "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def run(src, bindir, env_extra):
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), **env_extra)
    return subprocess.run(["bash", os.path.join(src, "scripts", "install-deps.sh")], env=env,
                          capture_output=True, text=True, timeout=120)


def main():
    src = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        state = os.path.join(tmp, "locked_runs_left")
        log = os.path.join(tmp, "apt.log")
        write(os.path.join(bindir, "dpkg-query"), "#!/bin/sh\nexit 1\n")
        write(os.path.join(bindir, "id"), "#!/bin/sh\necho 0\n")
        write(os.path.join(bindir, "apt-get"), f"""#!/bin/sh
echo "$*" >> '{log}'
n=$(cat '{state}')
if [ "$n" -gt 0 ]; then
  echo $((n - 1)) > '{state}'
  printf '%s' '{LOCK_MSG}' >&2
  exit 100
fi
echo "apt-get $1 done"
""")

        # Locked for three runs, then free: the script waits, retries and succeeds.
        write(state, "3\n")
        open(log, "w").close()
        r = run(src, bindir, {"RSCOVLM_APT_LOCK_WAIT": "600", "RSCOVLM_APT_LOCK_POLL": "0"})
        calls = open(log).read().splitlines()
        if r.returncode != 0:
            failures.append(f"waiting run failed ({r.returncode}): {r.stderr}")
        if r.stderr.count("holds its lock; waiting") != 3:
            failures.append(f"expected three 'waiting' notices, got: {r.stderr!r}")
        if "lock-frontend" not in r.stderr:
            failures.append("the notice does not name the lock")
        if len(calls) != 5 or not all(c.startswith("update") for c in calls[:4]) or not calls[4].startswith("install"):
            failures.append(f"unexpected apt-get calls: {calls}")
        if "apt-get install done" not in r.stdout:
            failures.append(f"install did not run: {r.stdout!r}")

        # Always locked, no time to wait: the script fails with apt's message after one try.
        write(state, "1000\n")
        open(log, "w").close()
        r = run(src, bindir, {"RSCOVLM_APT_LOCK_WAIT": "0", "RSCOVLM_APT_LOCK_POLL": "0"})
        calls = open(log).read().splitlines()
        if r.returncode != 100:
            failures.append(f"locked run should fail with apt-get's status 100, got {r.returncode}")
        if "gave up waiting" not in r.stderr or "Could not get lock" not in r.stderr:
            failures.append(f"locked run does not explain itself: {r.stderr!r}")
        if len(calls) != 1:
            failures.append(f"locked run should try once, tried {len(calls)} times")

        # Another failure is not retried.
        write(os.path.join(bindir, "apt-get"), f"""#!/bin/sh
echo "$*" >> '{log}'
echo "E: Unable to locate package nonesuch" >&2
exit 100
""")
        open(log, "w").close()
        r = run(src, bindir, {"RSCOVLM_APT_LOCK_WAIT": "600", "RSCOVLM_APT_LOCK_POLL": "0"})
        calls = open(log).read().splitlines()
        if r.returncode != 100 or len(calls) != 1 or "Unable to locate package" not in r.stderr:
            failures.append(f"other errors must fail at once: rc {r.returncode}, calls {calls}, {r.stderr!r}")

    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
