#!/usr/bin/env python3
"""CLI conventions: --help/--version, usage errors (exit 2), bad presets (exit 1, one stderr line
with a stable error id), bundled presets load, JSON Lines error lines."""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

cli, root = sys.argv[1], sys.argv[2]
failures = []


def run(args, stdin=""):
    p = subprocess.run([cli] + args, input=stdin, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what):
    if not cond:
        failures.append(what)


rc, out, err = run(["--help"])
expect(rc == 0 and "Subcommands:" in out, "--help exits 0 and lists subcommands")
rc, out, err = run(["--version"])
expect(rc == 0 and out.startswith("rscovlm "), "--version prints 'rscovlm X.Y.Z'")
rc, out, err = run([])
expect(rc == 2, "no subcommand is a usage error (exit 2), got %d" % rc)
rc, out, err = run(["no-such-command"])
expect(rc == 2, "unknown subcommand exits 2, got %d" % rc)

bad = os.path.join(root, "tests", "data", "presets")
cases = {
    "bad_json.json": "rscovlm.config.bad_json",
    "unknown_key.json": "rscovlm.registry.unknown_key",
    "wrong_kind.json": "rscovlm.registry.wrong_kind",
    "unknown_kind.json": "rscovlm.registry.unknown_kind",
    "bad_param.json": "rscovlm.registry.bad_param",
    "missing_components.json": "rscovlm.config.bad_preset",
}
for name, eid in cases.items():
    rc, out, err = run(["pipeline", "show", os.path.join(bad, name)])
    lines = [l for l in err.splitlines() if l.strip()]
    expect(rc == 1, "%s: exit 1, got %d" % (name, rc))
    expect(len(lines) == 1 and ("[" + eid + "]") in lines[0],
           "%s: one stderr line with [%s], got %r" % (name, eid, err))
rc, out, err = run(["pipeline", "show", "no-such-preset"])
expect(rc == 1 and "rscovlm.config.unknown_preset" in err, "unknown preset name exits 1 with its id")

presets = sorted(glob.glob(os.path.join(root, "registry", "presets", "*.json")))
expect(len(presets) >= 3, "at least three bundled presets")
for p in presets:
    rc, out, err = run(["pipeline", "show", p])
    expect(rc == 0, "bundled preset %s loads (%s)" % (os.path.basename(p), err.strip()))
    if rc == 0:
        got = json.loads(out)
        want = json.load(open(p))
        expect([c["key"] for c in got["components"]] == [c["key"] for c in want["components"]],
               "preset %s round-trips its component keys" % os.path.basename(p))
rc, out, err = run(["pipeline", "list"])
expect(rc == 0 and len(out.split()) == len(presets), "pipeline list names every bundled preset")

# The LibTorch subcommands run in rscovlm-torch. A copy of rscovlm with no rscovlm-torch beside it
# and none on PATH refuses them with one typed line (exit 2), and lists none of them in --help.
torch_built = os.access(os.path.join(os.path.dirname(os.path.abspath(cli)), "rscovlm-torch"), os.X_OK)
if torch_built:
    rc, out, err = run(["--help"])
    expect(all(c in out for c in ("generate", "detect", "tiny-model", "rscovlm-torch")),
           "--help lists the LibTorch subcommands when rscovlm-torch is beside rscovlm")
lone_dir = tempfile.mkdtemp(prefix="rscovlm_cli_")
try:
    lone = os.path.join(lone_dir, "rscovlm")
    shutil.copy2(cli, lone)
    env = dict(os.environ, PATH=os.path.join(lone_dir, "no-such-dir"))
    for args in (["generate", "--model", "m", "--prompt", "p"], ["-q", "detect"], ["tiny-model", "--out", "x"],
                 ["zoom", "run", "--backend", "torch"], ["zoom", "run", "--backend=torch"]):
        p = subprocess.run([lone] + args, capture_output=True, text=True, timeout=60, env=env)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        expect(p.returncode == 2 and len(lines) == 1 and "[rscovlm.cli.no_torch]" in lines[0],
               "%s without rscovlm-torch: exit 2 and one [rscovlm.cli.no_torch] line, got %d %r"
               % (" ".join(args), p.returncode, p.stderr))
    p = subprocess.run([lone, "--help"], capture_output=True, text=True, timeout=60, env=env)
    expect(p.returncode == 0 and "tiny-model" not in p.stdout, "--help without rscovlm-torch lists no LibTorch subcommand")
    p = subprocess.run([lone, "components", "--json"], capture_output=True, text=True, timeout=60, env=env)
    expect(p.returncode == 0 and not any(c["backend"] == "torch" for c in json.loads(p.stdout)["components"]),
           "components without rscovlm-torch lists the core components")
finally:
    shutil.rmtree(lone_dir, ignore_errors=True)

# The OpenAI backend: --timeout is documented as the deadline of the whole request (default 120 s,
# 2 retries), and bounds a server that accepts and never answers.
rc, out, err = run(["zoom", "run", "--help"])
expect(rc == 0 and "whole request" in out and "120" in out and "rscovlm.zoom.timeout" in out,
       "zoom run --help documents --timeout as the per-request deadline, default 120")
silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
silent.bind(("127.0.0.1", 0))
silent.listen(8)
silent.settimeout(0.05)
held = []
stop_silent = threading.Event()


def accept_silently():
    while not stop_silent.is_set():
        try:
            held.append(silent.accept()[0])
        except socket.timeout:
            pass
        except OSError:
            break


acceptor = threading.Thread(target=accept_silently, daemon=True)
acceptor.start()
try:
    image = os.path.join(root, "tests", "data", "image", "codec", "ct2_b8_33x17_i.png")
    rc, out, err = run(["zoom", "run", "--image", image, "--question", "q", "--backend", "openai",
                        "--endpoint", "http://127.0.0.1:%d/v1" % silent.getsockname()[1], "--model", "m",
                        "--timeout", "0.3", "--retries", "1"])
    expect(rc == 1 and "[rscovlm.zoom.timeout]" in err and len(held) == 2,
           "zoom run against a silent server fails with rscovlm.zoom.timeout after 2 attempts, got %d %r (%d)"
           % (rc, err, len(held)))
finally:
    stop_silent.set()
    acceptor.join()
    for c in held:
        c.close()
    silent.close()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("cli conventions: %d presets, %d bad-preset cases: all passed" % (len(presets), len(cases)))
