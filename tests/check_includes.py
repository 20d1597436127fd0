#!/usr/bin/env python3
"""The include rules of the tree, checked (a unit-tier CTest test).

Every header is included by its folder ("cluster/keys.h"), or by its bare
name from a file of the same folder. Libraries depend in one direction:

  common/   may include common/
  cluster/  may include common/, cluster/
  pg/       may include common/, cluster/, pg/
  a program folder (replicator/, proxy-agent/, backup/, cli/) may include
            common/, cluster/, pg/ and itself, never another program's folder

  tests/check_includes.py [ROOT]        checks ROOT (default: the tree); exit 1 on a violation
  tests/check_includes.py --self-test   also proves that a wrong include fails
"""
import os
import re
import shutil
import sys
import tempfile

LIBRARIES = {"common": {"common"}, "cluster": {"common", "cluster"}, "pg": {"common", "cluster", "pg"}}
PROGRAMS = ("replicator", "proxy-agent", "backup", "cli")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def allowed(folder):
    if folder in LIBRARIES:
        return LIBRARIES[folder]
    return {"common", "cluster", "pg", folder}


def violations(root):
    found = []
    for folder in list(LIBRARIES) + list(PROGRAMS):
        top = os.path.join(root, folder)
        for dirpath, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    inc = m.group(1)
                    line = text.count("\n", 0, m.start()) + 1
                    if "/" not in inc:
                        if not os.path.exists(os.path.join(dirpath, inc)):
                            found.append("%s:%d: \"%s\" is not in %s/: include it by its folder" % (rel, line, inc, folder))
                        continue
                    target = inc.split("/", 1)[0]
                    if not os.path.exists(os.path.join(root, inc)):
                        found.append("%s:%d: \"%s\" does not exist" % (rel, line, inc))
                    elif target not in allowed(folder):
                        found.append("%s:%d: %s/ may not include \"%s\" (allowed: %s)" % (
                            rel, line, folder, inc, ", ".join(sorted(a + "/" for a in allowed(folder)))))
    return found


def self_test(root):
    """A copy of the tree with one wrong include must fail, and name the file."""
    with tempfile.TemporaryDirectory() as tmp:
        for folder in list(LIBRARIES) + list(PROGRAMS):
            if os.path.isdir(os.path.join(root, folder)):
                shutil.copytree(os.path.join(root, folder), os.path.join(tmp, folder))
        victim = os.path.join(tmp, "proxy-agent", "plan.c")
        with open(victim, "a") as f:
            f.write('\n#include "replicator/decide.h"\n')
        found = violations(tmp)
        if not any("proxy-agent/plan.c" in v and "replicator/decide.h" in v for v in found):
            print("self-test: a proxy-agent file including replicator/decide.h was not caught: %s" % found)
            return False
        print("self-test: the deliberately wrong include was caught: %s" % found[-1])
    return True


def main():
    args = [a for a in sys.argv[1:] if a != "--self-test"]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print("%d include rule violation%s" % (len(found), "" if len(found) == 1 else "s"))
        return 1
    print("include rules hold in %s" % root)
    if "--self-test" in sys.argv and not self_test(root):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
