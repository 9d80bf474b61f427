"""Profiling aid: correio alone with one large mailbox. Fills INBOX to each
size given (MULTIAPPEND of corpus.small_message, as the Scale scenario of
bench/run.py), then times SELECT, FETCH 1:* (FLAGS) and SEARCH BODY over a
fresh session and reports how much the server's memory grew by the end of
the SELECT: at its peak (the session, its view, and what SELECT held only
while it ran) and what stays while the mailbox is selected.

    python3 bench/profile_scale.py build-bench/correio 100000 1000000
    python3 bench/profile_scale.py NEW 1000000 --also OLD   # before/after

With --also, each size is measured with both binaries on the same data
(the server is restarted with the other binary in between). A fill of
10^6 takes about 12 minutes: --keep leaves the data directory in place
and prints its config, which --reuse CONFIG starts from next time.

The issue's targets: SELECT of 10^6 messages under 300 ms and 10 MB of
session memory; body SEARCH over 10^5 under 100 ms. No peer is started.
"""

import argparse
import asyncio
import os
import tempfile
import time

import corpus
import run as R
import servers


def measure(port, user, pids):
    """Bench/run.py's Scale measurement, in ms and KB."""
    r = asyncio.run(R.scale_measure(port, user, 600, pids))
    out = {k + " (ms)": v * 1000 for k, v in r.items()
           if not k.startswith("memory")}
    out["memory growth at SELECT, peak (KB)"] = r["memory"] / 1024
    out["memory growth held after SELECT (KB)"] = r["memory held"] / 1024
    return out


class Existing(servers.Correio):
    """A correio data directory left by --keep, started as it is."""

    def __init__(self, binary, config):  # pylint: disable=super-init-not-called
        self.binary = binary
        self.config = config
        self.dir = os.path.dirname(config)
        self.proc = None
        self.ports = {}
        self.stderr_lines = []
        self.crashes = []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("sizes", type=int, nargs="+")
    ap.add_argument("--also", metavar="BINARY",
                    help="measure this binary too, on the same data")
    ap.add_argument("--keep", action="store_true",
                    help="leave the data directory for --reuse")
    ap.add_argument("--reuse", metavar="CONFIG",
                    help="start from a data directory left by --keep")
    args = ap.parse_args()
    if args.reuse:
        server = Existing(args.binary, args.reuse)
    else:
        server = servers.Correio(args.binary,
                                 tempfile.mkdtemp(prefix="scale-"))
    server.start()
    user = "scale@" + servers.DOMAIN
    try:
        if args.reuse:
            have = server.message_count(user)
        else:
            server.add_user(user, R.PASSWORD)
            have = 0
        for size in sorted(args.sizes):
            t0 = time.monotonic()
            if size <= have:
                size = have
            for lo in range(have, size, 20000):
                hi = min(size, lo + 20000)
                R.fill(server, user, (corpus.small_message(i)
                                      for i in range(lo, hi)),
                       smtp_fallback=False)
            have = size
            print("filled to %d in %.0f s" % (size, time.monotonic() - t0),
                  flush=True)
            for binary in [args.binary] + ([args.also] if args.also else []):
                if binary != server.binary:
                    server.binary = binary
                    server.restart()
                # warm: the first pass also lets SEARCH catch up the index
                measure(server.port("imap"), user, server.pids())
                for _ in range(3):
                    r = measure(server.port("imap"), user, server.pids())
                    print("%s, %d messages: " % (binary, size) + ", ".join(
                        "%s %.1f" % kv for kv in r.items()), flush=True)
            if server.binary != args.binary:
                server.binary = args.binary
                server.restart()
    finally:
        if args.keep or args.reuse:
            kept, server.dir = server.dir, "/nonexistent-kept"  # stop() removes dir
            server.stop()
            print("kept: --reuse %s" % os.path.join(kept, "correio.toml"))
        else:
            server.stop()


if __name__ == "__main__":
    main()
