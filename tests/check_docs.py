#!/usr/bin/env python3
"""The README shows each daemon's settings table as its --config-doc prints
it (the option table is their only source), so the two cannot drift.

  tests/check_docs.py README.md PROGRAM...   exit 1 naming the program whose table is missing
"""
import subprocess
import sys


def main():
    readme, programs = sys.argv[1], sys.argv[2:]
    with open(readme) as f:
        text = f.read()
    bad = 0
    for p in programs:
        table = subprocess.run([p, "--config-doc"], stdout=subprocess.PIPE, check=True, timeout=30).stdout.decode()
        if table not in text:
            print("%s does not show the settings table of %s --config-doc:\n%s" % (readme, p, table))
            bad += 1
        else:
            print("%s shows the settings of %s (%d rows)" % (readme, p.rsplit("/", 1)[-1], table.count("\n") - 2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
