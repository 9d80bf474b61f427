"""IMAP load generator (Python asyncio), modelled on what real clients do.

Profiles
  session  Sessions kept open (a desktop client or a phone on Wi-Fi). Each
           client logs in and selects INBOX once, then repeats this cycle
           until the end of the run:
             FETCH newest 50  (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS
                               (DATE FROM TO CC SUBJECT MESSAGE-ID)])
             FETCH one message in full (BODY.PEEK[]), chosen at random
             STORE +FLAGS/-FLAGS (\\Flagged) on a random message
             SEARCH SUBJECT <word>
             APPEND a corpus message (with LITERAL+ when offered)
             UID STORE +FLAGS.SILENT (\\Deleted) on it, then UID EXPUNGE
               (EXPUNGE without UIDPLUS)   - keeps the mailbox size stable
             NOOP (clients poll)
  login    Login-heavy mix (phones on mobile data, cron'd fetchers): every
           cycle connects, LOGIN, SELECT INBOX, FETCH newest 50 headers,
           LOGOUT.
  idle     Holds N connections logged in with INBOX selected in IDLE until
           told to stop (used for the memory-per-connection figure).

Clients are spread over accounts (client i uses account i mod A), and over
--procs worker processes so that the generator is not the bottleneck. Each
command's latency is measured from writing the command to reading its
tagged reply. Only commands that complete inside the measured window
(after a ramp-up in which clients connect and log in) are counted.

  python3 imapload.py session --port 1430 --user u%d@example.org \\
      --password pw --accounts 4 --clients 10 --duration 10
prints one JSON object: commands, seconds, rate, per-command p50/p99 (ms).
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imapclient import ImapClient, ImapError  # noqa: E402
import corpus  # noqa: E402

HEADERS = ("(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
           "(DATE FROM TO CC SUBJECT MESSAGE-ID)])")
SEARCH_WORDS = ("report", "invoice", "meeting", "photos", "order")


class Stats:
    def __init__(self, t_start, t_end):
        self.t_start = t_start
        self.t_end = t_end
        self.lat = {}
        self.errors = 0
        self.first_error = None

    def add(self, name, t0, t1):
        # Throughput counts commands completing inside the window.
        if self.t_start <= t1 <= self.t_end:
            self.lat.setdefault(name, []).append(t1 - t0)

    def error(self, e):
        self.errors += 1
        if self.first_error is None:
            self.first_error = str(e)[:300]


async def _cmd(c, stats, name, text, literal=None):
    t0 = time.monotonic()
    r = await c.command(text, literal=literal)
    stats.add(name, t0, time.monotonic())
    return r


async def _session_client(a, idx, stats, rng, messages):
    user = a.user % (idx % a.accounts)
    c = None
    while time.monotonic() < stats.t_end:
        try:
            if c is None:
                t0 = time.monotonic()
                c = await ImapClient.connect(a.port)
                await c.login(user, a.password)
                stats.add("LOGIN", t0, time.monotonic())
                await _cmd(c, stats, "SELECT", "SELECT INBOX")
            n = c.exists or 0
            if n:
                await _cmd(c, stats, "FETCH headers",
                           f"FETCH {max(1, n - 49)}:{n} {HEADERS}")
                await _cmd(c, stats, "FETCH body",
                           f"FETCH {rng.randint(1, n)} BODY.PEEK[]")
                op = rng.choice("+-")
                await _cmd(c, stats, "STORE",
                           f"STORE {rng.randint(1, n)} {op}FLAGS (\\Flagged)")
            await _cmd(c, stats, "SEARCH",
                       f"SEARCH SUBJECT {rng.choice(SEARCH_WORDS)}")
            msg = rng.choice(messages)
            t0 = time.monotonic()
            line, _ = await c.command("APPEND INBOX (\\Seen)", literal=msg)
            stats.add("APPEND", t0, time.monotonic())
            m = re.search(rb"\[APPENDUID \d+ (\d+)\]", line)
            if m and b"UIDPLUS" in c.caps:
                uid = m.group(1).decode()
                await _cmd(c, stats, "STORE", f"UID STORE {uid} "
                           "+FLAGS.SILENT (\\Deleted)")
                await _cmd(c, stats, "EXPUNGE", f"UID EXPUNGE {uid}")
            else:
                # The APPEND response told us the new EXISTS (or NOOP will).
                await _cmd(c, stats, "NOOP", "NOOP")
                await _cmd(c, stats, "STORE", f"STORE {c.exists} "
                           "+FLAGS.SILENT (\\Deleted)")
                await _cmd(c, stats, "EXPUNGE", "EXPUNGE")
            await _cmd(c, stats, "NOOP", "NOOP")
        except (ImapError, OSError, asyncio.IncompleteReadError,
                asyncio.TimeoutError) as e:
            stats.error(e)
            if c:
                c.close()
            c = None
            await asyncio.sleep(0.05)
    if c:
        await c.logout()


async def _login_client(a, idx, stats, rng, messages):
    user = a.user % (idx % a.accounts)
    while time.monotonic() < stats.t_end:
        c = None
        try:
            t0 = time.monotonic()
            c = await ImapClient.connect(a.port)
            stats.add("CONNECT", t0, time.monotonic())
            t0 = time.monotonic()
            await c.login(user, a.password)
            stats.add("LOGIN", t0, time.monotonic())
            await _cmd(c, stats, "SELECT", "SELECT INBOX")
            n = c.exists or 0
            if n:
                await _cmd(c, stats, "FETCH headers",
                           f"FETCH {max(1, n - 49)}:{n} {HEADERS}")
            t0 = time.monotonic()
            await c.command("LOGOUT", check=False)
            stats.add("LOGOUT", t0, time.monotonic())
            c.close()
        except (ImapError, OSError, asyncio.IncompleteReadError,
                asyncio.TimeoutError) as e:
            stats.error(e)
            if c:
                c.close()
            await asyncio.sleep(0.05)


def append_messages():
    """The messages the session profile APPENDs (the C++ generator,
    bench/loadgen, gets the same ones from run.py)."""
    return [corpus.make_message(10_000 + i) for i in range(20)]


def _worker(args):
    a, indices, t_start, t_end = args
    messages = append_messages()
    stats = Stats(t_start, t_end)

    async def main():
        fn = _session_client if a.profile == "session" else _login_client
        tasks = [asyncio.create_task(fn(a, i, stats, random.Random(i),
                                        messages)) for i in indices]
        # Commands after t_end do not count: do not wait long for clients
        # stuck in a slow login or a server that stopped answering.
        _, pending = await asyncio.wait(
            tasks, timeout=max(0, t_end - time.monotonic()) + 2)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    asyncio.run(main())
    return stats.lat, stats.errors, stats.first_error


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def run_load(a, t_start=None, on_start=None):
    """Runs a session/login profile; returns the summary dict."""
    ramp = a.ramp
    t_start = t_start or time.monotonic() + ramp
    t_end = t_start + a.duration
    procs = max(1, min(a.procs, a.clients))
    chunks = [list(range(p, a.clients, procs)) for p in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        res = pool.map_async(_worker, [(a, ch, t_start, t_end)
                                       for ch in chunks])
        if on_start:
            on_start(t_start, t_end)
        results = res.get(timeout=a.duration + ramp + 300)
    lat, errors, first_error = {}, 0, None
    for l, e, fe in results:
        for k, v in l.items():
            lat.setdefault(k, []).extend(v)
        errors += e
        first_error = first_error or fe
    total = sum(len(v) for k, v in lat.items() if k != "CONNECT")
    all_lat = [x for k, v in lat.items() if k != "CONNECT" for x in v]
    return {
        "profile": a.profile, "clients": a.clients, "seconds": a.duration,
        "commands": total, "rate": total / a.duration,
        "p50_ms": (percentile(all_lat, 50) or 0) * 1000,
        "p99_ms": (percentile(all_lat, 99) or 0) * 1000,
        "per_command": {k: {"n": len(v),
                            "p50_ms": percentile(v, 50) * 1000,
                            "p99_ms": percentile(v, 99) * 1000}
                        for k, v in sorted(lat.items())},
        "errors": errors, "first_error": first_error,
    }


async def hold_idle(a):
    """Opens a.clients IDLE sessions (TLS if --tls); prints 'ready N' and
    keeps them until stdin closes or says 'close'."""
    sem = asyncio.Semaphore(a.concurrency)
    conns, errors = [], []

    async def one(i):
        async with sem:
            try:
                c = await ImapClient.connect(a.port, tls=a.tls)
                await c.login(a.user % (i % a.accounts), a.password)
                await c.command("SELECT INBOX")
                await c.idle_start()
                conns.append(c)
            except (ImapError, OSError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as e:
                errors.append(str(e)[:200])
    await asyncio.gather(*(one(i) for i in range(a.clients)))
    print(json.dumps({"ready": len(conns), "errors": len(errors),
                      "first_error": errors[0] if errors else None}),
          flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for c in conns:
        c.close()


def main():
    ap = argparse.ArgumentParser(description="IMAP load generator")
    ap.add_argument("profile", choices=["session", "login", "idle"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="u%d@example.org",
                    help="login name pattern, %%d = account number")
    ap.add_argument("--password", default="benchpw")
    ap.add_argument("--accounts", type=int, default=1)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--ramp", type=float, default=2)
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tls", action="store_true", help="implicit TLS (idle)")
    ap.add_argument("--concurrency", type=int, default=64,
                    help="connections opened at once (idle)")
    a = ap.parse_args()
    if a.profile == "idle":
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        asyncio.run(hold_idle(a))
    else:
        print(json.dumps(run_load(a)))


if __name__ == "__main__":
    main()
