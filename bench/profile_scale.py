"""Profiling aid: correio alone with one large mailbox. Fills INBOX to each
size given (MULTIAPPEND of corpus.small_message, as the Scale scenario of
bench/run.py), then times SELECT, FETCH 1:* (FLAGS) and SEARCH BODY over a
fresh session and reports how much the server's memory grew while that
session had the mailbox selected.

    python3 bench/profile_scale.py build-bench/correio 100000 1000000

The issue's targets: SELECT of 10^6 messages under 300 ms and 10 MB of
session memory; body SEARCH over 10^5 under 100 ms. No peer is started.
"""

import argparse
import asyncio
import tempfile
import time

import corpus
import run as R
import servers
from imapclient import ImapClient


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def measure(port, user, pid):
    c = await ImapClient.connect(port)
    await c.login(user, R.PASSWORD)
    out = {}
    base = rss_kb(pid)
    for name, cmd in (("SELECT", "SELECT INBOX"),
                      ("FETCH 1:* FLAGS", "FETCH 1:* (FLAGS)"),
                      ("SEARCH BODY", "SEARCH BODY " + corpus.NEEDLE)):
        t0 = time.monotonic()
        await c.command(cmd)
        out[name] = (time.monotonic() - t0) * 1000
        if name == "SELECT":
            out["RSS growth at SELECT (KB)"] = rss_kb(pid) - base
    await c.logout()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("sizes", type=int, nargs="+")
    args = ap.parse_args()
    server = servers.Correio(args.binary, tempfile.mkdtemp(prefix="scale-"))
    server.start()
    user = "scale@" + servers.DOMAIN
    try:
        server.add_user(user, R.PASSWORD)
        have = 0
        pid = server.pids()[0]
        for size in sorted(args.sizes):
            t0 = time.monotonic()
            for lo in range(have, size, 20000):
                hi = min(size, lo + 20000)
                R.fill(server, user, (corpus.small_message(i)
                                      for i in range(lo, hi)),
                       smtp_fallback=False)
            have = size
            print("filled to %d in %.0f s" % (size, time.monotonic() - t0),
                  flush=True)
            asyncio.run(measure(server.port("imap"), user, pid))  # warm
            for _ in range(3):
                r = asyncio.run(measure(server.port("imap"), user, pid))
                print("%d messages: " % size + ", ".join(
                    "%s %.1f" % kv for kv in r.items()), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
