#!/usr/bin/env python3
"""Checks every C++20 coroutine frame in a binary for the GCC 12 layout bug.

GCC names each coroutine's frame struct "<mangled name>.Frame" in the DWARF
debug info. Its first member must be _Coro_resume_fn: a coroutine handle
points at the start of the frame and resume() calls through that slot. GCC
12 sometimes puts a hoisted temporary in front of it (seen: "__ifcd_0", the
condition of `if (!co_await ...)` inside a while loop); the handle made from
the promise is then off by one slot and the first resume jumps into garbage
(SIGILL / SIGSEGV). docs/coroutines.md has the story and the rule.

Usage: coroutine_frames.py BINARY_OR_OBJECT...
Exit 0: every frame is sound; 1: some are not (listed); 77: no debug info
(nothing to check; CTest reports it as skipped).
"""

import re
import subprocess
import sys

TAG = re.compile(r"\s*<(\d+)><[0-9a-f]+>: Abbrev Number: \d+ \((DW_TAG_\w+)\)")
NAME = re.compile(r"DW_AT_name\s*:\s*(?:\([a-z_]+\) "
                  r"(?:\(offset: 0x[0-9a-f]+\): )?)?(.*)$")


def check(path):
    """Returns (number of frames, [(frame, first member)] that are wrong)."""
    proc = subprocess.Popen(
        ["readelf", "--debug-dump=info", "--wide", path],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        errors="replace")
    frames, bad = 0, set()
    tag, depth = None, 0
    frame, frame_depth, want_first = None, 0, False
    for line in proc.stdout:
        m = TAG.match(line)
        if m:
            depth, tag = int(m.group(1)), m.group(2)
            if frame is not None and depth <= frame_depth:
                frame = None
            want_first = (frame is not None and tag == "DW_TAG_member" and
                          depth == frame_depth + 1)
            continue
        m = NAME.search(line)
        if not m:
            continue
        name = m.group(1).strip()
        if tag == "DW_TAG_structure_type" and name.endswith(".Frame"):
            frame, frame_depth, want_first = name, depth, False
            frames += 1
        elif want_first:
            if name != "_Coro_resume_fn":
                bad.add((frame, name))
            frame, want_first = None, False
    proc.wait()
    return frames, sorted(bad)


def main(paths):
    total, failed = 0, False
    for path in paths:
        frames, bad = check(path)
        total += frames
        print(f"{path}: {frames} coroutine frames, {len(bad)} unsound")
        for frame, first in bad:
            print(f"  {frame}: first member {first}, not _Coro_resume_fn")
            failed = True
    if total == 0:
        print("no coroutine frames in the debug info (built without -g?)")
        return 77
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
