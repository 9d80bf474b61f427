"""SMTP MX listener against the real binary: delivery into INBOX, refusals
(unknown user, relay in every disguise, quota, size), SMTP smuggling,
PIPELINING, CHUNKING, STARTTLS injection, SMTPUTF8; clients: smtplib, swaks,
curl and raw transcripts."""

import os
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import ServerTestCase, client_tls_context
from smtp_util import inbox_count, open_smtp

MSG = (b"From: Sender <sender@remote.example>\r\n"
       b"To: alice@example.org\r\n"
       b"Subject: hello\r\n"
       b"\r\n"
       b"Hello Alice.\r\n")


class MxTest(ServerTestCase):
    server_args = {"extra_config": "[limits]\nmax_message_size = 100000\n"
                                   "max_bad_commands = 50\n"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.server
        s.add_user("alice@example.org", "alicepw")
        s.add_user("bob@example.org", "bobpw")
        s.add_user("tiny@example.org", "tinypw", quota="1K")

    def test_smtplib_delivery_lands_in_inbox(self):
        before = inbox_count(self.server, "alice@example.org")
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp")) as smtp:
            code, caps = smtp.ehlo("client.example")
            self.assertEqual(code, 250)
            for ext in ("pipelining", "size", "8bitmime", "smtputf8",
                        "enhancedstatuscodes", "chunking", "dsn", "starttls"):
                self.assertTrue(smtp.has_extn(ext), ext)
            self.assertFalse(smtp.has_extn("auth"))
            refused = smtp.sendmail("sender@remote.example",
                                    ["alice@example.org"], MSG)
            self.assertEqual(refused, {})
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)

    def test_unknown_user_refused_at_rcpt(self):
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp")) as smtp:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                smtp.sendmail("s@remote.example", ["nobody@example.org"], MSG)
            code, text = cm.exception.recipients["nobody@example.org"]
            self.assertEqual(code, 550)
            self.assertTrue(text.startswith(b"5.1.1"), text)

    def test_relay_refused_in_every_disguise(self):
        c = open_smtp(self.server)
        self.assertEqual(c.code("MAIL FROM:<s@remote.example>"), 250)
        for rcpt in ["<victim@remote.example>",
                     "<victim%remote.example@example.org>",
                     "<@example.org:victim@remote.example>",
                     "<\"victim@remote.example\"@example.org>",
                     "<remote.example!victim@example.org>",
                     "<alice@example.org.>",
                     "<alice@[127.0.0.1]>"]:
            reply = c.cmd("RCPT TO:" + rcpt)
            self.assertTrue(reply.startswith("554 5.7.1"), (rcpt, reply))
        self.assertTrue(c.cmd("DATA").startswith("554 5.5.1"))
        c.close()

    def test_bare_lf_smuggling_yields_no_second_message(self):
        before = inbox_count(self.server, "alice@example.org")
        c = open_smtp(self.server)
        c.cmd("MAIL FROM:<s@remote.example>")
        self.assertEqual(c.code("RCPT TO:<alice@example.org>"), 250)
        self.assertEqual(c.code("DATA"), 354)
        for ending in (b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r"):
            c.send(b"Subject: one\r\n\r\nfirst" + ending +
                   b"MAIL FROM:<evil@remote.example>\r\n"
                   b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
                   b"Subject: smuggled\r\n\r\nsecond\r\n.\r\n")
            reply = c.reply()
            self.assertTrue(reply.startswith("554 5.6.11"), reply)
            # The session goes on; the smuggled commands were never run.
            self.assertEqual(c.code("RCPT TO:<alice@example.org>"), 503)
            c.cmd("MAIL FROM:<s@remote.example>")
            c.cmd("RCPT TO:<alice@example.org>")
            self.assertEqual(c.code("DATA"), 354)
        c.send(b"Subject: clean\r\n\r\nok\r\n.\r\n")
        self.assertTrue(c.reply().startswith("250 2.0.0"))
        c.close()
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)

    def test_pipelining(self):
        before = inbox_count(self.server, "alice@example.org")
        c = open_smtp(self.server)
        c.send("MAIL FROM:<s@remote.example>\r\n"
               "RCPT TO:<alice@example.org>\r\n"
               "RCPT TO:<nobody@example.org>\r\n"
               "RCPT TO:<bob@example.org>\r\n"
               "DATA\r\n")
        codes = [int(c.reply()[:3]) for _ in range(5)]
        self.assertEqual(codes, [250, 250, 550, 250, 354])
        c.send("Subject: p\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        codes = [int(c.reply()[:3]) for _ in range(4)]
        self.assertEqual(codes, [250, 250, 250, 221])
        self.assertTrue(c.closed())
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)

    def test_bdat(self):
        before = inbox_count(self.server, "alice@example.org")
        c = open_smtp(self.server)
        c.cmd("MAIL FROM:<s@remote.example> BODY=8BITMIME")
        self.assertEqual(c.code("RCPT TO:<alice@example.org>"), 250)
        part1 = b"Subject: chunks\r\n\r\n.\r\nQUIT\r\n"
        part2 = "caf\u00e9\r\n".encode()
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertTrue(c.reply().startswith("250 2.0.0"))
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        self.assertTrue(c.reply().startswith("250 2.0.0"))
        self.assertEqual(c.code("NOOP"), 250)
        c.close()
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)

    def test_size_limits(self):
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp")) as smtp:
            smtp.ehlo()
            self.assertEqual(int(smtp.esmtp_features["size"]), 100000)
            big = MSG + b"x" * 200000 + b"\r\n"
            # smtplib announces SIZE=...: refused at MAIL.
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                smtp.sendmail("s@remote.example", ["alice@example.org"], big)
            self.assertEqual(cm.exception.smtp_code, 552)
        # Without SIZE: refused at the end of data, session goes on.
        c = open_smtp(self.server)
        c.cmd("MAIL FROM:<s@remote.example>")
        c.cmd("RCPT TO:<alice@example.org>")
        c.cmd("DATA")
        c.send(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 150 +
               b".\r\n")
        self.assertTrue(c.reply().startswith("552 5.3.4"))
        self.assertEqual(c.code("NOOP"), 250)
        c.close()

    def test_quota_452(self):
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp")) as smtp:
            big = MSG + b"z" * 4000 + b"\r\n"
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                smtp.sendmail("s@remote.example", ["tiny@example.org"], big)
            code, text = cm.exception.recipients["tiny@example.org"]
            self.assertEqual(code, 452)
            self.assertTrue(text.startswith(b"4.2.2"), text)
        # No SIZE given: accepted at RCPT, refused whole at end of data.
        c = open_smtp(self.server)
        c.cmd("MAIL FROM:<s@remote.example>")
        self.assertEqual(c.code("RCPT TO:<tiny@example.org>"), 250)
        c.cmd("DATA")
        c.send(b"Subject: q\r\n\r\n" + b"q" * 4000 + b"\r\n.\r\n")
        self.assertTrue(c.reply().startswith("452 4.2.2"))
        c.close()
        self.assertEqual(inbox_count(self.server, "tiny@example.org"), 0)

    def test_admin_changes_reach_rcpt_at_once(self):
        # The server answers RCPT for an address it looked up a moment ago
        # from memory (mail/recipient_cache.h); every change the admin CLI
        # makes, from its own process, must still show at the next RCPT.
        s = self.server
        c = open_smtp(s)
        c.cmd("MAIL FROM:<s@remote.example>")
        rcpt = "RCPT TO:<newcomer@example.org>"
        self.assertEqual(c.code(rcpt), 550)
        self.assertEqual(c.code(rcpt), 550)
        s.add_user("newcomer@example.org", "newpw")
        self.assertEqual(c.code(rcpt), 250)
        self.assertEqual(c.code(rcpt), 250)
        s.admin("user", "quota", "newcomer@example.org", "1K")
        c.cmd("RSET")
        c.cmd("MAIL FROM:<s@remote.example> SIZE=5000")
        self.assertEqual(c.code(rcpt), 452)
        c.cmd("RSET")
        c.cmd("MAIL FROM:<s@remote.example>")
        s.admin("user", "remove", "newcomer@example.org")
        self.assertEqual(c.code(rcpt), 550)
        s.admin("alias", "add", "newcomer@example.org", "bob@example.org")
        self.assertEqual(c.code(rcpt), 250)
        before = inbox_count(s, "bob@example.org")
        c.cmd("DATA")
        c.send(b"Subject: n\r\n\r\nhi\r\n.\r\n")
        self.assertTrue(c.reply().startswith("250"))
        c.close()
        self.assertEqual(inbox_count(s, "bob@example.org"), before + 1)

    def test_starttls_injection_is_discarded(self):
        c = open_smtp(self.server)
        # A command pipelined behind STARTTLS in plaintext must not run.
        c.send("STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n")
        self.assertTrue(c.reply().startswith("220 2.0.0"))
        c.starttls()
        # RFC 3207: back to the post-greeting state, EHLO needed again.
        self.assertTrue(c.cmd("MAIL FROM:<s@remote.example>")
                        .startswith("503 5.5.1"))
        ehlo = c.cmd("EHLO client.example")
        self.assertNotIn("STARTTLS", ehlo)
        self.assertIn("REQUIRETLS", ehlo)
        self.assertEqual(c.code("RCPT TO:<alice@example.org>"), 503)
        self.assertEqual(c.code("MAIL FROM:<s@remote.example> REQUIRETLS"),
                         250)
        c.close()

    def test_requiretls_needs_tls(self):
        c = open_smtp(self.server)
        self.assertEqual(c.code("MAIL FROM:<s@remote.example> REQUIRETLS"),
                         530)
        c.close()

    def test_smtputf8(self):
        before = inbox_count(self.server, "bob@example.org")
        sender = "j\u00f6rg@b\u00fccher.example"
        msg = ("Subject: gr\u00fc\u00dfe\r\n\r\nHall\u00f6\r\n").encode()
        c = open_smtp(self.server)
        c.send(("MAIL FROM:<%s>\r\n" % sender).encode())
        self.assertTrue(c.reply().startswith("553 5.6.7"))
        c.close()
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp")) as smtp:
            refused = smtp.sendmail(sender, ["bob@example.org"], msg,
                                    mail_options=["SMTPUTF8"])
            self.assertEqual(refused, {})
        self.assertEqual(inbox_count(self.server, "bob@example.org"),
                         before + 1)

    @unittest.skipIf(shutil.which("swaks") is None, "swaks not installed")
    def test_swaks(self):
        before = inbox_count(self.server, "alice@example.org")
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.server.port("smtp"),
             "--from", "s@remote.example", "--to", "alice@example.org",
             "--helo", "swaks.example"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.server.port("smtp"),
             "--from", "s@remote.example", "--to", "victim@remote.example"],
            capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("554 5.7.1", r.stdout)

    @unittest.skipIf(shutil.which("curl") is None, "curl not installed")
    def test_curl(self):
        before = inbox_count(self.server, "alice@example.org")
        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            f.write(MSG)
            f.flush()
            r = subprocess.run(
                ["curl", "-sS", "smtp://127.0.0.1:%d" %
                 self.server.port("smtp"), "--mail-from", "s@remote.example",
                 "--mail-rcpt", "alice@example.org", "-T", f.name],
                capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)


if __name__ == "__main__":
    unittest.main()
