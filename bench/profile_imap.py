"""Profiling aid: one correio server, the IMAP session load of bench/run.py,
per-command latencies, and optionally `perf record` of the server.

    python3 bench/profile_imap.py build-bench/correio            # figures
    python3 bench/profile_imap.py build-bench/correio --perf     # + perf
    perf report -i /tmp/perf-imapsess.data --no-children --sort sym

Four accounts with 60 corpus messages each (as `make bench-quick`), 10
clients for 12 s. No peer is started: this is for before/after comparisons
of correio alone while working on a hot spot (bench/README.md "Findings").
"""

import argparse
import collections
import os
import shutil
import subprocess
import tempfile
import time

import corpus
import imapload
import run as R
import servers


def thread_cpu(pid):
    """CPU seconds used so far by each thread name of process `pid`."""
    tick = os.sysconf("SC_CLK_TCK")
    out = collections.Counter()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] += (int(fields[11]) + int(fields[12])) / tick
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--perf", action="store_true",
                    help="perf record the server to /tmp/perf-imapsess.data")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--duration", type=float, default=12)
    ap.add_argument("--load", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "build-bench", "bench", "correio_imap_load"),
        help="the C++ load generator (default: build-bench's), or 'python' "
             "for imapload.py")
    args = ap.parse_args()
    server = servers.Correio(args.binary, tempfile.mkdtemp(prefix="prof-"))
    server.start()
    try:
        for i in range(4):
            user = "u%d@" % i + servers.DOMAIN
            server.add_user(user, R.PASSWORD)
            R.fill(server, user,
                   [corpus.make_message(i * 1000 + k) for k in range(60)])
        time.sleep(8)  # let the indexer finish the corpus
        a = R.LoadArgs()
        a.profile, a.port = "session", server.port("imap")
        a.user, a.password = "u%d@" + servers.DOMAIN, R.PASSWORD
        a.accounts, a.clients = 4, args.clients
        a.duration, a.ramp, a.procs = args.duration, 3, 2
        perf = None
        if args.perf:
            perf = subprocess.Popen(
                ["perf", "record", "-g", "-p", str(server.pids()[0]), "-o",
                 "/tmp/perf-imapsess.data", "--", "sleep",
                 str(args.duration)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid = server.pids()[0]
        before = thread_cpu(pid)
        if args.load != "python" and os.path.exists(args.load):
            R.IMAP_LOAD["binary"] = os.path.abspath(args.load)
            msg_dir = R.write_append_messages()
            try:
                r = R.run_imap_load(a, msg_dir, lambda *_: None)
            finally:
                shutil.rmtree(msg_dir, ignore_errors=True)
        else:
            r = imapload.run_load(a)
        print("generator:", r.get("generator", R.PY_GENERATOR))
        after = thread_cpu(pid)
        if perf:
            perf.wait()
        print("%.0f cmd/s, %d commands, %d errors"
              % (r["rate"], r["commands"], r["errors"]))
        # Over the whole run (ramp included), so per command is an upper
        # bound; compare runs with each other.
        used = {k: after[k] - before.get(k, 0) for k in after}
        total = sum(used.values())
        print("server CPU %.3f ms/command:" % (1000 * total / r["commands"])
              + "".join("  %s %.3f" % (k, 1000 * v / r["commands"])
                        for k, v in sorted(used.items(), key=lambda kv: -kv[1])
                        if v > 0))
        for name, st in sorted(r.get("per_command", {}).items()):
            print("%-14s n=%-6d p50 %.2f ms  p99 %.2f ms"
                  % (name, st["n"], st["p50_ms"], st["p99_ms"]))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
