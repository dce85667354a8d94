#!/usr/bin/env python3
"""registry/components.json must equal the compiled catalogs (`rscovlm components --json`), both
ways: same kinds, and the same (kind, key, type, backend) rows. Each row's header must exist and
mention the key, and every component key a library header defines must be in the manifest (a
type never added to its catalog). Torch rows are compared only when the CLI was built with the plugin. The component
table of README.md must be the one scripts/update_manifest.py renders from the manifest."""
import json
import os
import subprocess
import sys

cli, root = sys.argv[1], sys.argv[2]
compiled = json.loads(subprocess.run([cli, "components", "--json"], capture_output=True, text=True,
                                     check=True).stdout)
manifest = json.load(open(os.path.join(root, "registry", "components.json")))
has_torch = any(c["backend"] == "torch" for c in compiled["components"])

def rows(components, torch):
    return {(c["kind"], c["key"], c["type"], c["backend"]) for c in components
            if torch or c["backend"] != "torch"}

want = rows(manifest["components"], has_torch)
got = rows(compiled["components"], has_torch)
errors = []
for r in sorted(want - got):
    errors.append("in registry/components.json but not compiled: %s" % (r,))
for r in sorted(got - want):
    errors.append("compiled but missing from registry/components.json: %s" % (r,))
# Kinds that only plugin components use (e.g. the torch "backend" kind) are listed only when built.
# (The manifest's rows say which those are when rscovlm-torch is absent.)
everything = compiled["components"] + manifest["components"]
plugin_only = {c["kind"] for c in everything if c["backend"] == "torch"} - \
    {c["kind"] for c in everything if c["backend"] != "torch"}
core_kinds = set(compiled["kinds"]) - plugin_only
if set(manifest["kinds"]) - plugin_only != core_kinds:
    errors.append("kinds differ: manifest %s vs compiled %s" % (sorted(manifest["kinds"]), sorted(core_kinds)))
for c in manifest["components"]:
    header = c.get("header", "")
    path = os.path.join(root, header)
    if not header or not os.path.isfile(path):
        errors.append("%s: header '%s' does not exist" % (c["key"], header))
    elif ('"%s"' % c["key"]) not in open(path, encoding="utf-8").read():
        errors.append("%s: header '%s' does not define that key" % (c["key"], header))
# Every component key defined in a library header must be in the manifest: a component whose type
# exists but that was never added to its module's catalog (builtin.hpp) is caught here.
import re  # noqa: E402
key_re = re.compile(r'std::string_view (?:\w+_)?key = "([a-z0-9_]+\.[a-z0-9_.]+)"')
manifest_keys = {c["key"] for c in manifest["components"]}
for base in [os.path.join(root, "include"), os.path.join(root, "plugins", "torch", "include")]:
    for d, _, files in os.walk(base):
        for f in files:
            if not f.endswith(".hpp"):
                continue
            path = os.path.join(d, f)
            for key in key_re.findall(open(path, encoding="utf-8").read()):
                if key not in manifest_keys:
                    errors.append("%s defines component key '%s', which no catalog lists (add it to its "
                                  "module's builtin.hpp, then run scripts/update_manifest.py)"
                                  % (os.path.relpath(path, root), key))
sys.path.insert(0, os.path.join(root, "scripts"))
from update_manifest import README_BEGIN, README_END, readme_with_table  # noqa: E402
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
rendered = readme_with_table(readme, manifest["components"])
if rendered is None:
    errors.append("README.md: the component table markers %s ... %s are missing" % (README_BEGIN, README_END))
elif rendered != readme:
    errors.append("README.md: the component table differs from registry/components.json "
                  "(run scripts/update_manifest.py --readme)")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("registry/components.json and the README table match the compiled catalogs: %d components, %d kinds"
      % (len(got), len(core_kinds)))
