#!/usr/bin/env python3
"""Regenerates registry/components.json from a built CLI (`rscovlm components --json`), adding the
header that defines each key. Run it after adding or renaming a component; the test
`cli.components_manifest` fails until the manifest matches the compiled catalogs again.
    scripts/update_manifest.py build/bin/rscovlm
"""
import json
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
cli = sys.argv[1]
data = json.loads(subprocess.run([cli, "components", "--json"], capture_output=True, text=True, check=True).stdout)

headers = []
for base in ("include", os.path.join("plugins", "torch", "include")):
    for d, _, files in os.walk(os.path.join(root, base)):
        for f in sorted(files):
            if f.endswith(".hpp"):
                headers.append(os.path.relpath(os.path.join(d, f), root))
headers.sort()
texts = {h: open(os.path.join(root, h), encoding="utf-8").read() for h in headers}

out = []
for c in data["components"]:
    needle = 'key = "%s"' % c["key"]
    where = [h for h in headers if needle in texts[h]]
    if len(where) != 1:
        sys.exit("%s: defined in %d headers (%s)" % (c["key"], len(where), where))
    out.append({"kind": c["kind"], "key": c["key"], "type": c["type"], "header": where[0],
                "backend": c["backend"], "summary": c["summary"]})

# Keep torch rows that a CLI built without the plugin cannot report.
path = os.path.join(root, "registry", "components.json")
if os.path.exists(path) and not any(c["backend"] == "torch" for c in out):
    out += [c for c in json.load(open(path))["components"] if c["backend"] == "torch"]

with open(path, "w", encoding="utf-8") as f:
    json.dump({"kinds": data["kinds"], "components": out}, f, indent=2)
    f.write("\n")
print("wrote registry/components.json: %d components" % len(out))
