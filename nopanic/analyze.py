#!/usr/bin/env python3
"""Lists the panic paths that link in a nopanic ELF built with feature `defined`.

Usage: analyze.py ELF ROOT BINDIR [--tsv FILE]

ELF     the binary (built with `--features defined`, debug line tables)
ROOT    the tinyloss checkout (frames under ROOT/src are "tinyloss" frames)
BINDIR  directory holding llvm-objdump, llvm-nm and llvm-addr2line

Method: the direct call/branch graph of the final, LTO-ed, gc-ed ELF (every
instruction whose operand is a function address: call/jmp/jcc on x86,
b/bl/bcc on ARM). The functions that can reach `tinyloss_panic_is_reachable`
are the "panicking" set. A *panic site* is a branch from a function outside
core into a core function of that set (`core::panicking::*`,
`core::slice::index::*_fail`, ...), or into the panic handler. Each site's
address is mapped back through the inline chain in the line tables
(llvm-addr2line -i) to the innermost frame in the tinyloss sources: that is
the expression in tinyloss that panics. Sites whose inline chain has no
tinyloss frame (a panic inside libm, say) get the shortest call chain from
`_start` to them, each hop mapped the same way.

Prints a human report; with --tsv, also writes one line per distinct site:
kind<TAB>tinyloss-frame<TAB>file:line:col<TAB>count<TAB>chain
"""
import bisect
import collections
import os
import re
import shutil
import subprocess
import sys

PANIC_SYM = "tinyloss_panic_is_reachable"


def unescape(name):
    """Finishes demangling legacy symbols that LTO left half-mangled."""
    if "$" in name or ".." in name:
        for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$RF$", "&"), ("$BP$", "*"),
                     ("$SP$", "@"), ("$C$", ","), ("$u20$", " "), ("$u27$", "'"),
                     ("$u5b$", "["), ("$u5d$", "]"), ("$u7b$", "{"),
                     ("$u7d$", "}"), ("$u7e$", "~"), ("..", "::")):
            name = name.replace(a, b)
        if name.startswith("_<"):
            name = name[1:]
    return re.sub(r"::h[0-9a-f]{16}", "", name)


def kind_of(callee):
    c = callee
    table = [
        ("panic_bounds_check", "index out of bounds"),
        ("slice_index_fail", "slice range out of bounds"),
        ("slice_start_index_len_fail", "slice range out of bounds"),
        ("slice_end_index_len_fail", "slice range out of bounds"),
        ("slice_index_order_fail", "slice range out of bounds"),
        ("copy_from_slice", "copy_from_slice length mismatch"),
        ("len_mismatch_fail", "copy_from_slice length mismatch"),
        # LLVM merges the panic_const_* functions (identical bodies after
        # LTO), so the symbol left in the ELF names only one of them.
        ("panic_const_", "arithmetic (overflow or /0)"),
        ("unwrap_failed", "unwrap/expect"),
        ("expect_failed", "unwrap/expect"),
        ("panic_nounwind", "panic (nounwind)"),
        ("assert_failed", "assert_eq/assert_ne"),
        ("panic_fmt", "panic!/assert! (formatted)"),
        ("panicking::panic", "panic!/assert!/unreachable!"),
        ("str::slice_error_fail", "str slice out of bounds"),
        ("rust_begin_unwind", "panic handler"),
        (PANIC_SYM, "panic handler"),
    ]
    for pat, k in table:
        if pat in c:
            return k
    return "panic via " + c


def is_core(name):
    return (name.startswith(("core::", "<core::", "compiler_builtins::", "__rustc::"))
            or name == PANIC_SYM or name.startswith("<&T as core::fmt"))


def main():
    elf, root, bindir = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
    tsv = sys.argv[sys.argv.index("--tsv") + 1] if "--tsv" in sys.argv else None
    def tool(t):
        """rustup's llvm-tools first, then PATH (llvm-addr2line is not in
        llvm-tools: any LLVM's, or binutils' addr2line, which gcc pulls in)."""
        p = os.path.join(bindir, t)
        if os.path.exists(p):
            return p
        alts = {"llvm-addr2line": ["llvm-addr2line", "llvm-addr2line-22", "llvm-addr2line-19",
                                   "llvm-addr2line-16", "llvm-addr2line-14", "addr2line"]}
        for a in alts.get(t, [t]):
            w = shutil.which(a)
            if w:
                return w
        sys.exit("analyze: %s not found (rustup component add llvm-tools)" % t)
    arm = b"ARM" in subprocess.run([tool("llvm-readobj"), "-h", elf],
                                   capture_output=True).stdout
    # Functions: start, size, demangled name.
    nm = subprocess.run([tool("llvm-nm"), "-C", "-S", "--defined-only", elf],
                        capture_output=True, text=True, check=True).stdout
    funcs = {}
    for line in nm.splitlines():
        p = line.split(None, 3)
        if len(p) == 4 and p[2] in "tTwW":
            a = int(p[0], 16) & ~1
            s = int(p[1], 16)
            if s and (a not in funcs or funcs[a][0] < s):
                funcs[a] = (s, unescape(p[3]))
    starts = sorted(funcs)

    def func_at(addr):
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < starts[i] + funcs[starts[i]][0]:
            return starts[i]
        return None

    dis = subprocess.run([tool("llvm-objdump"), "-d", "--no-show-raw-insn",
                          "--no-leading-headers", elf],
                         capture_output=True, text=True, check=True).stdout
    if arm:
        branch = re.compile(r"^(bl|blx|b)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.w|\.n)?$")
    else:
        branch = re.compile(r"^(callq?|jmpq?|j[a-z]{1,3})$")
    insn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s+(?:0x)?([0-9a-f]+)\s*(?:<|$)")
    calls = collections.defaultdict(list)  # caller start -> [(site, callee start)]
    body = collections.defaultdict(list)   # function start -> [(addr, mnemonic, target)]
    anyinsn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)(.*)$")
    for line in dis.splitlines():
        a = anyinsn.match(line)
        if not a:
            continue
        m = insn.match(line)
        tgt = int(m.group(3), 16) if m and branch.match(m.group(2)) else None
        site = int(a.group(1), 16)
        f = func_at(site)
        if f is None:
            continue
        body[f].append((site, a.group(2), a.group(3), tgt))
        if tgt is None:
            continue
        g = func_at(tgt)
        if g is not None and f != g:
            calls[f].append((site, g))
    name = lambda a: funcs[a][1]
    panic = [a for a in starts if name(a) == PANIC_SYM]
    if not panic:
        print("nopanic: no %s in the ELF: no panic path links" % PANIC_SYM)
        return 0
    # Reverse reachability.
    callers = collections.defaultdict(set)
    for f, cs in calls.items():
        for _, g in cs:
            callers[g].add(f)
    reach = set(panic)
    todo = list(panic)
    while todo:
        g = todo.pop()
        for f in callers[g]:
            if f not in reach:
                reach.add(f)
                todo.append(f)

    def core_targets(g, seen=None):
        """The core panic functions reachable from g through non-core code."""
        if is_core(name(g)):
            return {name(g)}
        seen = seen or set()
        out = set()
        for _, h in calls[g]:
            if h in reach and h not in seen:
                seen.add(h)
                out |= core_targets(h, seen)
        return out

    sites = []  # (site addr, caller, callee)
    for f in starts:
        if f not in reach or is_core(name(f)):
            continue
        for site, g in calls[f]:
            if g in reach and is_core(name(g)):
                sites.append((site, f, g))
    # Inline chains for every site (and for call hops, below).
    hop_sites = {}
    start_fn = [a for a in starts if name(a) == "_start"]
    # Shortest caller paths from _start (BFS over panicking functions).
    parent = {}
    if start_fn:
        q = collections.deque(start_fn)
        parent[start_fn[0]] = None
        while q:
            f = q.popleft()
            for site, g in calls[f]:
                if g in reach and g not in parent:
                    parent[g] = (f, site)
                    q.append(g)
    # The branches that lead to each panic call: the call itself often has
    # line 0 (LLVM merged the identical calls of several checks), while the
    # compare-and-branch before it keeps the line of the check.
    def is_barrier(mn, ops, tgt, f):
        if arm:
            if mn in ("b", "b.w", "b.n", "bx", "udf", "bkpt") or "pc" in ops.split(";")[0] and mn.startswith(("pop", "ldm", "mov")):
                return True
            if mn.startswith("bl") and tgt is not None and func_at(tgt) in reach:
                return True
            return False
        if mn in ("jmp", "jmpq", "ret", "retq", "ud2", "int3"):
            return True
        if mn.startswith("call") and tgt is not None and func_at(tgt) in reach:
            return True
        return False

    def is_cond(mn):
        if arm:
            return bool(re.match(r"^(b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)(\.w|\.n)?|cbn?z)$", mn))
        return mn.startswith("j") and mn not in ("jmp", "jmpq")

    sources = {}
    index = {}
    for f, ins in body.items():
        for i, (a, _, _, _) in enumerate(ins):
            index[a] = (f, i)
    for site, f, g in sites:
        ins = body[f]
        i = index[site][1]
        block = {site}
        src = []
        j = i - 1
        while j >= 0:
            a, mn, ops, tgt = ins[j]
            if is_barrier(mn, ops, tgt, f):
                break
            if is_cond(mn) or tgt is not None and not mn.startswith(("call", "bl")):
                if is_cond(mn):
                    src.append(a)
                break
            block.add(a)
            j -= 1
        for a, mn, ops, tgt in ins:
            if tgt is not None and tgt in block and a not in block:
                src.append(a)
        sources[site] = src
    addrs = sorted({s for s, _, _ in sites} | {p[1] for p in parent.values() if p}
                   | {a for v in sources.values() for a in v})
    chains = {}
    if addrs:
        out = subprocess.run([tool("llvm-addr2line"), "-e", elf, "-f", "-i", "-C", "-a"]
                             + ["0x%x" % a for a in addrs],
                             capture_output=True, text=True, check=True).stdout
        cur = None
        lines = out.splitlines()
        i = 0
        while i < len(lines):
            l = lines[i]
            if re.match(r"^0x[0-9a-f]+$", l):
                cur = int(l, 16)
                chains[cur] = []
                i += 1
                continue
            fn = unescape(l)
            loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
            loc = re.sub(r" \(discriminator \d+\)$", "", loc)
            chains[cur].append((fn, loc))
            i += 2

    def rel(loc):
        if loc.startswith(root + "/"):
            return loc[len(root) + 1:]
        m = re.search(r"/library/(core/src/.*)", loc)
        if m:
            return m.group(1)
        m = re.search(r"/registry/src/[^/]+/(.*)", loc)
        if m:
            return m.group(1)
        return loc

    def ours(loc):
        return loc.startswith(root + "/src/")

    def describe(addr):
        """(innermost tinyloss frame, its location, chain string)."""
        ch = chains.get(addr, [])
        # addr2line -i: frame 0 is the innermost; each frame's location is
        # where the next-inner call (or the instruction) sits in it.
        tl = [(fn, loc) for fn, loc in ch if ours(loc)]
        chain = " <- ".join("%s (%s)" % (fn, rel(loc)) for fn, loc in ch)
        if tl:
            return tl[0][0], rel(tl[0][1]), chain
        if ch:
            return ch[0][0], rel(ch[0][1]), chain
        return name(func_at(addr)), "??", chain

    def call_path(f):
        hops = []
        while f is not None and parent.get(f):
            g, site = parent[f]
            fn, loc, _ = describe(site)
            hops.append("%s at %s calls %s" % (fn, loc, name(f)))
            f = g
        return list(reversed(hops))

    def lineless(loc):
        return loc == "??" or re.search(r":0(:\d+)?$", loc) is not None

    groups = collections.OrderedDict()
    for site, f, g in sites:
        kinds = sorted({kind_of(t) for t in core_targets(g)})
        k = ", ".join(kinds)
        descs = [describe(site)]
        if lineless(descs[0][1]) or not descs[0][1].startswith("src/"):
            alt = [describe(a) for a in sources.get(site, [])]
            alt = [d for d in alt if not lineless(d[1]) and d[1].startswith("src/")]
            if alt:
                descs = list({d[1]: d for d in alt}.values())
        for fn, loc, chain in descs:
            add(groups, k, fn, loc, chain, f, g)

    for key, v in groups.items():
        if not key[2].startswith("src/") and v["path"] is None:
            v["path"] = call_path(v["f"])
    def sort_key(item):
        (k, fn, loc), _ = item
        m = re.match(r"(.*):(\d+)(?::(\d+))?$", loc)
        if m:
            return (0 if loc.startswith("src/") else 1, m.group(1), int(m.group(2)),
                    int(m.group(3) or 0), k)
        return (2, loc, 0, 0, k)

    items = sorted(groups.items(), key=sort_key)
    if tsv:
        with open(tsv, "w") as out:
            for (k, fn, loc), v in items:
                out.write("\t".join([k, fn, loc, str(v["n"]), v["chain"]]) + "\n")
    ntl = sum(1 for (k, fn, loc), _ in items if loc.startswith("src/"))
    print("  %d distinct panic sites (%d in tinyloss's src/, %d call instructions)"
          % (len(items), ntl, len(sites)))
    for (k, fn, loc), v in items:
        print("  - %-28s %s  in %s  [%d call%s]"
              % (k, loc, fn, v["n"], "" if v["n"] == 1 else "s"))
        print("      inline chain: %s" % v["chain"])
        if not loc.startswith("src/"):
            for h in v["path"] or []:
                print("      via: %s" % h)
    return 1


def add(groups, k, fn, loc, chain, f, g):
    key = (k, fn, loc)
    if key not in groups:
        groups[key] = {"n": 0, "chain": chain, "path": None, "f": f, "callee": g}
    groups[key]["n"] += 1


if __name__ == "__main__":
    sys.exit(main())
