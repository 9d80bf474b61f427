"""SMTP submission (587 STARTTLS, 465 implicit TLS, RFC 8314) against the
real binary: AUTH only after TLS, sender ownership, delivery to local
recipients; clients: smtplib, swaks, msmtp."""

import base64
import os
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import ServerTestCase, client_tls_context
from smtp_util import inbox_count, open_smtp

MSG = (b"From: Alice <alice@example.org>\r\n"
       b"To: bob@example.org\r\n"
       b"Subject: from alice\r\n"
       b"\r\n"
       b"Hi Bob.\r\n")


def swaks_has_tls():
    """`swaks --support` lists every feature ("=== TLS supported" or "***
    TLS not available: requires Net::SSLeay"); it takes no argument."""
    if shutil.which("swaks") is None:
        return False
    r = subprocess.run(["swaks", "--support"], capture_output=True,
                       text=True)
    return "=== TLS supported" in r.stdout + r.stderr


class SubmissionTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user("alice@example.org", "alicepw")
        cls.server.add_user("bob@example.org", "bobpw")
        cls.server.admin("alias", "add", "sales@example.org",
                         "alice@example.org")

    def test_auth_not_offered_before_tls(self):
        c = open_smtp(self.server, "submission", ehlo=False)
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("STARTTLS", ehlo)
        self.assertNotIn("AUTH", ehlo)
        plain = base64.b64encode(b"\0alice@example.org\0alicepw").decode()
        self.assertTrue(c.cmd("AUTH PLAIN " + plain).startswith("530 5.7.0"))
        self.assertTrue(c.cmd("MAIL FROM:<alice@example.org>")
                        .startswith("530 5.7.0"))
        c.close()

    def test_starttls_auth_and_send(self):
        before = inbox_count(self.server, "bob@example.org")
        with smtplib.SMTP("127.0.0.1", self.server.port("submission")) as smtp:
            smtp.ehlo()
            smtp.starttls(context=client_tls_context())
            smtp.ehlo()
            self.assertIn("PLAIN", smtp.esmtp_features["auth"])
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                smtp.login("alice@example.org", "wrong")
            self.assertEqual(cm.exception.smtp_code, 535)
            smtp.login("alice@example.org", "alicepw")
            refused = smtp.sendmail("alice@example.org",
                                    ["bob@example.org"], MSG)
            self.assertEqual(refused, {})
            # An alias of alice's is hers to send from.
            smtp.sendmail("sales@example.org", ["bob@example.org"], MSG)
        self.assertEqual(inbox_count(self.server, "bob@example.org"),
                         before + 2)

    def test_implicit_tls(self):
        before = inbox_count(self.server, "alice@example.org")
        with smtplib.SMTP_SSL("127.0.0.1", self.server.port("submissions"),
                              context=client_tls_context()) as smtp:
            smtp.ehlo()
            self.assertTrue(smtp.has_extn("auth"))
            self.assertFalse(smtp.has_extn("starttls"))
            smtp.login("bob@example.org", "bobpw")
            smtp.sendmail("bob@example.org", ["alice@example.org"],
                          b"Subject: x\r\n\r\nfrom bob\r\n")
        self.assertEqual(inbox_count(self.server, "alice@example.org"),
                         before + 1)

    def test_sender_must_be_owned(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.server.port("submissions"),
                              context=client_tls_context()) as smtp:
            smtp.login("alice@example.org", "alicepw")
            for sender in ("bob@example.org", "ceo@remote.example", ""):
                with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                    smtp.sendmail(sender, ["bob@example.org"], MSG)
                self.assertEqual(cm.exception.smtp_code, 553, sender)
                smtp.rset()

    def test_auth_login_and_cancel(self):
        c = open_smtp(self.server, "submissions", tls=True)
        self.assertEqual(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6")
        self.assertTrue(c.cmd("*").startswith("501"))
        self.assertTrue(c.cmd("AUTH LOGIN").startswith("334"))
        self.assertTrue(c.cmd(base64.b64encode(b"alice@example.org")
                              .decode()).startswith("334"))
        self.assertTrue(c.cmd(base64.b64encode(b"alicepw").decode())
                        .startswith("235 2.7.0"))
        self.assertTrue(c.cmd("AUTH PLAIN").startswith("503"))
        c.close()

    @unittest.skipUnless(swaks_has_tls(),
                         "swaks without TLS support (Net::SSLeay)")
    def test_swaks_starttls_auth(self):
        before = inbox_count(self.server, "bob@example.org")
        r = subprocess.run(
            ["swaks", "--server",
             "127.0.0.1:%d" % self.server.port("submission"), "--tls",
             "--auth", "PLAIN", "--auth-user", "alice@example.org",
             "--auth-password", "alicepw", "--from", "alice@example.org",
             "--to", "bob@example.org"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(inbox_count(self.server, "bob@example.org"),
                         before + 1)

    @unittest.skipIf(shutil.which("msmtp") is None, "msmtp not installed")
    def test_msmtp(self):
        before = inbox_count(self.server, "bob@example.org")
        r = subprocess.run(
            ["msmtp", "--host=127.0.0.1",
             "--port=%d" % self.server.port("submission"), "--tls=on",
             "--tls-starttls=on", "--tls-certcheck=off", "--auth=on",
             "--user=alice@example.org", "--passwordeval=echo alicepw",
             "--from=alice@example.org", "bob@example.org"],
            input=MSG, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(inbox_count(self.server, "bob@example.org"),
                         before + 1)


if __name__ == "__main__":
    unittest.main()
