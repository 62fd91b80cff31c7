#!/usr/bin/env python3
"""List the functions longer than a limit (default 80 lines), longest first.

    tools/long_functions.py [--max N] [paths...]     (default paths: src programs)

A function's length is its lines from the signature's first line to the closing
brace, as Universal Ctags reports them (--fields=+ne). Lambdas are counted in
the function that holds them, not on their own. Exits 0; the list is the answer.
"""
import argparse
import os
import subprocess
import sys


def functions(paths):
    out = subprocess.run(
        ["ctags", "-R", "--languages=C++", "--c++-kinds=f", "--fields=+neZ", "-o", "-", *paths],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("!_"):
            continue
        cols = line.split("\t")
        name, path = cols[0], cols[1]
        if name.startswith("__anon"):
            continue
        fields = dict(c.split(":", 1) for c in cols[3:] if ":" in c)
        if "line" not in fields or "end" not in fields:
            continue
        kind, _, scope = fields.get("scope", "").partition(":")
        scope = scope.split("::")[-1] if kind in ("class", "struct") else ""
        qualified = f"{scope}::{name}" if scope else name
        start, end = int(fields["line"]), int(fields["end"])
        yield path, start, qualified, end - start + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=80, help="list functions longer than this")
    ap.add_argument("paths", nargs="*", default=["src", "programs"])
    args = ap.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    rows = sorted((f for f in functions(args.paths) if f[3] > args.max), key=lambda f: -f[3])
    for path, start, name, length in rows:
        print(f"{length:4d}  {path}:{start}  {name}")
    print(f"{len(rows)} function(s) over {args.max} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
