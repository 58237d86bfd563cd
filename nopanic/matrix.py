#!/usr/bin/env python3
"""Merges tools/nopanic's per-(target, profile) site lists into one Markdown
table: one row per source line, the configurations where it links, the kind,
and the line's text. Usage: matrix.py [LOGDIR] (default target/nopanic-logs)."""
import collections
import glob
import os
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
logdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "target", "nopanic-logs")
short = {"thumbv6m-none-eabi": "v6m", "thumbv7em-none-eabihf": "v7em",
         "x86_64-unknown-linux-gnu": "x86"}
suffix = {"release": "", "release-oc": "+oc", "release-s": "-s", "release-s-oc": "-s+oc"}
sites = collections.defaultdict(lambda: collections.defaultdict(set))
fns = {}
cols = set()
for f in sorted(glob.glob(os.path.join(logdir, "*.tsv"))):
    t, p = os.path.basename(f)[:-4].split(".", 1)
    col = short.get(t, t) + suffix.get(p, "." + p)
    cols.add(col)
    for line in open(f):
        kind, fn, loc, _n, chain = line.rstrip("\n").split("\t")
        key = re.sub(r":\d+$", "", loc) if loc.count(":") == 2 else loc
        sites[key][col].update(kind.split(", "))
        frames = [x.split(" (")[0] for x in chain.split(" <- ") if "(src/" in x]
        fns.setdefault(key, " ← ".join(dict.fromkeys(frames)) or fn)
order = [c for s in ("", "+oc", "-s", "-s+oc") for c in (a + s for a in ("v6m", "v7em", "x86"))
         if c in cols]


def sort_key(k):
    m = re.match(r"(.*):(\d+)$", k)
    return (0 if k.startswith("src/") else 1, m.group(1), int(m.group(2))) if m else (2, k, 0)


print("| site | kind | links in | inline chain (innermost first) | source |")
print("|---|---|---|---|---|")
for k in sorted(sites, key=sort_key):
    m = re.match(r"(src/.*):(\d+)$", k)
    text = ""
    if m and int(m.group(2)) > 0:
        text = open(os.path.join(root, m.group(1))).read().split("\n")[int(m.group(2)) - 1].strip()
    kinds = sorted(set().union(*sites[k].values()))
    where = " ".join(c for c in order if c in sites[k])
    print("| `%s` | %s | %s | %s | `%s` |" % (k, ", ".join(kinds), where,
                                            fns[k].replace("|", "\\|"), text.replace("|", "\\|")[:100]))
