"""Privilege drop (issue 7, "Privilege"; docs/security.md).

Started as root with `user = "nobody"`, the server binds its ports (one of
them privileged, below 1024), reads its keys, then runs as that user with
no capabilities and no_new_privs. The test reads the running process's
credentials from /proc for every thread, then checks the server still
works: the admin CLI, run as root as an operator would, adds a user while
the server runs, mail arrives on the privileged port and is read back, and
a restart as root works on the data directory the server now owns.

Skipped unless the tests run as root (CI does) and the user exists.
"""

import imaplib
import os
import pwd
import smtplib
import socket
import unittest

from harness import DOMAIN, Server, client_tls_context

RUN_AS = "nobody"
PASSWORD = "drop-privs-pass"


def free_privileged_port():
    """A port below 1024 that nothing listens on (we are root)."""
    for port in range(987, 600, -1):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise unittest.SkipTest("no free port below 1024")


def status_fields(path):
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


@unittest.skipUnless(os.geteuid() == 0, "needs root to drop privileges")
class PrivilegeDropTest(unittest.TestCase):
    def setUp(self):
        try:
            self.pw = pwd.getpwnam(RUN_AS)
        except KeyError:
            self.skipTest("no user " + RUN_AS)
        self.port = free_privileged_port()
        listeners = f"""
[[listener]]
protocol = "smtp"
address = "127.0.0.1"
port = {self.port}
tls = "starttls"

[[listener]]
protocol = "imap"
port = 0
tls = "implicit"
"""
        self.server = Server(top=f'user = "{RUN_AS}"', listeners=listeners)
        self.addCleanup(self.server._tmp.cleanup)
        self.addCleanup(self.server.kill)
        # The unprivileged user must be able to reach its data directory.
        os.chmod(self.server.data_dir, 0o755)
        parent = os.path.dirname(self.server.data_dir)
        while parent != "/":
            if not os.stat(parent).st_mode & 0o001:
                self.skipTest(f"{parent} is not searchable by {RUN_AS}")
            parent = os.path.dirname(parent)
        self.server.start()

    def tearDown(self):
        code = self.server.stop()
        self.assertEqual(code, 0, self.server.stderr())

    def assert_unprivileged(self, pid):
        tasks = os.listdir(f"/proc/{pid}/task")
        self.assertGreater(len(tasks), 1, "expected worker threads")
        for tid in tasks:
            st = status_fields(f"/proc/{pid}/task/{tid}/status")
            uid, gid = str(self.pw.pw_uid), str(self.pw.pw_gid)
            self.assertEqual(st["Uid"], [uid] * 4, f"thread {tid}")
            self.assertEqual(st["Gid"], [gid] * 4, f"thread {tid}")
            self.assertEqual(st.get("Groups", []), [], f"thread {tid}")
            for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(int(st[cap][0], 16), 0,
                                 f"thread {tid} {cap}")
            self.assertEqual(st["NoNewPrivs"], ["1"], f"thread {tid}")

    def deliver_and_read(self, address, subject):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.sendmail("someone@remote.test", [address],
                          f"Subject: {subject}\r\n\r\nbody\r\n")
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.server.port("imaps"),
                                 ssl_context=client_tls_context(),
                                 timeout=30)
        try:
            imap.login(address, PASSWORD)
            imap.select("INBOX")
            typ, data = imap.search(None, "SUBJECT", subject)
            self.assertEqual(typ, "OK")
            self.assertEqual(len(data[0].split()), 1, data)
        finally:
            imap.logout()

    def test_runs_unprivileged_and_still_serves(self):
        self.assertEqual(self.server.port("smtp"), self.port)
        self.assert_unprivileged(self.server.proc.pid)
        self.assertIn(f"running as {RUN_AS}",
                      self.server.wait_stderr(f"running as {RUN_AS}") +
                      "\n".join(self.server.stdout_lines))
        # An operator adds a user as root while the server runs; the
        # server (now unprivileged) must still be able to write the store.
        self.server.add_user(f"alice@{DOMAIN}", PASSWORD)
        self.deliver_and_read(f"alice@{DOMAIN}", "first")
        # Everything in the data directory belongs to the server's user.
        for root, dirs, files in os.walk(self.server.data_dir):
            for name in dirs + files:
                st = os.lstat(os.path.join(root, name))
                self.assertEqual(st.st_uid, self.pw.pw_uid,
                                 os.path.join(root, name))
        # Restart as root: the privileged bind and the drop happen again.
        self.assertEqual(self.server.stop(), 0, self.server.stderr())
        self.server.start()
        self.assert_unprivileged(self.server.proc.pid)
        self.deliver_and_read(f"alice@{DOMAIN}", "second")


if __name__ == "__main__":
    unittest.main()
