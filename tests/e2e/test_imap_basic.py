"""IMAP end to end with Python's imaplib against the real binary (issue 5).

Covers: STARTTLS and implicit TLS, LOGINDISABLED before TLS, LOGIN and
AUTHENTICATE PLAIN, LIST/CREATE/RENAME/DELETE/SUBSCRIBE, APPEND (APPENDUID)
and byte-identical FETCH of BODY.PEEK[], FETCH of every item, STORE,
SEARCH/ESEARCH, COPY/MOVE (COPYUID), EXPUNGE, STATUS, quota, and literals.
"""

import imaplib
import re
import ssl
import unittest
import zlib

from harness import LineClient, ServerTestCase, client_tls_context

USER = "alice@example.org"
PASSWORD = "correct horse"

MESSAGE = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Hello there\r\n"
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"The quick brown fox jumps.\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--b1--\r\n")

PLAIN = (b"From: bob@example.org\r\nTo: alice@example.org\r\n"
         b"Subject: second\r\n\r\nsecond body with zebra\r\n")


def imap_starttls(server):
    m = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    m.starttls(ssl_context=client_tls_context())
    return m


def imaps(server):
    return imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                             ssl_context=client_tls_context())


class ImapBasicTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(USER, PASSWORD)
        cls.server.add_user("quota@example.org", PASSWORD, quota="2k")

    def login(self, tls="implicit"):
        m = imaps(self.server) if tls == "implicit" else imap_starttls(
            self.server)
        typ, _ = m.login(USER, PASSWORD)
        self.assertEqual(typ, "OK")
        self.addCleanup(self._logout, m)
        return m

    @staticmethod
    def _logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def fresh_mailbox(self, m, name):
        m.delete(name)
        typ, data = m.create(name)
        self.assertEqual(typ, "OK", data)
        return name

    # ---- not authenticated ----
    def test_plaintext_login_disabled_before_tls(self):
        m = imaplib.IMAP4("127.0.0.1", self.server.port("imap"))
        try:
            self.assertIn("LOGINDISABLED", m.capabilities)
            self.assertIn("STARTTLS", m.capabilities)
            self.assertFalse(any(c.startswith("AUTH=") for c in m.capabilities))
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(USER, PASSWORD)
            m.starttls(ssl_context=client_tls_context())
            typ, caps = m.capability()
            self.assertNotIn(b"LOGINDISABLED", caps[0])
            self.assertIn(b"AUTH=PLAIN", caps[0])
            self.assertEqual(m.login(USER, PASSWORD)[0], "OK")
        finally:
            m.logout()

    def test_wrong_password_and_authenticate_plain(self):
        m = imaps(self.server)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login(USER, "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
        typ, _ = m.authenticate(
            "PLAIN", lambda _: b"\0" + USER.encode() + b"\0" +
            PASSWORD.encode())
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "AUTH")
        m.logout()

    def test_raw_transcript_literals_and_errors(self):
        c = LineClient(self.server.connect("imaps", tls=True))
        self.assertTrue(c.line().startswith("* OK [CAPABILITY IMAP4rev1"))
        c.send("a1 LOGIN {%d}\r\n" % len(USER))
        self.assertTrue(c.line().startswith("+ "))
        c.send(USER + " {%d+}\r\n%s\r\n" % (len(PASSWORD), PASSWORD))
        self.assertTrue(c.line().startswith("a1 OK [CAPABILITY"))
        c.send("a2 FETCH 1 FLAGS\r\n")
        self.assertEqual(c.line(), "a2 BAD No mailbox selected")
        c.send("a3 SEARCH " + "(" * 5000 + "ALL" + ")" * 5000 + "\r\n")
        self.assertTrue(c.line().startswith("a3 BAD"))
        c.send("a4 NOOP\0\r\n")
        self.assertTrue(c.line().startswith("a4 BAD"))
        c.send("+++\r\n")
        self.assertTrue(c.line().startswith("* BAD"))
        c.send("a5 APPEND INBOX {999999999999}\r\n")
        self.assertEqual(c.line(), "a5 NO [TOOBIG] Literal too big")
        c.send("a6 SELECT INBOX\r\n")
        while True:
            line = c.line()
            if line.startswith("a6 "):
                break
        self.assertTrue(line.startswith("a6 OK [READ-WRITE]"))
        c.send("a7 LOGOUT\r\n")
        self.assertTrue(c.line().startswith("* BYE"))
        self.assertTrue(c.line().startswith("a7 OK"))
        c.close()

    # ---- mailboxes ----
    def test_list_create_rename_delete_subscribe(self):
        m = self.login(tls="starttls")
        typ, data = m.list()
        self.assertEqual(typ, "OK")
        names = [d.decode() for d in data]
        self.assertTrue(any(n.endswith(' "/" INBOX') for n in names), names)
        self.assertTrue(any("\\Sent" in n for n in names), names)
        m.delete("Work/2024")
        m.delete("Work")
        self.assertEqual(m.create("Work/2024")[0], "OK")
        typ, data = m.list('""', "Work/%")
        # An astring: atom or quoted, both are valid (RFC 9051 §9).
        self.assertRegex(data[0], rb'"/" "?Work/2024"?$')
        typ, data = m.list('""', "%")
        work = [d for d in data if d.endswith(b'"/" Work')]
        self.assertEqual(len(work), 1)
        self.assertIn(b"\\HasChildren", work[0])
        self.assertEqual(m.rename("Work", "Job")[0], "OK")
        typ, data = m.list('""', "Job/*")
        self.assertIn(b"Job/2024", data[0])
        self.assertEqual(m.create("Caf\u00e9".encode("utf-7").decode()
                                  .replace("+", "&"))[0], "OK")
        typ, data = m.list('""', "Caf*")
        self.assertIn(b"Caf&AOk-", data[0])
        self.assertEqual(m.subscribe("Job/2024")[0], "OK")
        typ, data = m.lsub('""', "*")
        self.assertTrue(any(b"Job/2024" in d for d in data), data)
        typ, data = m.create("bad/../name")
        self.assertEqual(typ, "NO")
        typ, data = m.create("INBOX")
        self.assertEqual(typ, "NO")
        typ, data = m.delete("NoSuchBox")
        self.assertEqual(typ, "NO")
        self.assertIn(b"NONEXISTENT", data[0])
        for n in ("Job/2024", "Job", "Caf&AOk-"):
            self.assertEqual(m.delete(n)[0], "OK", n)
        typ, data = m._simple_command(
            "LIST", '""', '"*"', "RETURN", "(STATUS (MESSAGES UIDNEXT))")
        typ, data = m._untagged_response(typ, data, "STATUS")
        self.assertTrue(any(b"INBOX" in d and b"UIDNEXT" in d for d in data),
                        data)

    # ---- messages ----
    def test_append_fetch_every_item(self):
        m = self.login()
        box = self.fresh_mailbox(m, "Fetch")
        typ, data = m.append(box, r"(\Flagged $Work)",
                             '"07-Feb-1994 21:52:25 -0800"', MESSAGE)
        self.assertEqual(typ, "OK")
        mm = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        self.assertIsNotNone(mm, data)
        uid = int(mm.group(2))
        typ, data = m.select(box)
        self.assertEqual(data[0], b"1")
        typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
        self.assertEqual(data[0][1], MESSAGE)
        typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE UID)")
        line = data[0]
        self.assertIn(b"\\Flagged", line)
        self.assertIn(b"$Work", line)
        self.assertIn(b'INTERNALDATE "08-Feb-1994 05:52:25 +0000"', line)
        self.assertIn(b"RFC822.SIZE %d" % len(MESSAGE), line)
        self.assertNotIn(b"\\Seen", line)
        typ, data = m.fetch("1", "(ENVELOPE)")
        self.assertIn(b'"Hello there"', data[0])
        self.assertIn(b'("Alice Example" NIL "alice" "example.org")', data[0])
        typ, data = m.fetch("1", "(BODYSTRUCTURE)")
        self.assertIn(b'"MIXED"', data[0].upper())
        self.assertIn(b'("BOUNDARY" "B1")', data[0].upper())
        typ, data = m.fetch("1", "(BODY)")
        self.assertIn(b'("TEXT" "PLAIN"', data[0].upper())
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
        self.assertEqual(data[0][1], b"Subject: Hello there\r\n\r\n")
        typ, data = m.fetch("1", "(BODY.PEEK[1])")
        self.assertEqual(data[0][1], b"The quick brown fox jumps.")
        typ, data = m.fetch("1", "(BODY.PEEK[]<6.5>)")
        self.assertIn(b"BODY[]<6>", data[0][0])
        self.assertEqual(data[0][1], MESSAGE[6:11])
        typ, data = m.fetch("1", "(BINARY.PEEK[2] BINARY.SIZE[2])")
        self.assertEqual(data[0][1], b"\x00\x01\x02\x03\x04")
        self.assertIn(b"BINARY.SIZE[2] 5", data[-1] if isinstance(
            data[-1], bytes) else data[0][0])
        typ, data = m.fetch("1", "(BODY.PEEK[2.MIME])")
        self.assertIn(b"Content-Transfer-Encoding: base64", data[0][1])
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])
        # A non-peek body fetch sets \Seen and reports it.
        typ, data = m.fetch("1", "(BODY[TEXT])")
        self.assertIn(b"\\Seen", data[0][0])
        typ, data = m.fetch("1", "(RFC822.HEADER)")
        self.assertTrue(data[0][1].startswith(b"From: Alice"))
        typ, data = m.fetch("1", "(PREVIEW SAVEDATE EMAILID)")
        self.assertIn(b"quick brown fox", data[0] if isinstance(
            data[0], bytes) else data[0][1])
        typ, data = m.fetch("1:*", "FAST")
        self.assertEqual(typ, "OK")
        with self.assertRaises(imaplib.IMAP4.error):
            m.fetch("5", "FLAGS")  # BAD: no message 5

    def test_store_search_copy_move_expunge(self):
        m = self.login()
        box = self.fresh_mailbox(m, "Work2")
        dest = self.fresh_mailbox(m, "Archive2")
        for i in range(4):
            body = PLAIN.replace(b"second", b"msg%d" % i)
            self.assertEqual(m.append(box, None, None, body)[0], "OK")
        m.select(box)
        typ, data = m.store("1:2", "+FLAGS", r"(\Seen)")
        self.assertEqual(len(data), 2)
        self.assertIn(b"\\Seen", data[0])
        typ, data = m.search(None, "UNSEEN")
        self.assertEqual(data[0], b"3 4")
        typ, data = m.search(None, "BODY", "msg2")
        self.assertEqual(data[0], b"3")
        typ, data = m.search(None, "OR", "SUBJECT", "msg1", "SUBJECT", "msg3")
        self.assertEqual(data[0], b"2 4")
        typ, data = m.search(None, "NOT", "(SEEN)", "FROM", "bob")
        self.assertEqual(data[0], b"3 4")
        typ, data = m._simple_command("UID", "SEARCH", "RETURN",
                                      "(MIN MAX COUNT)", "ALL")
        self.assertEqual(typ, "OK")
        typ, data = m._untagged_response(typ, data, "ESEARCH")
        self.assertRegex(data[0], rb"^\(TAG \"\w+\"\) UID MIN \d+ "
                                  rb"MAX \d+ COUNT 4")
        typ, data = m.search(None, "LARGER", "10", "SMALLER", "1000000")
        self.assertEqual(data[0], b"1 2 3 4")
        typ, data = m.search(None, "SINCE", "1-Jan-2000", "SENTBEFORE",
                             "1-Jan-2100")
        self.assertEqual(data[0], b"")  # no Date: header, SENT* never match
        typ, data = m.copy("1", dest)
        self.assertRegex(data[0], rb"\[COPYUID \d+ \d+ \d+\]")
        typ, data = m._simple_command("MOVE", "2", dest)
        self.assertEqual(typ, "OK")
        self.assertIn(b"COPYUID", m.untagged_responses.get("OK", [b""])[-1])
        # MOVE answers with the expunge of the moved message (RFC 6851).
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"2"])
        typ, data = m.search(None, "ALL")
        self.assertEqual(data[0], b"1 2 3")
        m.store("1", "+FLAGS", r"(\Deleted)")
        typ, data = m.expunge()
        self.assertEqual(data, [b"1"])
        typ, data = m.status(dest, "(MESSAGES UIDNEXT UNSEEN SIZE)")
        self.assertIn(b"MESSAGES 2", data[0])
        typ, data = m.select(dest, readonly=True)
        typ, data = m.store("1", "+FLAGS", r"(\Deleted)")
        self.assertEqual(typ, "NO")
        m.close()
        typ, data = m.select(box)
        self.assertEqual(data[0], b"2")
        # UID EXPUNGE only removes the listed \Deleted messages.
        m.store("1:2", "+FLAGS", r"(\Deleted)")
        typ, data = m.uid("SEARCH", "ALL")
        first = data[0].split()[0].decode()
        typ, data = m.uid("EXPUNGE", first)
        self.assertEqual(typ, "OK")
        typ, data = m.search(None, "ALL")
        self.assertEqual(data[0], b"1")
        typ, data = m.sort("(REVERSE SUBJECT)", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")
        typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
        self.assertEqual(data[0], b"(1)")

    def test_two_sessions_see_each_other(self):
        a = self.login()
        b = self.login(tls="starttls")
        box = self.fresh_mailbox(a, "Shared")
        a.select(box)
        b.select(box)
        b.append(box, None, None, PLAIN)
        typ, data = a.noop()
        self.assertIn(b"1", a.untagged_responses.get("EXISTS", [b""]))
        b.store("1", "+FLAGS", r"(\Flagged)")
        a.noop()
        fetches = a.untagged_responses.pop("FETCH", [])
        self.assertTrue(any(b"\\Flagged" in f for f in fetches), fetches)
        # No EXPUNGE while answering FETCH by sequence number: it comes
        # with the next NOOP.
        b.store("1", "+FLAGS", r"(\Deleted)")
        b.expunge()
        a.untagged_responses.pop("EXPUNGE", None)
        a.fetch("1", "(FLAGS)")
        self.assertNotIn("EXPUNGE", a.untagged_responses)
        a.noop()
        self.assertEqual(a.untagged_responses.get("EXPUNGE"), [b"1"])

    def test_idle_gets_new_mail(self):
        a = self.login()
        b = self.login()
        box = self.fresh_mailbox(a, "IdleBox")
        a.select(box)
        tag = a._new_tag()
        a.send(tag + b" IDLE\r\n")
        self.assertTrue(a.readline().startswith(b"+"))
        b.append(box, None, None, PLAIN)
        self.assertEqual(a.readline(), b"* 1 EXISTS\r\n")
        a.send(b"DONE\r\n")
        self.assertTrue(a.readline().startswith(tag + b" OK"))

    def test_twenty_megabytes_byte_identical(self):
        m = self.login()
        box = self.fresh_mailbox(m, "Big")
        line = bytes(range(33, 127)) + b"\r\n"  # 96 octets
        body = (b"From: big@example.org\r\nSubject: big\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" +
                line * (20 * 1024 * 1024 // len(line)))
        typ, data = m.append(box, None, None, body)
        self.assertEqual(typ, "OK", data)
        m.select(box, readonly=True)
        typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertIn(b"RFC822.SIZE %d" % len(body), data[0][0])
        self.assertEqual(len(data[0][1]), len(body))
        self.assertTrue(data[0][1] == body, "FETCH differs from APPEND")
        typ, data = m.fetch("1", "(BODY.PEEK[]<10485760.100>)")
        self.assertEqual(data[0][1], body[10485760:10485860])
        m.logout()

    def test_compress_deflate(self):
        # RFC 4978: after the tagged OK both directions are raw DEFLATE.
        m = self.login()
        box = self.fresh_mailbox(m, "Zip")
        body = MESSAGE * 50
        self.assertEqual(m.append(box, None, None, body)[0], "OK")
        m.logout()
        c = LineClient(self.server.connect("imaps", tls=True))
        c.line()
        c.send('z1 LOGIN %s "%s"\r\n' % (USER, PASSWORD))
        self.assertIn("COMPRESS=DEFLATE", c.line())
        c.send("z2 COMPRESS GZIP\r\n")
        self.assertEqual(c.line(), "z2 NO Unknown compression mechanism")
        c.send("z3 COMPRESS DEFLATE\r\n")
        self.assertEqual(c.line(), "z3 OK DEFLATE active")
        self.assertEqual(c.buf, b"")
        out = zlib.compressobj(6, zlib.DEFLATED, -15)
        inf = zlib.decompressobj(-15)
        received = b""

        def send(text):
            c.sock.sendall(out.compress(text.encode()) +
                           out.flush(zlib.Z_SYNC_FLUSH))

        def until(tag):
            """Everything before the tagged reply, and the tagged reply."""
            nonlocal received
            pattern = re.compile(b"(?:^|\r\n)(" + tag + b" [^\r\n]*)\r\n")
            while not pattern.search(received):
                chunk = c.sock.recv(65536)
                self.assertTrue(chunk, "connection closed")
                received += inf.decompress(chunk)
            m = pattern.search(received)
            reply, received = received[:m.start()], received[m.end():]
            return reply, m.group(1)

        send("z4 CAPABILITY\r\n")
        caps, done = until(b"z4")
        self.assertTrue(done.startswith(b"z4 OK"), done)
        self.assertNotIn(b"COMPRESS=DEFLATE", caps)
        send("z5 SELECT %s\r\nz6 FETCH 1 BODY.PEEK[]\r\n" % box)
        _, done = until(b"z5")
        self.assertTrue(done.startswith(b"z5 OK"), done)
        data, done = until(b"z6")
        self.assertTrue(done.startswith(b"z6 OK"), done)
        literal = b"{%d}\r\n" % len(body)
        self.assertIn(literal + body + b")", data)
        send("z7 COMPRESS DEFLATE\r\n")
        _, done = until(b"z7")
        self.assertTrue(done.startswith(b"z7 NO [COMPRESSIONACTIVE]"), done)
        # Garbage that is not DEFLATE ends the session, nothing else.
        c.sock.sendall(b"\xff\xff\xff\xff not deflate")
        self.assertTrue(c.closed())

    def test_quota_and_overquota(self):
        m = imaps(self.server)
        m.login("quota@example.org", PASSWORD)
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        flat = b" ".join(x if isinstance(x, bytes) else b" ".join(x)
                         for d in data for x in d)
        self.assertIn(b"STORAGE 0 2", flat)
        big = PLAIN + b"x" * 3000 + b"\r\n"
        typ, data = m.append("INBOX", None, None, big)
        self.assertEqual(typ, "NO")
        self.assertIn(b"OVERQUOTA", data[0])
        m.logout()


if __name__ == "__main__":
    unittest.main()
