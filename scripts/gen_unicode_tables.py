#!/usr/bin/env python3
"""Generate include/rscovlm/detail/unicode_tables.hpp from the Unicode Character Database.

Usage: gen_unicode_tables.py [UCD_DIR] [OUTPUT]
  UCD_DIR defaults to /usr/share/unicode (Debian package `unicode-data`).
  OUTPUT  defaults to include/rscovlm/detail/unicode_tables.hpp next to this script's repo.

Files read: UnicodeData.txt, PropList.txt, DerivedCoreProperties.txt,
DerivedNormalizationProps.txt. The Unicode version is taken from the header of PropList.txt
and written into the generated header as `unicode_version`.

Properties emitted (one flag byte per code point, two-stage table with 256-entry blocks):
  letter      General_Category L* (Lu Ll Lt Lm Lo)                 -> regex \\p{L}
  number      General_Category N* (Nd Nl No)                       -> regex \\p{N}
  white_space PropList White_Space                                 -> regex \\s (Oniguruma, Rust)
  word        Alphabetic | M* | Nd | Pc | Join_Control             -> Rust regex \\w
  nfc_unsafe  NFC_Quick_Check = No or Maybe
  nonstarter  Canonical_Combining_Class != 0
plus the canonical combining class table, full canonical decompositions (Hangul excluded,
it is algorithmic) and the primary composition pairs (Full_Composition_Exclusion removed).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UCD = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "include", "rscovlm", "detail",
                                                          "unicode_tables.hpp")
MAX_CP = 0x110000
BLOCK = 256

F_LETTER, F_NUMBER, F_WS, F_WORD, F_NFC_UNSAFE, F_NONSTARTER = 1, 2, 4, 8, 16, 32


def ranges(path, wanted):
    """Yield (lo, hi, prop) from a UCD property file for properties in `wanted`."""
    with open(os.path.join(UCD, path), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split(";")]
            prop = parts[1]
            if prop not in wanted:
                continue
            value = parts[2] if len(parts) > 2 else None
            cps = parts[0].split("..")
            lo = int(cps[0], 16)
            hi = int(cps[-1], 16)
            yield lo, hi, prop, value


def version():
    with open(os.path.join(UCD, "PropList.txt"), encoding="utf-8") as f:
        m = re.match(r"# PropList-(\d+\.\d+\.\d+)\.txt", f.readline())
    if not m:
        sys.exit("cannot read the Unicode version from PropList.txt")
    return m.group(1)


def main():
    gc = [None] * MAX_CP
    ccc = [0] * MAX_CP
    decomp = {}  # single-level canonical decomposition
    with open(os.path.join(UCD, "UnicodeData.txt"), encoding="utf-8") as f:
        first = None
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name = fields[1]
            if name.endswith(", First>"):
                first = cp
                continue
            lo = first if name.endswith(", Last>") else cp
            first = None
            for c in range(lo, cp + 1):
                gc[c] = fields[2]
                ccc[c] = int(fields[3])
            if fields[5] and not fields[5].startswith("<"):
                decomp[cp] = [int(x, 16) for x in fields[5].split()]

    flags = [0] * MAX_CP
    for c in range(MAX_CP):
        g = gc[c]
        if g is None:
            continue
        if g[0] == "L":
            flags[c] |= F_LETTER
        if g[0] == "N":
            flags[c] |= F_NUMBER
        if g[0] == "M" or g == "Nd" or g == "Pc":
            flags[c] |= F_WORD
        if ccc[c] != 0:
            flags[c] |= F_NONSTARTER
    for lo, hi, prop, _ in ranges("PropList.txt", {"White_Space", "Join_Control"}):
        for c in range(lo, hi + 1):
            flags[c] |= F_WS if prop == "White_Space" else F_WORD
    for lo, hi, _, _ in ranges("DerivedCoreProperties.txt", {"Alphabetic"}):
        for c in range(lo, hi + 1):
            flags[c] |= F_WORD
    exclusions = set()
    for lo, hi, prop, value in ranges("DerivedNormalizationProps.txt", {"NFC_QC", "Full_Composition_Exclusion"}):
        for c in range(lo, hi + 1):
            if prop == "NFC_QC":
                flags[c] |= F_NFC_UNSAFE
            else:
                exclusions.add(c)

    def full(cp):
        if cp not in decomp:
            return [cp]
        out = []
        for x in decomp[cp]:
            out.extend(full(x))
        return out

    full_decomp = {cp: full(cp) for cp in sorted(decomp)}
    compositions = []
    for cp, d in sorted(decomp.items()):
        if len(d) == 2 and cp not in exclusions:
            compositions.append(((d[0] << 21) | d[1], cp))
    compositions.sort()

    def two_stage(values):
        blocks = {}
        stage1 = []
        stage2 = []
        for b in range(MAX_CP // BLOCK):
            blk = tuple(values[b * BLOCK:(b + 1) * BLOCK])
            if blk not in blocks:
                blocks[blk] = len(blocks)
                stage2.extend(blk)
            stage1.append(blocks[blk])
        return stage1, stage2

    p1, p2 = two_stage(flags)
    c1, c2 = two_stage(ccc)

    def arr(name, ctype, values, per_line=24):
        lines = ["inline constexpr %s %s[%d] = {" % (ctype, name, len(values))]
        for i in range(0, len(values), per_line):
            lines.append("    " + ",".join(str(v) for v in values[i:i + per_line]) + ",")
        lines.append("};")
        return "\n".join(lines)

    decomp_index = []
    decomp_data = []
    for cp, d in full_decomp.items():
        decomp_index.append("{0x%X,%d,%d}" % (cp, len(decomp_data), len(d)))
        decomp_data.extend(d)

    ver = version()
    out = []
    out.append("// Generated by scripts/gen_unicode_tables.py from the Unicode Character Database %s." % ver)
    out.append("// Do not edit by hand; rerun the script (Debian package unicode-data) instead.")
    out.append("#pragma once")
    out.append("")
    out.append("#include <cstdint>")
    out.append("#include <string_view>")
    out.append("")
    out.append("namespace rscovlm::detail::unicode_tables {")
    out.append("")
    out.append("/// Version of the Unicode Character Database the tables were generated from.")
    out.append('inline constexpr std::string_view unicode_version = "%s";' % ver)
    out.append("")
    out.append("inline constexpr std::uint8_t flag_letter = %d;      // General_Category L*" % F_LETTER)
    out.append("inline constexpr std::uint8_t flag_number = %d;      // General_Category N*" % F_NUMBER)
    out.append("inline constexpr std::uint8_t flag_white_space = %d; // White_Space" % F_WS)
    out.append("inline constexpr std::uint8_t flag_word = %d;        // Alphabetic|M|Nd|Pc|Join_Control" % F_WORD)
    out.append("inline constexpr std::uint8_t flag_nfc_unsafe = %d; // NFC_QC No or Maybe" % F_NFC_UNSAFE)
    out.append("inline constexpr std::uint8_t flag_nonstarter = %d; // ccc != 0" % F_NONSTARTER)
    out.append("inline constexpr int block_shift = 8;")
    out.append("")
    out.append(arr("property_stage1", "std::uint16_t", p1))
    out.append(arr("property_stage2", "std::uint8_t", p2, 40))
    out.append(arr("ccc_stage1", "std::uint16_t", c1))
    out.append(arr("ccc_stage2", "std::uint8_t", c2, 40))
    out.append("")
    out.append("struct decomposition { std::uint32_t cp; std::uint16_t offset; std::uint8_t length; };")
    out.append("/// Full canonical decompositions (sorted by code point), Hangul syllables excluded.")
    out.append("inline constexpr decomposition decompositions[%d] = {" % len(decomp_index))
    for i in range(0, len(decomp_index), 8):
        out.append("    " + ",".join(decomp_index[i:i + 8]) + ",")
    out.append("};")
    out.append(arr("decomposition_data", "std::uint32_t", decomp_data, 12))
    out.append("")
    out.append("struct composition { std::uint64_t key; std::uint32_t composite; };")
    out.append("/// Primary composites: key = (first << 21) | second, sorted by key.")
    out.append("inline constexpr composition compositions[%d] = {" % len(compositions))
    for i in range(0, len(compositions), 6):
        out.append("    " + ",".join("{0x%XULL,0x%X}" % kv for kv in compositions[i:i + 6]) + ",")
    out.append("};")
    out.append("")
    out.append("} // namespace rscovlm::detail::unicode_tables")
    out.append("")
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print("wrote %s (Unicode %s, %d property blocks, %d ccc blocks, %d decompositions, %d compositions)" % (
        OUT, ver, len(p2) // BLOCK, len(c2) // BLOCK, len(decomp_index), len(compositions)))


if __name__ == "__main__":
    main()
