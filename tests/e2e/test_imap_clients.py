"""IMAP against real clients and across protocols.

- mbsync (isync) over implicit TLS: a first sync copies the server's
  folders into a local Maildir; changes made on both sides in between are
  carried both ways by a second sync, and a third finds nothing to do.
- curl imaps://: LIST, FETCH of a whole message byte for byte, APPEND by
  upload.
- POP3 and IMAP on one store: DELE+QUIT through POP3 is an expunge an
  IMAP session sees (and UIDL equals UIDVALIDITY.UID); RETR sets \\Seen.
"""

import imaplib
import os
import poplib
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import DOMAIN, ServerTestCase, client_tls_context
from test_pop3_basic import deliver

ALICE = "alice@" + DOMAIN
PASSWORD = "imap clients secret"


def run(args, env=None, timeout=120, input=None):
    return subprocess.run(args, capture_output=True, timeout=timeout,
                          env=env, input=input)


def message(subject, body="body text\r\n"):
    return ("From: carol@example.net\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.net>\r\n\r\n%s"
            % (ALICE, subject, subject.replace(" ", "-"), body)).encode()


class ImapClients(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="correio-imap-client-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def imap(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.server.port("imaps"),
                              ssl_context=client_tls_context())
        m.login(ALICE, PASSWORD)
        return m

    def fresh(self, m, name):
        m.delete(name)
        self.assertEqual(m.create(name)[0], "OK")

    # ---- mbsync ----
    @unittest.skipUnless(shutil.which("mbsync"), "isync not installed")
    def test_mbsync_two_way(self):
        m = self.imap()
        self.fresh(m, "Sync")
        for i in range(3):
            self.assertEqual(
                m.append("Sync", None, None, message("sync %d" % i))[0], "OK")
        local = os.path.join(self.tmp, "mail")
        os.mkdir(local)
        rc = os.path.join(self.tmp, "mbsyncrc")
        cert = os.path.join(self.server.data_dir, "tls", "cert.pem")
        with open(rc, "w") as f:
            f.write(
                "IMAPAccount acc\n"
                "Host 127.0.0.1\nPort %d\nUser %s\nPass \"%s\"\n"
                "SSLType IMAPS\nCertificateFile %s\n"
                "SystemCertificates no\n\n"
                "IMAPStore far\nAccount acc\n\n"
                "MaildirStore near\nPath %s/\nInbox %s/INBOX\n"
                "SubFolders Verbatim\n\n"
                "Channel ch\nFar :far:\nNear :near:\n"
                "Patterns Sync\nCreate Both\nExpunge Both\n"
                "SyncState *\n"
                % (self.server.port("imaps"), ALICE, PASSWORD, cert,
                   local, local))

        def sync():
            r = run(["mbsync", "-c", rc, "-a"])
            self.assertEqual(r.returncode, 0,
                             (r.stdout + r.stderr).decode(errors="replace"))
            return r

        def near():
            """{subject: maildir flags} of the local copy."""
            out = {}
            for sub in ("cur", "new"):
                d = os.path.join(local, "Sync", sub)
                for name in os.listdir(d):
                    with open(os.path.join(d, name), "rb") as f:
                        s = re.search(rb"^Subject: (.*?)\r?$", f.read(),
                                      re.M).group(1).decode()
                    flags = name.split(":2,")[1] if ":2," in name else ""
                    out[s] = (os.path.join(d, name), flags)
            return out

        sync()
        self.assertEqual(sorted(near()), ["sync 0", "sync 1", "sync 2"])

        # Near side: flag "sync 0", delete "sync 1". Far side: a new
        # message and \Seen on "sync 2".
        files = near()
        path0, _ = files["sync 0"]
        base0 = path0.split(":2,")[0]
        os.rename(path0, base0 + ":2,F")
        os.unlink(files["sync 1"][0])
        self.assertEqual(
            m.append("Sync", None, None, message("sync 3"))[0], "OK")
        m.select("Sync")
        typ, data = m.search(None, "SUBJECT", '"sync 2"')
        m.store(data[0].decode(), "+FLAGS", r"(\Seen)")
        sync()

        files = near()
        self.assertEqual(sorted(files), ["sync 0", "sync 2", "sync 3"])
        self.assertIn("F", files["sync 0"][1])
        self.assertIn("S", files["sync 2"][1])
        m.noop()
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        server = {}
        for item in data:
            if isinstance(item, tuple):
                subj = re.search(rb"Subject: (.*?)\r\n", item[1]).group(1)
                server[subj.decode()] = item[0]
        self.assertEqual(sorted(server), ["sync 0", "sync 2", "sync 3"])
        self.assertIn(b"\\Flagged", server["sync 0"])
        # Converged: a third run changes nothing on either side.
        before = sorted(near().items())
        sync()
        self.assertEqual(sorted(near().items()), before)
        m.logout()

    # ---- curl ----
    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_imaps_list_fetch_append(self):
        m = self.imap()
        self.fresh(m, "Curl")
        body = message("curl one", "line one\r\nline two\r\n")
        self.assertEqual(m.append("Curl", None, None, body)[0], "OK")
        base = ["curl", "-s", "-k", "--user", "%s:%s" % (ALICE, PASSWORD)]
        url = "imaps://127.0.0.1:%d/" % self.server.port("imaps")
        r = run(base + [url])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"Curl", r.stdout)
        self.assertIn(b"INBOX", r.stdout)
        r = run(base + [url + "Curl;UID=1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, body)
        upload = os.path.join(self.tmp, "up.eml")
        with open(upload, "wb") as f:
            f.write(message("curl upload"))
        r = run(base + ["-T", upload, url + "Curl"])
        self.assertEqual(r.returncode, 0, r.stderr)
        typ, data = m.status("Curl", "(MESSAGES)")
        self.assertIn(b"MESSAGES 2", data[0])
        m.logout()

    # ---- POP3 and IMAP on one store ----
    def test_pop3_dele_is_an_expunge_imap_sees(self):
        m = self.imap()
        typ, data = m.select("INBOX")
        if data[0] != b"0":  # "1:*" in an empty mailbox is BAD (RFC 9051)
            m.store("1:*", "+FLAGS", r"(\Deleted)")
            m.expunge()
        deliver(self.server, ALICE, "cross one")
        deliver(self.server, ALICE, "cross two")
        m.noop()
        typ, data = m.uid("SEARCH", "ALL")
        uids = data[0].split()
        self.assertEqual(len(uids), 2)
        typ, data = m.status("INBOX", "(UIDVALIDITY)")
        validity = re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1)

        p = poplib.POP3_SSL("127.0.0.1", self.server.port("pop3s"),
                            timeout=60, context=client_tls_context())
        p.user(ALICE)
        p.pass_(PASSWORD)
        _, listing, _ = p.uidl()
        self.assertEqual([line.split()[1] for line in listing],
                         [validity + b"." + u for u in uids])
        p.retr(2)   # sets \Seen on "cross two"
        p.dele(1)   # "cross one"
        p.quit()    # +OK only after the deletion is durable

        # The IMAP session learns of both on its next command.
        deadline = time.monotonic() + 10
        while True:
            typ, data = m.noop()
            expunged = m.untagged_responses.pop("EXPUNGE", [])
            if expunged or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(expunged, [b"1"])
        # The \Seen change came as an unsolicited FETCH on the way.
        m.untagged_responses.pop("FETCH", None)
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        self.assertEqual(len(data), 1, data)
        self.assertIn(uids[1], data[0])
        self.assertIn(b"\\Seen", data[0])
        m.logout()


if __name__ == "__main__":
    unittest.main()
