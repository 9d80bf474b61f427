"""POP3 against real clients: fetchmail (keep and no-keep),
curl pop3s://, and a 20 MB message through poplib, byte-identical."""

import hashlib
import os
import poplib
import shutil
import subprocess
import tempfile
import unittest

from harness import DOMAIN, ServerTestCase, client_tls_context
from test_pop3_basic import (ALICE, PASSWORD, deliver, empty_maildrop,
                             subjects, wait_login)


def run(args, env=None, timeout=120):
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout, env=env)


class Pop3Clients(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def setUp(self):
        empty_maildrop(self.server)
        self.tmp = tempfile.mkdtemp(prefix="correio-pop3-client-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    @unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
    def test_fetchmail_keep_then_no_keep(self):
        deliver(self.server, ALICE, "fm one")
        deliver(self.server, ALICE, "fm two")
        out = os.path.join(self.tmp, "out")
        os.mkdir(out)
        rc = os.path.join(self.tmp, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('poll 127.0.0.1 with proto POP3 service %d\n'
                    '  user "%s" there with password "%s"\n'
                    % (self.server.port("pop3"), ALICE, PASSWORD))
        os.chmod(rc, 0o600)
        env = dict(os.environ, FETCHMAILHOME=self.tmp, HOME=self.tmp)
        # STLS on the plain port: fetchmail upgrades when STLS is offered;
        # certificate checking is off for the self-signed certificate.
        base = ["fetchmail", "-f", rc, "--nodetach", "--nosslcertck",
                "--sslproto", "tls1.2+", "--uidl",
                "--mda", "cat > %s/msg.$$" % out]
        r = run(base + ["--keep"], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(os.listdir(out)), 2)
        # Keep mode: still on the server; UIDL says nothing is new.
        r = run(base + ["--keep"], env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # 1: no mail
        self.assertEqual(len(os.listdir(out)), 2)
        p = wait_login(self.server)
        self.assertEqual(sorted(subjects(p)), ["fm one", "fm two"])
        p.quit()
        # No-keep, fetch all: downloads and deletes.
        r = run(base + ["--nokeep", "--all"], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(os.listdir(out)), 4)
        texts = []
        for name in os.listdir(out):
            with open(os.path.join(out, name), "rb") as f:
                texts.append(f.read())
        self.assertTrue(any(b"Subject: fm one" in t for t in texts))
        p = wait_login(self.server)
        self.assertEqual(p.stat()[0], 0)
        p.quit()

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_pop3s(self):
        deliver(self.server, ALICE, "curl one", body="curl body\r\n")
        url = "pop3s://127.0.0.1:%d/" % self.server.port("pop3s")
        user = "%s:%s" % (ALICE, PASSWORD)
        r = run(["curl", "-s", "-S", "-k", "--user", user, url])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^1 \d+$")
        r = run(["curl", "-s", "-S", "-k", "--user", user, url + "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Subject: curl one", r.stdout)
        self.assertIn("curl body", r.stdout)
        r = run(["curl", "-s", "-k", "--user", ALICE + ":wrong", url])
        self.assertNotEqual(r.returncode, 0)

    def test_20mb_message_is_byte_identical(self):
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-=+/\r\n"
        body = bytearray()
        i = 0
        while len(body) < 20 * 1024 * 1024:
            body += (b"." if i % 50 == 0 else b"") + line
            i += 1
        body = body.decode()
        deliver(self.server, ALICE, "big", body=body)
        p = wait_login(self.server)
        _, listing, _ = p.list()
        size = int(listing[0].split()[1])
        _, lines, _ = p.retr(1)
        data = b"\r\n".join(lines) + b"\r\n"
        p.quit()
        self.assertEqual(len(data), size)
        sent_body = body.encode()
        got_body = data.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(hashlib.sha256(got_body).hexdigest(),
                         hashlib.sha256(sent_body).hexdigest())


if __name__ == "__main__":
    unittest.main()
