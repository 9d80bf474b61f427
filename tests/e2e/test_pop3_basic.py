"""POP3 end to end: the real binary, Python's poplib, raw transcripts.

Mail is put into INBOX through the MX port (smtplib), then read, deleted
and listed over POP3 (STLS on the plain port, implicit TLS on pop3s).
"""

import base64
import poplib
import smtplib
import socket
import time
import unittest

from harness import (DOMAIN, LineClient, Server, ServerTestCase,
                     client_tls_context)

ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
PASSWORD = "pop3 secret"


def deliver(server, rcpt, subject, body="hello\r\n", extra_headers=""):
    msg = ("From: sender@example.net\r\nTo: %s\r\nSubject: %s\r\n%s"
           "Message-ID: <%s.%f@example.net>\r\n\r\n%s"
           % (rcpt, subject, extra_headers, subject.replace(" ", "-"),
              time.time(), body))
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=60) as s:
        s.sendmail("sender@example.net", [rcpt], msg.encode())
    return msg


def pop3_stls(server, user=ALICE, password=PASSWORD):
    p = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=60)
    p.stls(context=client_tls_context())
    p.user(user)
    p.pass_(password)
    return p


def pop3s(server, user=ALICE, password=PASSWORD):
    p = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), timeout=60,
                        context=client_tls_context())
    p.user(user)
    p.pass_(password)
    return p


def wait_login(server, user=ALICE, password=PASSWORD, tries=100):
    """Logs in, retrying while an earlier dropped session still holds the
    maildrop (the server notices a dropped connection asynchronously)."""
    for _ in range(tries):
        try:
            return pop3s(server, user, password)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0]:
                raise
            time.sleep(0.05)
    raise AssertionError("maildrop stayed in use")


def subjects(p):
    out = []
    count, _ = p.stat()
    for n in range(1, count + 1):
        _, lines, _ = p.top(n, 0)
        for line in lines:
            if line.lower().startswith(b"subject: "):
                out.append(line[9:].decode())
    return out


def empty_maildrop(server, user=ALICE):
    p = wait_login(server, user)
    count, _ = p.stat()
    for n in range(1, count + 1):
        p.dele(n)
    p.quit()


class Pop3Basic(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)
        cls.server.add_user(BOB, PASSWORD)

    def setUp(self):
        empty_maildrop(self.server)

    def test_login_before_stls_refused(self):
        c = LineClient(self.server.connect("pop3"))
        self.assertTrue(c.line().startswith("+OK"))
        c.send("CAPA\r\n")
        self.assertEqual(c.line(), "+OK Capability list follows")
        caps = []
        while True:
            line = c.line()
            if line == ".":
                break
            caps.append(line)
        self.assertIn("STLS", caps)
        self.assertNotIn("USER", caps)
        c.send("USER %s\r\n" % ALICE)
        self.assertTrue(c.line().startswith("-ERR [AUTH]"))
        c.send("AUTH PLAIN %s\r\n" % base64.b64encode(
            ("\0%s\0%s" % (ALICE, PASSWORD)).encode()).decode())
        self.assertTrue(c.line().startswith("-ERR [AUTH]"))
        c.send("QUIT\r\n")
        self.assertTrue(c.line().startswith("+OK"))
        c.close()

    def test_stls_commands_sizes_and_deletion_on_quit(self):
        m1 = deliver(self.server, ALICE, "first")
        deliver(self.server, ALICE, "second")
        p = pop3_stls(self.server)
        count, octets = p.stat()
        self.assertEqual(count, 2)
        _, listing, _ = p.list()
        sizes = [int(l.split()[1]) for l in listing]
        self.assertEqual(sum(sizes), octets)
        # LIST sizes are the exact octets RETR sends (CRLF line ends).
        for n in (1, 2):
            _, lines, _ = p.retr(n)
            self.assertEqual(len(b"\r\n".join(lines) + b"\r\n"), sizes[n - 1])
        _, lines, _ = p.retr(1)
        self.assertTrue(b"\r\n".join(lines).endswith(
            m1.split("\r\n\r\n", 1)[1].rstrip("\r\n").encode()))
        _, uidl, _ = p.uidl()
        self.assertEqual(len(uidl), 2)
        resp = p.uidl(2)
        self.assertEqual(resp.split()[2], uidl[1].split()[1])
        _, top, _ = p.top(2, 0)
        self.assertIn(b"Subject: second", top)
        self.assertEqual(top[-1], b"")  # header and the blank line only
        p.dele(1)
        self.assertEqual(p.stat()[0], 1)
        p.rset()
        self.assertEqual(p.stat()[0], 2)
        p.dele(1)
        with self.assertRaises(poplib.error_proto):
            p.retr(1)
        with self.assertRaises(poplib.error_proto):
            p.retr(3)
        # Not applied until QUIT: another view (a second client) is refused
        # [IN-USE] while this one is in TRANSACTION.
        with self.assertRaises(poplib.error_proto) as cm:
            pop3s(self.server)
        self.assertIn(b"[IN-USE]", cm.exception.args[0])
        self.assertTrue(p.quit().startswith(b"+OK"))
        p = wait_login(self.server)
        self.assertEqual(subjects(p), ["second"])
        p.quit()

    def test_each_retr_sends_its_own_message_in_any_order(self):
        # RETR n reads message n+1 ahead (src/pop3/server/session.cc
        # ReadAhead); whatever order the client takes, each RETR must send
        # exactly the message it names.
        for i in range(1, 6):
            deliver(self.server, ALICE, "msg%d" % i, body="body %d\r\n" % i)
        p = pop3_stls(self.server)

        def subject_of(n):
            _, lines, _ = p.retr(n)
            subj = [l for l in lines if l.startswith(b"Subject: ")]
            body = lines[-1]
            self.assertEqual(body, b"body %d" % n)
            return subj[0][len(b"Subject: "):].decode()

        order = [1, 2, 3, 5, 4, 4, 1]
        self.assertEqual([subject_of(n) for n in order],
                         ["msg%d" % n for n in order])
        # The message read ahead is deleted before it is asked for: the
        # next one not deleted is what RETR after it names.
        _, lines, _ = p.retr(1)
        p.dele(2)
        with self.assertRaises(poplib.error_proto):
            p.retr(2)
        self.assertEqual(subject_of(3), "msg3")
        _, top, _ = p.top(4, 0)  # TOP reads no further ahead
        self.assertIn(b"Subject: msg4", top)
        self.assertEqual(subject_of(5), "msg5")
        p.rset()
        p.quit()

    def test_dropped_connection_applies_nothing(self):
        deliver(self.server, ALICE, "keep me")
        p = pop3s(self.server)
        p.dele(1)
        # No QUIT: drop the TCP connection (poplib's file object would
        # keep it open after a plain close()).
        p.sock.shutdown(socket.SHUT_RDWR)
        p.sock.close()
        p = wait_login(self.server)
        self.assertEqual(subjects(p), ["keep me"])
        p.quit()

    def test_byte_stuffing(self):
        body = ".starts with a dot\r\n..two\r\n.\r\nnormal\r\n"
        deliver(self.server, ALICE, "dots", body=body)
        p = pop3s(self.server)
        # Raw: the server doubles leading dots on the wire.
        p._putcmd("RETR 1")
        self.assertTrue(p._getresp().startswith(b"+OK"))
        raw = []
        while True:
            line, _ = p._getline()
            if line == b".":
                break
            raw.append(line)
        self.assertIn(b"..starts with a dot", raw)
        self.assertIn(b"...two", raw)
        self.assertIn(b"..", raw)
        # poplib un-stuffs: the body comes back exactly.
        _, lines, _ = p.retr(1)
        text = b"\r\n".join(lines) + b"\r\n"
        self.assertTrue(text.endswith(body.encode()))
        p.quit()

    def test_auth_plain_on_pop3s_and_bad_input(self):
        deliver(self.server, ALICE, "auth")
        p = poplib.POP3_SSL("127.0.0.1", self.server.port("pop3s"),
                            timeout=60, context=client_tls_context())
        caps = p.capa()
        self.assertIn("SASL", caps)
        self.assertIn("PLAIN", caps["SASL"])
        self.assertIn("RESP-CODES", caps)
        self.assertNotIn("STLS", caps)
        ir = base64.b64encode(("\0%s\0%s" % (ALICE, PASSWORD)).encode())
        self.assertTrue(p._shortcmd("AUTH PLAIN " + ir.decode())
                        .startswith(b"+OK"))
        for bad in ("RETR 0", "RETR 4294967296", "RETR 99999999999999999999",
                    "LIST abc", "FOO"):
            with self.assertRaises(poplib.error_proto):
                p._shortcmd(bad)
        self.assertEqual(p.stat()[0], 1)  # the session goes on
        p.quit()

    def test_wrong_password(self):
        p = poplib.POP3_SSL("127.0.0.1", self.server.port("pop3s"),
                            timeout=60, context=client_tls_context())
        p.user(ALICE)
        with self.assertRaises(poplib.error_proto) as cm:
            p.pass_("wrong")
        self.assertIn(b"[AUTH]", cm.exception.args[0])
        p.quit()

    def test_uidl_stable_across_sessions_and_restart(self):
        deliver(self.server, BOB, "stable")
        p = wait_login(self.server, BOB)
        _, before, _ = p.uidl()
        p.quit()
        self.server.stop()
        self.server.start()
        p = wait_login(self.server, BOB)
        _, after, _ = p.uidl()
        self.assertEqual(before, after)
        self.assertEqual(len(after), 1)
        p.dele(1)
        p.quit()


class Pop3DownloadOnce(ServerTestCase):
    server_args = {"extra_config": "[pop3]\ndownload_once = true\n"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def test_download_once_and_recent(self):
        deliver(self.server, ALICE, "one")
        deliver(self.server, ALICE, "two")
        p = pop3s(self.server)
        self.assertIn(b"EXPIRE 0", b" ".join(
            [k.encode() + b" " + b" ".join(v.encode() for v in vs)
             for k, vs in p.capa().items()]))
        p.retr(1)
        p.quit()
        # Message one was downloaded: later sessions do not list it.
        p = wait_login(self.server)
        self.assertEqual(subjects(p), ["two"])
        p.quit()
        # recent: lists the last 30 days whatever was downloaded.
        p = wait_login(self.server, "recent:" + ALICE)
        self.assertEqual(subjects(p), ["one", "two"])
        p.quit()


class Pop3KeepSeen(ServerTestCase):
    server_args = {"extra_config": '[pop3]\ndelete_mode = "keep-seen"\n'}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def test_dele_keeps_message(self):
        deliver(self.server, ALICE, "kept")
        p = pop3s(self.server)
        p.dele(1)
        p.quit()
        p = wait_login(self.server)
        self.assertEqual(subjects(p), ["kept"])
        p.quit()


class Pop3Archive(ServerTestCase):
    server_args = {"extra_config": '[pop3]\ndelete_mode = "archive"\n'}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def test_dele_moves_to_archive(self):
        deliver(self.server, ALICE, "archived")
        deliver(self.server, ALICE, "stays")
        p = pop3s(self.server)
        p.dele(1)
        p.quit()
        p = wait_login(self.server)
        self.assertEqual(subjects(p), ["stays"])
        p.quit()


class Pop3Apop(ServerTestCase):
    """pop3.apop = true: `user add` stores the APOP secret, the greeting
    carries a timestamp, and poplib's APOP logs in on the plain port."""
    server_args = {"extra_config": "[pop3]\napop = true\n"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def test_apop_login_plain_port(self):
        deliver(self.server, ALICE, "apop mail")
        p = poplib.POP3("127.0.0.1", self.server.port("pop3"), timeout=60)
        greeting = p.getwelcome()
        self.assertRegex(greeting, rb"^\+OK .* <[0-9a-f]{16}\.[0-9]+@[^>]+>$")
        reply = p.apop(ALICE, PASSWORD)
        self.assertTrue(reply.startswith(b"+OK Maildrop has 1 messages"))
        self.assertEqual(subjects(p), ["apop mail"])
        p.dele(1)
        p.quit()
        # A wrong secret is refused the way a wrong password is.
        p = poplib.POP3("127.0.0.1", self.server.port("pop3"), timeout=60)
        with self.assertRaises(poplib.error_proto) as e:
            p.apop(ALICE, "not the password")
        self.assertIn(b"[AUTH]", e.exception.args[0])
        p.quit()


if __name__ == "__main__":
    unittest.main()
