"""Disk full (issue 7, "Faults"; docs/security.md).

The data directory is a small tmpfs the test mounts; a filler file takes
the rest of its space. While the disk is full a message that needs new
space gets a 4xx over SMTP (452 4.3.1, RFC 3463 "mail system full") and
NO over IMAP APPEND, never 250 or OK; POP3 and IMAP sessions keep
working for what needs no space. When the filler goes, the same messages
are accepted without a restart, and after a restart the store holds
exactly what got 250 or OK.

Small writes may still succeed while "full": SQLite reuses the space of
its write-ahead log, so a commit that fits there is durable and rightly
acknowledged. The test sends messages of several MB, which cannot fit,
and checks the counts against what was acknowledged either way.

Skipped unless the tests run as root (CI does) and tmpfs can be mounted.
"""

import errno
import imaplib
import os
import poplib
import subprocess
import sys
import tempfile
import time
import unittest

from harness import DOMAIN, Server, client_tls_context
from smtp_util import inbox_count, open_smtp

PASSWORD = "disk-full-pass"
ALICE = f"alice@{DOMAIN}"
FS_BYTES = 24 << 20


def big_message(tag, size=3 << 20):
    line = ("%s " % tag) * 12 + "\r\n"
    body = line * (size // len(line))
    return (f"From: bob@remote.test\r\nTo: {ALICE}\r\nSubject: {tag}\r\n"
            f"\r\n{body}")


@unittest.skipUnless(os.geteuid() == 0, "needs root to mount a tmpfs")
class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="correio-full-")
        self.mnt = os.path.join(self.tmp.name, "data")
        os.mkdir(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            f"size={FS_BYTES},mode=0700", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.tmp.cleanup()
            self.skipTest("cannot mount tmpfs: " + r.stderr.strip())
        # Cleanups run even when setUp fails (tearDown would not): LIFO, so
        # the server stops before the unmount, which comes before rmtree.
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])
        self.server = Server(data_dir=self.mnt)
        self.addCleanup(self.server.kill)
        self.server.start()
        self.server.add_user(ALICE, PASSWORD)
        self.filler = os.path.join(self.mnt, "filler")

    def tearDown(self):
        code = self.server.stop()
        self.assertEqual(code, 0, self.server.stderr())

    def fill(self):
        """Takes every free byte of the file system."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for chunk in (1 << 20, 4096, 512, 1):
                block = b"\0" * chunk
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as e:
                        self.assertEqual(e.errno, errno.ENOSPC)
                        break
        finally:
            os.close(fd)
        st = os.statvfs(self.mnt)
        self.assertEqual(st.f_bavail, 0)

    def free(self):
        os.unlink(self.filler)

    def smtp_send(self, tag):
        """The reply to the end of data (or to DATA) as 'code text'."""
        c = open_smtp(self.server)
        try:
            self.assertEqual(c.code("MAIL FROM:<bob@remote.test>"), 250)
            self.assertEqual(c.code(f"RCPT TO:<{ALICE}>"), 250)
            reply = c.cmd("DATA")
            if not reply.startswith("354"):
                return reply
            data = big_message(tag).replace("\r\n.", "\r\n..")
            c.send(data + "\r\n.\r\n")
            reply = c.reply()
            c.cmd("QUIT")
            return reply
        finally:
            c.close()

    def imap(self):
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.server.port("imaps"),
                                 ssl_context=client_tls_context(),
                                 timeout=60)
        imap.login(ALICE, PASSWORD)
        return imap

    def count_subject(self, imap, tag):
        imap.select("INBOX")
        typ, data = imap.search(None, "SUBJECT", tag)
        self.assertEqual(typ, "OK")
        return len(data[0].split())

    def test_full_disk_refuses_then_recovers(self):
        self.assertTrue(self.smtp_send("before").startswith("250"))
        imap = self.imap()
        pop = poplib.POP3("127.0.0.1", self.server.port("pop3"), timeout=60)
        pop.stls(client_tls_context())
        pop.user(ALICE)
        pop.pass_(PASSWORD)
        self.fill()

        # SMTP: a 3 MB message cannot be made durable: 4xx, never 250.
        acked = 0
        for i in range(3):
            reply = self.smtp_send(f"smtpfull{i}")
            if reply.startswith("250"):
                acked += 1   # fitted into reused log space: durable
                print(f"message {i} fitted while full", file=sys.stderr)
                continue
            self.assertTrue(reply.startswith("452 4.3.1"), reply)
        self.assertLess(acked, 3, "every message accepted on a full disk")

        # IMAP APPEND: NO, and the session goes on.
        typ, data = imap.append("INBOX", None, None,
                                big_message("appendfull").encode())
        self.assertEqual(typ, "NO", data)
        self.assertIn(b"[UNAVAILABLE]", data[0])  # not [OVERQUOTA]
        self.assertEqual(self.count_subject(imap, "appendfull"), 0)
        self.assertEqual(self.count_subject(imap, "before"), 1)
        # Reading needs no space: POP3 still lists and retrieves (its
        # maildrop is the one seen at login, RFC 1939).
        count, _ = pop.stat()
        self.assertEqual(count, 1)
        self.assertIn(b"Subject: before", b"\n".join(pop.retr(1)[1]))
        # A deletion at QUIT: +OK only once it is durable, else -ERR and
        # nothing deleted (checked after the restart below).
        pop.dele(1)
        try:
            pop.quit()
            deleted = 1
        except poplib.error_proto as e:
            self.assertIn(b"SYS/TEMP", e.args[0])
            deleted = 0

        # Space returns: the same messages are accepted, no restart.
        self.free()
        self.assertTrue(self.smtp_send("smtpback").startswith("250"))
        typ, data = imap.append("INBOX", None, None,
                                big_message("appendback").encode())
        self.assertEqual(typ, "OK", data)
        self.assertEqual(self.count_subject(imap, "smtpback"), 1)
        imap.logout()

        # After a restart the store holds exactly what was acknowledged.
        self.assertEqual(self.server.stop(), 0, self.server.stderr())
        self.server.start()
        self.assertEqual(inbox_count(self.server, ALICE),
                         3 + acked - deleted)
        imap = self.imap()
        try:
            self.assertEqual(self.count_subject(imap, "before"), 1 - deleted)
            self.assertEqual(self.count_subject(imap, "appendfull"), 0)
            self.assertEqual(self.count_subject(imap, "appendback"), 1)
        finally:
            imap.logout()


if __name__ == "__main__":
    unittest.main()
