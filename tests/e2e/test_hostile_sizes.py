"""Size and count attacks against the real binary, beyond those in
test_hostile_clients.py: a gigabyte line without a line end (SMTP MX, in
DATA too, POP3, IMAP before and after login and under COMPRESS=DEFLATE),
500,000 To: addresses, 10,000-deep multipart nesting and 100,000 RFC 2231
parameters.

Each attack must get the documented answer (docs/smtp.md, docs/pop3.md,
docs/imap.md, docs/mime.md) in bounded memory and time: the server's RSS
(/proc/<pid>/status) may not grow past MEMORY_BOUND_MB (+ ASAN_SLACK_MB)
while it runs, no command may take longer than COMMAND_TIME_LIMIT, the
process must still be running, and fresh IMAP and POP3 logins (SMTP too,
for the SMTP attacks) must work afterwards. AddressesAtSizeLimitTest is an
expected failure: a known bug, described there.
Set CORREIO_E2E_VERBOSE=1 to see the measurements.
"""

import os
import re
import ssl
import sys
import threading
import time
import unittest
import zlib

from harness import LineClient
from smtp_util import inbox_count, open_smtp
from test_hostile_clients import (ALICE, ALICE_PW, NO_THROTTLE, TIMEOUT,
                                  HostileCase, ImapLine, open_imap, open_pop3)

VERBOSE = bool(os.environ.get("CORREIO_E2E_VERBOSE"))

# The robustness issue asks for 1 GB of line. Against the debug ASan binary
# the server discards it at 250-700 MB/s (1.5-4 s per protocol, TLS and
# COMPRESS included), so the full 1 GiB is sent rather than a smaller stand-in.
LONG_LINE = 1 << 30
CHUNK = 1 << 20

# "Bounded memory (under 64 MB per connection)" from the issue. The server
# runs with a 4 MiB ASan quarantine (see SizeCase): with the default 256 MiB
# one every freed buffer stays resident and RSS climbs by ~340 MiB under any
# sustained traffic, whatever the server does. ASAN_SLACK_MB covers the
# sanitizer's redzones and shadow for the allocations that remain.
MEMORY_BOUND_MB = 64
ASAN_SLACK_MB = 16

# One command (or one delivery) on the debug ASan binary. The slowest seen
# here: SEARCH TO over 500,000 To: fields, ~6 s.
COMMAND_TIME_LIMIT = 30
# The whole 1 GiB stream; ~4 s seen.
STREAM_TIME_LIMIT = 45
# Server CPU for the 1 GiB stream; 1.2-4 s seen.
STREAM_CPU_LIMIT = 30


def note(text):
    if VERBOSE:
        print("    [measured] " + text, file=sys.stderr)


# --------------------------------------------------- process measurements

def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def cpu_seconds(pid):
    """User + system CPU time of the process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5); `fields` starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryProbe:
    """Peak RSS growth of a process over a `with` block, in MiB.

    VmHWM is reset through /proc/<pid>/clear_refs (Linux 4.0+) when
    allowed; VmRSS is also sampled every 10 ms, for kernels that refuse.
    """

    def __init__(self, pid):
        self.pid = pid
        self.peak_mb = 0.0
        self.cpu = 0.0
        self.seconds = 0.0

    def _rss(self):
        return proc_status_kb(self.pid, "VmRSS")

    def _sample(self):
        while not self._stop.wait(0.01):
            self._max = max(self._max, self._rss())

    def __enter__(self):
        try:
            with open("/proc/%d/clear_refs" % self.pid, "w") as f:
                f.write("5")
            self._hwm = True
        except OSError:
            self._hwm = False
        self.base = self._rss()
        self._max = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._cpu0 = cpu_seconds(self.pid)
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self._t0
        self.cpu = cpu_seconds(self.pid) - self._cpu0
        self._stop.set()
        self._thread.join()
        peak = max(self._max, self._rss())
        if self._hwm:
            peak = max(peak, proc_status_kb(self.pid, "VmHWM"))
        self.peak_mb = (peak - self.base) / 1024.0
        return False


# ---------------------------------------------------------------- clients

class ImapClient(ImapLine):
    """Raw IMAP that also reads literals: response() returns the untagged
    text (literals replaced by their {n} marker), the literals, and the
    tagged line."""

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed inside a literal")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, tag):
        text, literals = [], []
        while True:
            line = self.line()
            if line.startswith(tag + " "):
                return "\n".join(text), literals, line
            text.append(line)
            m = re.search(r"\{(\d+)\}$", line)
            while m:
                literals.append(self.read_exact(int(m.group(1))))
                line = self.line()  # the rest of the same response
                text.append(line)
                m = re.search(r"\{(\d+)\}$", line)

    def run(self, tag, command):
        self.send(tag + " " + command + "\r\n")
        return self.response(tag)


def imaps_client(server):
    c = ImapClient(server.connect("imaps", tls=True, timeout=TIMEOUT))
    c.greeting()
    _, _, done = c.run("L", 'LOGIN %s "%s"' % (ALICE, ALICE_PW))
    assert done.startswith("L OK"), done
    return c


class DeflateImap(LineClient):
    """IMAP after COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, each
    write ended by a sync flush."""

    def __init__(self, sock, buf):
        super().__init__(sock)
        self.deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)
        self.buf = self.inflate.decompress(buf)

    def wrap(self, data):
        """Compressed bytes for `data`, not flushed (for streaming)."""
        return self.deflate.compress(data)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(self.deflate.compress(data) +
                          self.deflate.flush(zlib.Z_SYNC_FLUSH))

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += self.inflate.decompress(chunk)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")


def read_multiline(c):
    """A POP3 multi-line answer of megabytes as lines (Pop3Line.multiline
    copies its buffer once per line)."""
    data = bytearray(c.buf)
    c.buf = b""
    if data.startswith(b".\r\n"):
        end = 0
    else:
        while True:
            end = data.find(b"\r\n.\r\n", max(0, len(data) - (1 << 20) - 4))
            if end >= 0:
                end += 2
                break
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed inside a multi-line answer")
            data += chunk
    c.buf = bytes(data[end + 3:])
    return bytes(data[:end]).decode("utf-8", "replace").split("\r\n")[:-1]


# ------------------------------------------------------ hostile messages

def dot_stuff(raw):
    raw = raw.replace(b"\r\n.", b"\r\n..")
    return b"." + raw if raw.startswith(b".") else raw


def message(subject, header=b"", body=b"body\r\n"):
    return (b"From: s@remote.example\r\nSubject: " + subject.encode() +
            b"\r\nMIME-Version: 1.0\r\n" + header + b"\r\n" + body)


def to_fields(n):
    """n To: fields of one address each."""
    return b"".join(b"To: u%d@example.net\r\n" % i for i in range(n))


def one_to_field(n):
    """One To: field of n addresses, folded one per line (a data line may
    not pass limits.max_line_length)."""
    return (b"To: " + b",\r\n ".join(b"u%d@example.net" % i
                                       for i in range(n)) + b"\r\n")


def boundary(i):
    # Fixed width: no boundary is a prefix of another.
    return b"=_%06d" % i


def deep_multipart(depth):
    """Content-Type and body of `depth` multiparts nested in each other,
    the innermost holding text "deepneedle"; the outermost also holds a
    text part "shallowneedle" after the nest."""
    header = b'Content-Type: multipart/mixed; boundary="%s"\r\n' % boundary(0)
    body = []
    for i in range(1, depth):
        body.append(b"--%s\r\nContent-Type: multipart/mixed; "
                    b'boundary="%s"\r\n\r\n' % (boundary(i - 1), boundary(i)))
    body.append(b"--%s\r\nContent-Type: text/plain\r\n\r\ndeepneedle\r\n"
                % boundary(depth - 1))
    for i in reversed(range(1, depth)):
        body.append(b"--%s--\r\n" % boundary(i))
    body.append(b"--%s\r\nContent-Type: text/plain\r\n\r\nshallowneedle\r\n"
                b"--%s--\r\n" % (boundary(0), boundary(0)))
    return header, b"".join(body)


def parameter_field(name, value, params):
    """A header field `name: value` with the given parameters, one per
    folded line."""
    return (name + b": " + value + b";\r\n " + b";\r\n ".join(params) +
            b"\r\n")


class SizeCase(HostileCase):
    """HostileCase whose server runs with a small ASan quarantine (see
    MEMORY_BOUND_MB); helpers to measure and to deliver."""

    @classmethod
    def setUpClass(cls):
        old = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ((old + ":") if old else "") + \
            "quarantine_size_mb=4"
        try:
            super().setUpClass()
        finally:
            if old is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = old
        cls.server.add_user(ALICE, ALICE_PW)

    @property
    def pid(self):
        return self.server.proc.pid

    def assert_bounded(self, probe, what, time_limit=COMMAND_TIME_LIMIT):
        note("%s: %.2f s, server CPU %.2f s, peak RSS +%.1f MiB"
             % (what, probe.seconds, probe.cpu, probe.peak_mb))
        self.assertLess(probe.peak_mb, MEMORY_BOUND_MB + ASAN_SLACK_MB,
                        "%s: RSS grew by %.1f MiB" % (what, probe.peak_mb))
        self.assertLess(probe.seconds, time_limit,
                        "%s took %.1f s" % (what, probe.seconds))

    def imap(self, c, tag, command):
        """Runs one IMAP command, bounded; returns (text, literals, done)."""
        with MemoryProbe(self.pid) as probe:
            out = c.run(tag, command)
        self.assert_bounded(probe, command[:60])
        return out

    def deliver_raw(self, raw, bound=True):
        """Sends `raw` to ALICE through the MX; returns the final reply and
        the delivery's MemoryProbe (checked unless bound=False)."""
        c = open_smtp(self.server)
        try:
            c.sock.settimeout(COMMAND_TIME_LIMIT * 2)
            self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                            .startswith("250"))
            self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
            self.assertEqual(c.code("DATA"), 354)
            with MemoryProbe(self.pid) as probe:
                c.send(dot_stuff(raw) + b".\r\n")
                reply = c.reply()
            if bound:
                self.assert_bounded(probe, "delivery of %d octets"
                                    % len(raw))
            self.assertEqual(c.code("QUIT"), 221)
            return reply, probe
        finally:
            c.close()

    def deliver_hostile(self, raw):
        """Delivers `raw`; returns an IMAP session with INBOX selected and
        the new message's sequence number, or (None, None) when the server
        refused it with a 5xx."""
        before = inbox_count(self.server, ALICE)
        reply, _ = self.deliver_raw(raw)
        if reply.startswith("5"):
            # Refusing is allowed (e.g. 552 5.3.4 past limits.max_message_
            # size, docs/smtp.md), but then nothing may be stored.
            self.assertEqual(inbox_count(self.server, ALICE), before)
            note("refused: " + reply)
            return None, None
        self.assertTrue(reply.startswith("250 2.0.0"), reply)
        self.assertEqual(inbox_count(self.server, ALICE), before + 1)
        c = imaps_client(self.server)
        text, _, done = c.run("s", "SELECT INBOX")
        self.assertTrue(done.startswith("s OK"), done)
        exists = int(re.search(r"^\* (\d+) EXISTS", text, re.M).group(1))
        self.assertEqual(exists, before + 1)
        return c, exists

    def expunge_all(self):
        c = imaps_client(self.server)
        try:
            c.run("s", "SELECT INBOX")
            c.run("d", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
            c.run("e", "EXPUNGE")
        finally:
            c.close()

    def assert_all_work(self):
        self.assert_imap_works()
        self.assert_pop3_works()


# ----------------------------------------- 1. a gigabyte without a line end

class LongLineTest(SizeCase):
    """LONG_LINE octets of "A" with no LF. net::Connection::ReadLine (and
    pop3::proto::LineReader) keep at most limits.max_line_length of it and
    drop the rest as it comes, so the server reads on in bounded memory and
    answers once the LF arrives: SMTP `500 5.5.2 Line too long`, in DATA
    the message fails the same way (docs/smtp.md), POP3 `-ERR Line too
    long` (docs/pop3.md), IMAP `<tag> BAD Line too long` with the tag from
    the head of the line (docs/imap.md); each session goes on. Closing the
    connection early would also be a bounded answer; then the sender stops
    and whatever the server wrote before closing must be an error."""

    server_args = {"extra_config": NO_THROTTLE}

    def stream_line(self, sock, head, alive, wrap=None):
        """Sends head + LONG_LINE octets of "A" from a thread, without a line
        end; half way `alive()` must be served on a fresh connection.
        Returns True when the server closed the connection early."""
        chunk = b"A" * CHUNK
        state = {"sent": 0, "closed": False, "error": None}
        half = threading.Event()

        def sender():
            try:
                sock.sendall(wrap(head) if wrap else head)
                while state["sent"] < LONG_LINE:
                    data = wrap(chunk) if wrap else chunk
                    if data:
                        sock.sendall(data)
                    state["sent"] += CHUNK
                    if state["sent"] >= LONG_LINE // 2:
                        half.set()
            except TimeoutError as e:
                state["error"] = e  # the server stopped reading
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                state["closed"] = True  # the server hung up: stop sending
            except Exception as e:  # noqa: BLE001 - reported below
                state["error"] = e
            finally:
                half.set()

        thread = threading.Thread(target=sender, daemon=True)
        with MemoryProbe(self.pid) as probe:
            thread.start()
            self.assertTrue(half.wait(STREAM_TIME_LIMIT), "no progress")
            start = time.monotonic()
            alive()
            alive_seconds = time.monotonic() - start
            thread.join(STREAM_TIME_LIMIT)
            self.assertFalse(thread.is_alive(), "stream did not finish")
        self.assertIsNone(state["error"], "after %d octets: %r" %
                          (state["sent"], state["error"]))
        note("%d MiB line, fresh session served mid-stream in %.2f s"
             % (state["sent"] >> 20, alive_seconds))
        self.assertLess(alive_seconds, COMMAND_TIME_LIMIT)
        self.assertLess(probe.cpu, STREAM_CPU_LIMIT,
                        "server CPU %.1f s" % probe.cpu)
        self.assert_bounded(probe, "%d MiB line" % (state["sent"] >> 20),
                            STREAM_TIME_LIMIT)
        return state["closed"]

    def answer_after_close(self, c, errors):
        """The server closed early: what it wrote first must be an error."""
        try:
            first = c.line()
        except (EOFError, OSError):
            return
        self.assertTrue(first.startswith(errors), first)

    # Mid-stream checks that a fresh session is served. They log nobody
    # in: a login costs 64 MiB of Argon2id (m=65536, src/auth/password.cc)
    # and would be measured as the attack's; logins are checked afterwards.
    def smtp_greets(self):
        c = open_smtp(self.server)
        self.assertEqual(c.code("NOOP"), 250)
        c.close()

    def pop3_greets(self):
        c = open_pop3(self.server)
        self.assertTrue(c.cmd("USER " + ALICE).startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()

    def imap_greets(self):
        c = open_imap(self.server)
        _, done = c.cmd("n", "NOOP")
        self.assertTrue(done.startswith("n OK"), done)
        c.close()

    def test_smtp_command_line(self):
        c = open_smtp(self.server)
        if self.stream_line(c.sock, b"NOOP ", self.smtp_greets):
            self.answer_after_close(c, ("500", "421"))
        else:
            c.send(b"\r\n")
            self.assertEqual(c.reply(), "500 5.5.2 Line too long")
            self.assertEqual(c.code("NOOP"), 250)
            self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                            .startswith("250"))
            self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
            self.assertEqual(c.code("DATA"), 354)
            c.send(b"Subject: after long line\r\n\r\nbody\r\n.\r\n")
            self.assertTrue(c.reply().startswith("250 2.0.0"))
        c.close()
        self.assert_smtp_works()
        self.assert_all_work()

    def test_smtp_data_line(self):
        before = inbox_count(self.server, ALICE)
        c = open_smtp(self.server)
        self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                        .startswith("250"))
        self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
        self.assertEqual(c.code("DATA"), 354)
        head = b"Subject: long data line\r\n\r\n"
        if self.stream_line(c.sock, head, self.smtp_greets):
            self.answer_after_close(c, ("500", "421", "552"))
        else:
            c.send(b"\r\n.\r\n")
            # RFC 5321 §4.5.3.1.10, docs/smtp.md "Deliberate deviations".
            self.assertEqual(c.reply(), "500 5.5.2 Line too long")
            self.assertEqual(c.code("NOOP"), 250)
        c.close()
        self.assertEqual(inbox_count(self.server, ALICE), before)
        self.assert_smtp_works()
        self.assert_all_work()

    def test_pop3_line(self):
        c = open_pop3(self.server, "pop3")
        if self.stream_line(c.sock, b"USER ", self.pop3_greets):
            self.answer_after_close(c, ("-ERR",))
        else:
            c.send(b"\r\n")
            self.assertEqual(c.line(), "-ERR Line too long")
            # The session goes on: TLS, then a login, in the same session.
            self.assertTrue(c.cmd("STLS").startswith("+OK"))
            c.starttls()
            self.assertTrue(c.cmd("USER " + ALICE).startswith("+OK"))
            self.assertTrue(c.cmd("PASS " + ALICE_PW).startswith("+OK"))
            self.assertTrue(c.cmd("STAT").startswith("+OK"))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assert_all_work()

    def test_imap_line_before_login(self):
        c = ImapClient(self.server.connect("imap", timeout=TIMEOUT))
        c.greeting()
        if self.stream_line(c.sock, b"t1 NOOP ", self.imap_greets):
            self.answer_after_close(c, ("t1 BAD", "* BAD", "* BYE"))
        else:
            c.send(b"\r\n")
            self.assertEqual(c.line(), "t1 BAD Line too long")
            _, _, done = c.run("t2", "STARTTLS")
            self.assertTrue(done.startswith("t2 OK"), done)
            c.starttls()
            _, _, done = c.run("t3", 'LOGIN %s "%s"' % (ALICE, ALICE_PW))
            self.assertTrue(done.startswith("t3 OK"), done)
        c.close()
        self.assert_all_work()

    def test_imap_line_after_login(self):
        c = imaps_client(self.server)
        if self.stream_line(c.sock, b"t1 NOOP ", self.imap_greets):
            self.answer_after_close(c, ("t1 BAD", "* BAD", "* BYE"))
        else:
            c.send(b"\r\n")
            self.assertEqual(c.line(), "t1 BAD Line too long")
            _, _, done = c.run("t2", "SELECT INBOX")
            self.assertTrue(done.startswith("t2 OK"), done)
        c.close()
        self.assert_all_work()

    def test_imap_line_compressed(self):
        # 1 GiB of line costs the client ~4.5 MB of deflate (RFC 4978).
        c = imaps_client(self.server)
        _, _, done = c.run("z", "COMPRESS DEFLATE")
        self.assertEqual(done, "z OK DEFLATE active")
        d = DeflateImap(c.sock, c.buf)
        if self.stream_line(d.sock, b"t1 NOOP ", self.imap_greets,
                            wrap=d.wrap):
            self.answer_after_close(d, ("t1 BAD", "* BAD", "* BYE"))
        else:
            d.send(b"\r\n")
            self.assertEqual(d.line(), "t1 BAD Line too long")
            d.send("t2 SELECT INBOX\r\n")
            while True:
                line = d.line()
                if line.startswith("t2 "):
                    break
            self.assertTrue(line.startswith("t2 OK"), line)
        d.close()
        self.assert_all_work()


# ------------------------------------------------- 2. 500,000 To: addresses

class ManyAddressesTest(SizeCase):
    """500,000 To: addresses, as many fields and as one folded field
    (~12 MB, under the 50M default limits.max_message_size,
    docs/configuration.md, so the message is parsed). docs/mime.md: the
    parser examines 10,000 fields and 1 MiB of header per part and keeps
    1,000 addresses per field, so ENVELOPE is capped; SEARCH header keys
    read the whole stored header (src/imap/server/cmd_search.cc), so they
    find the last address too, in linear time."""

    server_args = {"extra_config": NO_THROTTLE}
    N = 500000

    def check(self, raw, envelope_to_count):
        c, n = self.deliver_hostile(raw)
        if c is None:
            self.assert_all_work()
            return
        self.addCleanup(self.expunge_all)
        text, _, done = self.imap(c, "f1", "FETCH %d (ENVELOPE)" % n)
        self.assertTrue(done.startswith("f1 OK"), done)
        self.assertIn('((NIL NIL "u0" "example.net")', text)
        self.assertEqual(text.count('"example.net")'), envelope_to_count)
        text, _, done = self.imap(c, "f2", "FETCH %d (BODYSTRUCTURE)" % n)
        self.assertTrue(done.startswith("f2 OK"), done)
        self.assertIn('(BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii")',
                      text)
        for i, key in enumerate(("TO u0@example.net",
                                 "TO u%d@example.net" % (self.N - 1),
                                 "HEADER To u%d@" % (self.N - 1),
                                 "FROM s@remote.example", "TEXT needle")):
            tag = "s%d" % i
            text, _, done = self.imap(c, tag, "SEARCH " + key)
            self.assertTrue(done.startswith(tag + " OK"), (key, done))
            self.assertEqual(text, "* SEARCH %d" % n, key)
        text, _, done = self.imap(c, "s9", "SEARCH TO nobody@example.net")
        self.assertEqual(text, "* SEARCH", text)
        c.close()
        # POP3 serves it too: the header alone.
        p = open_pop3(self.server)
        self.assertTrue(p.cmd("USER " + ALICE).startswith("+OK"))
        self.assertTrue(p.cmd("PASS " + ALICE_PW).startswith("+OK"))
        p.sock.settimeout(COMMAND_TIME_LIMIT)
        with MemoryProbe(self.pid) as probe:
            self.assertTrue(p.cmd("TOP %d 0" % n).startswith("+OK"))
            lines = read_multiline(p)
        self.assert_bounded(probe, "POP3 TOP %d 0" % n)
        self.assertEqual(sum(1 for l in lines if "@example.net" in l),
                         self.N)
        self.assertTrue(p.cmd("QUIT").startswith("+OK"))
        p.close()
        self.assert_all_work()

    def test_500000_to_fields(self):
        # ENVELOPE takes the first To: field (RFC 9051 §7.5.2): u0 alone.
        self.check(message("many to fields", to_fields(self.N),
                           b"body needle\r\n"), 1)

    def test_one_to_field_of_500000_addresses(self):
        # docs/mime.md max_addresses: 1,000 kept.
        self.check(message("one huge to field", one_to_field(self.N),
                           b"body needle\r\n"), 1000)


class AddressesAtSizeLimitTest(SizeCase):
    """The same attack grown to the size limit: one To: field of 2,000,000
    addresses, ~47 MB, under the 50M default limits.max_message_size, so
    it must be accepted. Its own server: every SEARCH reads the header of
    every message in the mailbox. The message is delivered once for both
    tests; the delivery's memory is measured then and judged in its own
    test."""

    server_args = {"extra_config": NO_THROTTLE}
    N = 2000000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.raw = message("to field at the limit", one_to_field(cls.N),
                          b"body needle\r\n")
        cls.delivery = None

    def delivered(self):
        """Delivers the message once; (its sequence number, the probe)."""
        cls = type(self)
        if cls.delivery is None:
            self.assertLess(len(self.raw), 50 << 20)
            before = inbox_count(self.server, ALICE)
            reply, probe = self.deliver_raw(self.raw, bound=False)
            self.assertTrue(reply.startswith("250 2.0.0"), reply)
            self.assertEqual(inbox_count(self.server, ALICE), before + 1)
            cls.delivery = (before + 1, probe)
        return cls.delivery

    # Was +153 MiB RSS (~3.3x the message): smtp::DataReader's string grew
    # by doubling (old and new buffer together at each step) and Return-Path
    # was prepended by copying. Now the reader reserves the size limit
    # once past 1 MiB (untouched pages cost nothing), and the blob takes
    # the message with Return-Path inserted in place.
    def test_delivery_at_the_size_limit_is_bounded(self):
        _, probe = self.delivered()
        self.assert_bounded(probe, "delivery of %d octets" % len(self.raw))

    def test_search_of_one_field_at_the_size_limit_is_bounded(self):
        # Was +215 MiB (~4.6x the field): the value was unfolded, decoded
        # and lowercased whole, three copies. Now imap ValueContains
        # (src/imap/server/cmd_search.cc) decodes 1 MiB windows.
        n, _ = self.delivered()
        c = imaps_client(self.server)
        text, _, done = c.run("s", "SELECT INBOX")
        self.assertTrue(done.startswith("s OK"), done)
        text, _, done = self.imap(c, "f", "FETCH %d (ENVELOPE)" % n)
        self.assertEqual(text.count('"example.net")'), 1000)
        # The last address, the first, one in the middle (across window
        # cuts for the decoder), and one that is not there.
        for who, found in ((self.N - 1, True), (0, True),
                           (self.N // 2 + 7, True), (self.N + 5, False)):
            with MemoryProbe(self.pid) as search:
                text, _, done = c.run("t", "SEARCH TO u%d@example.net" % who)
            self.assertTrue(done.startswith("t OK"), done)
            self.assertEqual(text, "* SEARCH %d" % n if found else
                             "* SEARCH", who)
            self.assert_bounded(search, "SEARCH TO over one 47 MB field")
        c.close()
        self.assert_all_work()


# ----------------------------------------- 3. 10,000-deep nested multipart

class DeepNestingTest(SizeCase):
    """10,000 multiparts in each other. docs/mime.md: at max_depth (50) the
    part becomes an opaque application/octet-stream leaf, and search text
    comes from text/* parts only. Part numbers past the structure name no
    part: BODY[...] is empty (src/imap/proto/section.h); more than 100 of
    them are refused by the command parser."""

    # A line limit above the 20,000-octet section so the parser's own bound
    # is reached (with the default 8192 it is "BAD Line too long").
    server_args = {"extra_config": "[limits]\nmax_line_length = \"256K\"\n" +
                   NO_THROTTLE}
    DEPTH = 10000
    MAX_DEPTH = 50  # docs/mime.md ParseLimits.max_depth

    def test_10000_deep_multipart(self):
        header, body = deep_multipart(self.DEPTH)
        c, n = self.deliver_hostile(message("deep", header, body))
        if c is None:
            self.assert_all_work()
            return
        text, _, done = self.imap(c, "b", "FETCH %d (BODYSTRUCTURE)" % n)
        self.assertTrue(done.startswith("b OK"), done)
        self.assertEqual(text.count('"MIXED"'), self.MAX_DEPTH)
        m = re.search(r'\("APPLICATION" "OCTET-STREAM" NIL NIL NIL "7BIT" '
                      r'(\d+) NIL NIL NIL NIL\)', text)
        self.assertTrue(m, text[:500])
        opaque_size = int(m.group(1))
        self.assertEqual(text.count('"PLAIN"'), 1)  # the shallow part only

        # The opaque leaf is the part at the limit: 1.1...1 (50 times).
        leaf = ".".join(["1"] * self.MAX_DEPTH)
        text, lits, done = self.imap(c, "p1", "FETCH %d (BODY.PEEK[%s])"
                                     % (n, leaf))
        self.assertTrue(done.startswith("p1 OK"), done)
        self.assertEqual(len(lits), 1, text)
        self.assertEqual(len(lits[0]), opaque_size)
        self.assertTrue(lits[0].startswith(b"--" + boundary(self.MAX_DEPTH)))
        # One level further there is no part: empty.
        for tag, depth in (("p2", self.MAX_DEPTH + 1), ("p3", 100)):
            path = ".".join(["1"] * depth)
            text, lits, done = self.imap(
                c, tag, "FETCH %d (BODY.PEEK[%s] BINARY.SIZE[%s])"
                % (n, path, path))
            self.assertTrue(done.startswith(tag + " OK"), done)
            self.assertEqual(lits, [b""], text)
            self.assertIn("BINARY.SIZE[%s] 0" % path, text)
        # The whole depth as a section: refused by the parser, no recursion.
        path = ".".join(["1"] * self.DEPTH)
        for tag, item in (("p4", "BODY.PEEK[%s]"),
                          ("p5", "BODY.PEEK[%s.MIME]"),
                          ("p6", "BINARY.PEEK[%s]")):
            text, lits, done = self.imap(c, tag, "FETCH %d (%s)"
                                         % (n, item % path))
            self.assertTrue(done.startswith(tag + " BAD"), done)
            self.assertEqual(text, "")
        text, lits, done = self.imap(c, "p7", "FETCH %d (BODY.PEEK[2])" % n)
        self.assertEqual(lits, [b"shallowneedle"])

        for tag, key, want in (("s1", "BODY shallowneedle", " %d" % n),
                               ("s2", "BODY deepneedle", ""),
                               ("s3", "TEXT deepneedle", "")):
            text, _, done = self.imap(c, tag, "SEARCH " + key)
            self.assertTrue(done.startswith(tag + " OK"), done)
            self.assertEqual(text, "* SEARCH" + want, key)
        _, _, done = self.imap(c, "e", "FETCH %d (ENVELOPE BODY RFC822.SIZE)"
                               % n)
        self.assertTrue(done.startswith("e OK"), done)
        c.close()
        self.assert_all_work()


# ------------------------------------------ 4. 100,000 RFC 2231 parameters

class Rfc2231ParametersTest(SizeCase):
    """100,000 parameters in one field. docs/mime.md: 256 parameters per
    field are kept and GMime sees at most 256 KiB of a Content-Type /
    Content-Disposition value, so sections of an RFC 2231 continuation
    beyond it are dropped and the joined value stays under 256 KiB. RFC
    9051 §7.5.2: continuations are joined ("name"); encoded ones are
    converted to UTF-8 and returned as "name*"."""

    server_args = {"extra_config": NO_THROTTLE}
    N = 100000
    MAX_VALUE = 256 << 10

    def bodystructure(self, header):
        c, n = self.deliver_hostile(message("rfc2231", header))
        if c is None:
            return None, None
        text, lits, done = self.imap(c, "b", "FETCH %d (BODYSTRUCTURE)" % n)
        self.assertTrue(done.startswith("b OK"), done)
        self.assertLess(len(text) + sum(len(x) for x in lits), 1 << 20)
        _, _, done = self.imap(c, "e", "FETCH %d (ENVELOPE BODY BODY.PEEK[1])"
                               % n)
        self.assertTrue(done.startswith("e OK"), done)
        c.close()
        return text, lits

    def tearDown(self):
        self.assert_all_work()
        super().tearDown()

    def test_100000_continuation_sections(self):
        params = [b'name*%d="p%d"' % (i, i) for i in range(self.N)]
        text, lits = self.bodystructure(parameter_field(
            b"Content-Type", b"application/octet-stream", params))
        if text is None:
            return
        self.assertIn('("APPLICATION" "OCTET-STREAM" ("NAME" {', text)
        self.assertEqual(len(lits), 1)
        self.assertTrue(lits[0].startswith(b"p0p1p2p3p4p5"), lits[0][:50])
        self.assertLess(len(lits[0]), self.MAX_VALUE)
        self.assertNotIn(b"p%d" % (self.N - 1), lits[0])

    def test_100000_sections_in_reverse_order(self):
        params = [b'name*%d="p%d"' % (i, i) for i in reversed(range(self.N))]
        text, lits = self.bodystructure(parameter_field(
            b"Content-Type", b"application/octet-stream", params))
        if text is None:
            return
        self.assertIn('("APPLICATION" "OCTET-STREAM" ("NAME" {', text)
        self.assertEqual(len(lits), 1)
        # The sections GMime saw are the last ones: joined in order.
        self.assertTrue(lits[0].endswith(b"p%d" % (self.N - 1)),
                        lits[0][-50:])
        self.assertLess(len(lits[0]), self.MAX_VALUE)

    def test_100000_encoded_sections(self):
        params = [b"name*0*=UTF-8''%e2%82%ac"] + \
            [b"name*%d*=%%e2%%82%%ac" % i for i in range(1, self.N)]
        text, lits = self.bodystructure(parameter_field(
            b"Content-Type", b"text/plain", params))
        if text is None:
            return
        self.assertIn('"NAME*" {', text)
        self.assertEqual(len(lits), 1)
        self.assertTrue(lits[0].lower().startswith(
            b"utf-8''" + b"%e2%82%ac" * 4), lits[0][:50])

    def test_100000_distinct_parameters(self):
        params = [b"x%d=v%d" % (i, i) for i in range(self.N)]
        text, lits = self.bodystructure(parameter_field(
            b"Content-Type", b"text/plain", params))
        if text is None:
            return
        self.assertEqual(lits, [])
        names = re.findall(r'"X(\d+)" "v\d+"', text)
        self.assertEqual(names, [str(i) for i in range(256)])
        self.assertIn('"CHARSET" "US-ASCII"', text)  # RFC 2045 §5.2 default

    def test_100000_disposition_sections(self):
        params = [b'filename*%d="f%d"' % (i, i) for i in range(self.N)]
        text, lits = self.bodystructure(
            b"Content-Type: application/pdf\r\n" +
            parameter_field(b"Content-Disposition", b"attachment", params))
        if text is None:
            return
        self.assertIn('("ATTACHMENT" ("FILENAME" {', text)
        self.assertEqual(len(lits), 1)
        self.assertTrue(lits[0].startswith(b"f0f1f2f3"), lits[0][:50])
        self.assertLess(len(lits[0]), self.MAX_VALUE)


if __name__ == "__main__":
    unittest.main()
