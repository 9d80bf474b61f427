"""Tests of the harness itself (no server needed): python3 bench/selftest.py

They check the parts whose mistakes would silently skew figures: the corpus
(deterministic, sizes, CRLF), the /proc accounting, the clients' framing of
literals and multi-line replies, and the report cells.
"""

import asyncio
import email
import email.policy
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import procstat  # noqa: E402
import run  # noqa: E402
from imapclient import ImapClient  # noqa: E402
from smtpclient import Pop3Session  # noqa: E402


class CorpusTest(unittest.TestCase):
    def test_deterministic_and_realistic(self):
        a = [corpus.make_message(i) for i in range(60)]
        self.assertEqual(a, [corpus.make_message(i) for i in range(60)])
        kinds = set()
        for data in a:
            self.assertLess(len(data), 80 * 1024)
            self.assertGreater(len(data), 1500)
            # Only CRLF line ends: no bare LF, no bare CR.
            self.assertEqual(data.count(b"\n"), data.count(b"\r\n"))
            self.assertEqual(data.count(b"\r"), data.count(b"\r\n"))
            m = email.message_from_bytes(data, policy=email.policy.default)
            self.assertTrue(m["Message-ID"])
            kinds.add(m.get_content_type())
        self.assertEqual(kinds, {"text/plain", "multipart/alternative",
                                 "multipart/mixed"})

    def test_small_messages_carry_the_needle_one_in_a_hundred(self):
        hits = sum(corpus.NEEDLE.encode() in corpus.small_message(i)
                   for i in range(1000))
        self.assertEqual(hits, 10)


class ProcstatTest(unittest.TestCase):
    def test_cpu_of_exited_child_is_counted(self):
        # A parent shell runs a CPU-bound child that exits: its time must
        # move into the parent's cutime, not vanish.
        p = subprocess.Popen(["sh", "-c", "python3 -c 'x=0\nfor i in "
                              "range(4000000): x+=i'; sleep 5"])
        try:
            time.sleep(0.05)
            before = procstat.cpu_seconds([p.pid])
            deadline = time.monotonic() + 30
            while procstat.process_count([p.pid]) > 2 and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # the child exited; sh is in sleep
            after = procstat.cpu_seconds([p.pid])
            self.assertGreater(after - before, 0.05)
            self.assertGreater(procstat.pss_bytes([p.pid]), 0)
        finally:
            p.kill()
            p.wait()


class FakeServer:
    """Serves canned bytes to one client and records what it sent."""

    def __init__(self, script):
        self.script = script  # list of (expect_prefix or None, reply bytes)
        self.got = b""

    async def handle(self, r, w):
        for expect, reply in self.script:
            if expect is not None:
                while expect not in self.got:
                    chunk = await r.read(65536)
                    if not chunk:
                        return
                    self.got += chunk
            w.write(reply)
            await w.drain()
        await asyncio.sleep(0.1)
        w.close()


class ClientFramingTest(unittest.TestCase):
    def run_with(self, script, client):
        async def main():
            fake = FakeServer(script)
            srv = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
            port = srv.sockets[0].getsockname()[1]
            try:
                return fake, await client(port)
            finally:
                srv.close()
        return asyncio.run(main())

    def test_imap_literal_in_response_is_read_whole(self):
        body = b"A1 OK not a tag\r\n* 9 EXISTS\r\n"  # inside the literal
        script = [(None, b"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n"),
                  (b"A1 FETCH", b"* 1 FETCH (BODY[] {%d}\r\n" % len(body) +
                   body + b")\r\n* 3 EXISTS\r\nA1 OK done\r\n")]

        async def client(port):
            c = await ImapClient.connect(port)
            line, untagged = await c.command("FETCH 1 BODY[]")
            return c, line, untagged
        _, (c, line, untagged) = self.run_with(script, client)
        self.assertEqual(line, b"A1 OK done")
        self.assertEqual(len(untagged), 2)
        self.assertIn(body, untagged[0])
        self.assertEqual(c.exists, 3)  # not 9: that was literal data

    def test_multiappend_sends_literal_plus(self):
        script = [(None, b"* OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND]"
                   b" hi\r\n"),
                  (b"two\r\n\r\n", b"A1 OK [APPENDUID 1 1:2] done\r\n")]

        async def client(port):
            c = await ImapClient.connect(port)
            await c.fill([b"one\r\n", b"two\r\n"])
        fake, _ = self.run_with(script, client)
        self.assertEqual(fake.got, b'A1 APPEND "INBOX" {5+}\r\none\r\n'
                         b' {5+}\r\ntwo\r\n\r\n')

    def test_pop3_multiline_ends_at_terminator_only(self):
        msg = b"Subject: x\r\n\r\n..dot-stuffed line\r\nlast\r\n.\r\n"
        script = [(None, b"+OK ready\r\n"), (b"USER", b"+OK\r\n"),
                  (b"PASS", b"+OK\r\n"), (b"RETR 1", b"+OK 40\r\n" + msg)]

        async def client(port):
            s = await Pop3Session.open(port, "u", "p")
            return await s.multiline("RETR 1")
        _, got = self.run_with(script, client)
        self.assertEqual(got, msg)


class ReportTest(unittest.TestCase):
    def test_cells(self):
        self.assertEqual(run.cell({"samples": [3.0, 1.0, 2.0],
                                   "error": None}), "2.00 (1.00–3.00)")
        self.assertEqual(run.cell({"samples": [], "error": "boom"}),
                         "n/a (error: boom)")
        run.MISSING["x"] = "did not start"
        self.assertEqual(run.cell(None, "x"), "n/a (error: did not start)")

    def test_ratio_is_per_run_pairs(self):
        res = run.Results()
        # Run 0 fast for both, run 1 slow for both, run 2 the peer failed.
        figures = ((400.0, 40.0), (200.0, 25.0), (300.0, None))
        for r in res.each_run(len(figures)):
            c, p = figures[r]
            res.add("S", "x", "msg/s", "correio", c)
            if p is None:
                res.fail("S", "x", "msg/s", run.PEER, "boom")
            else:
                res.add("S", "x", "msg/s", run.PEER, p)
        v = res.rows[0]["values"]
        c, p = v["correio"], v[run.PEER]
        self.assertEqual(run.pair_ratios(c, p), [10.0, 8.0])
        self.assertEqual(run.ratio_cell(c, p), "9.00 (8.00–10.0)")
        # The medians (300 and 32.5) would have said 9.23.
        self.assertEqual(run.ratio_cell(c, {"samples": [40.0, 25.0]}),
                         "9.23")
        self.assertEqual(run.ratio_cell(None, p), "-")

    def test_percentile(self):
        v = list(range(1, 101))
        self.assertEqual(run.imapload.percentile(v, 50), 51)
        self.assertEqual(run.imapload.percentile(v, 99), 99)


if __name__ == "__main__":
    unittest.main()
