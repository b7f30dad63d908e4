#!/usr/bin/env python3
# A large repository for the benchmarks, as a git fast-import stream on stdout:
#   bigrepo.py FILES DIRS COMMITS FILE_BYTES | git --git-dir UP fast-import --quiet
# The first commit on main holds FILES files of FILE_BYTES bytes in DIRS
# directories; each of the COMMITS - 1 later ones changes five of them.
import sys

files, dirs, commits, size = (int(a) for a in sys.argv[1:5])
out = sys.stdout.buffer


def blob(mark, n):
    data = (("line %d of file %d\n" % (n, mark)) * (size // 24 + 1))[:size].encode()
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n")


for i in range(files):
    blob(i + 1, 0)
for c in range(max(commits, 1)):
    out.write(b"commit refs/heads/main\ncommitter Bench <b@example.com> %d +0000\ndata 8\ncommit %d\n" % (1700000000 + c, c % 10))
    if c == 0:
        for i in range(files):
            out.write(b"M 100644 :%d d%04d/f%05d.txt\n" % (i + 1, i % dirs, i))
    else:
        for k in range(5):
            i = (c * 37 + k * 1013) % files
            data = ("changed in commit %d\n" % c).encode()
            out.write(b"M 100644 inline d%04d/f%05d.txt\ndata %d\n" % (i % dirs, i, len(data)) + data + b"\n")
