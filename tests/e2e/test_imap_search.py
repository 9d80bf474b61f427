"""IMAP SEARCH on header keys end to end (RFC 9051 §6.4.4).

Header keys are pre-filtered by the full-text index and then checked
against the message's own header (cmd_search.cc): these tests pin the
answers where the two could disagree. Encoded words, folded fields,
short needles (no trigram), a word only in another field or in the body,
NOT over the pre-filter, HEADER with an empty value, and a header too big
for the index (over 256 KiB: the message is always read). Last, body
search after the index file is lost, and `correio store reindex`.
"""

import base64
import contextlib
import imaplib
import os
import unittest

from harness import Server, ServerTestCase, client_tls_context

USER = "searcher@example.org"
PASSWORD = "search pass"


def msg(headers, body=b"plain body\r\n"):
    return b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


MESSAGES = [
    # 1: RFC 2047 subject
    msg([b"From: Ann <ann@example.net>", b"To: searcher@example.org",
         b"Subject: =?UTF-8?B?UsOpdW5pb24gYnVkZ2V0?="]),
    # 2: folded subject; "zebra2" only in To:, "zebra" only in the body
    msg([b"From: bob@example.net", b"To: zebra2@example.net",
         b"Subject: alpha\r\n beta gamma", b"X-Custom: Value7"],
        b"the zebra is in the body\r\n"),
    # 3: a two-letter word
    msg([b"From: carol@example.net", b"Subject: qx marks the spot"]),
    # 4: a header block over the index's 256 KiB cap, the subject last
    msg([b"From: dave@example.net"] +
        [b"X-Filler-%d: " % i + b"f" * 900 for i in range(330)] +
        [b"Subject: hidden-needle at the end"]),
]


class ImapHeaderSearchTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(USER, PASSWORD)
        m = cls.login()
        for raw in MESSAGES:
            typ, _ = m.append("INBOX", None, None, raw)
            assert typ == "OK", typ
        m.logout()

    @classmethod
    def login(cls):
        m = imaplib.IMAP4_SSL("127.0.0.1", cls.server.port("imaps"),
                              ssl_context=client_tls_context())
        m.login(USER, PASSWORD)
        return m

    def setUp(self):
        self.m = self.login()
        self.m.select("INBOX")

    def tearDown(self):
        self.m.logout()

    def search(self, *criteria, charset=None):
        typ, data = self.m.search(charset, *criteria)
        self.assertEqual(typ, "OK", data)
        return [int(n) for n in data[0].split()]

    def test_encoded_word_subject(self):
        self.assertEqual(self.search("SUBJECT", "budget"), [1])
        self.m.literal = "Réunion".encode()
        self.assertEqual(self.search("SUBJECT", charset="UTF-8"), [1])

    def test_folded_subject_matches_across_the_fold(self):
        self.assertEqual(self.search("SUBJECT", '"alpha beta"'), [2])
        self.assertEqual(self.search("SUBJECT", '"beta gamma"'), [2])

    def test_word_in_another_field_or_body_does_not_match(self):
        self.assertEqual(self.search("SUBJECT", "zebra2"), [])
        self.assertEqual(self.search("TO", "zebra2"), [2])
        self.assertEqual(self.search("FROM", "zebra"), [])
        self.assertEqual(self.search("BODY", "zebra"), [2])

    def test_short_needle(self):
        self.assertEqual(self.search("SUBJECT", "qx"), [3])

    def test_not_and_or_over_the_prefilter(self):
        self.assertEqual(self.search("NOT", "SUBJECT", "budget"), [2, 3, 4])
        self.assertEqual(self.search("OR", "SUBJECT", "budget", "FROM",
                                     "carol"), [1, 3])

    def test_header_key_with_and_without_value(self):
        self.assertEqual(self.search("HEADER", "X-Custom", '""'), [2])
        self.assertEqual(self.search("HEADER", "X-Custom", "value7"), [2])
        self.assertEqual(self.search("HEADER", "X-Custom", "value8"), [])

    def test_header_beyond_the_index_cap(self):
        self.assertEqual(self.search("SUBJECT", "hidden-needle"), [4])
        self.assertEqual(self.search("HEADER", "X-Filler-329", "fff"), [4])


class ImapSearchIndexRebuildTest(unittest.TestCase):
    """A lost correio-search.db: the server says so at start, `correio
    store check` names what the index lacks, and `correio store reindex`
    (run beside the server) gives body search its answers back, with the
    text decoded from the stored MIME as at delivery."""

    def test_reindex_after_losing_the_search_index(self):
        raw = [
            msg([b"From: ann@example.net", b"Subject: plain"],
                b"marmalade on the plain text body\r\n"),
            # The word is only in the decoded text.
            msg([b"From: bob@example.net", b"Subject: encoded",
                 b"MIME-Version: 1.0",
                 b"Content-Type: text/plain; charset=utf-8",
                 b"Content-Transfer-Encoding: base64"],
                base64.encodebytes(b"marmalade, encoded\r\n"
                                  b"The meeting moved to Thursday.\r\n")
                .replace(b"\n", b"\r\n")),
        ]
        server = Server()
        try:
            server.start()
            server.add_user(USER, PASSWORD)
            with self.session(server) as m:
                for r in raw:
                    self.assertEqual(m.append("INBOX", None, None, r)[0],
                                     "OK")
                self.assertEqual(self.search(m, "marmalade"), [1, 2])
            self.assertEqual(server.stop(), 0)
            server.start()  # a restart with the index in place: no warning
            with self.session(server) as m:
                self.assertEqual(self.search(m, "marmalade"), [1, 2])
            self.assertEqual(server.stop(), 0)
            self.assertNotIn("store reindex", server.stderr())
            search_db = os.path.join(server.data_dir, "correio-search.db")
            self.assertTrue(os.path.exists(search_db))
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(search_db + suffix):
                    os.remove(search_db + suffix)

            server.start()
            self.assertIn("searches miss 2 stored message bodies",
                          server.wait_stderr("correio store reindex"))
            with self.session(server) as m:
                self.assertEqual(self.search(m, "marmalade"), [])
                self.assertEqual(self.search(m, "encoded", "SUBJECT"), [])
            check = server.admin("store", "check", check=False)
            self.assertEqual(check.returncode, 1, check.stdout)
            self.assertEqual(
                check.stdout.count("neither indexed nor pending"), 2,
                check.stdout)

            done = server.admin("store", "reindex")
            self.assertIn("queued the text of 2 stored", done.stdout)
            with self.session(server) as m:
                self.assertEqual(self.search(m, "marmalade"), [1, 2])
                self.assertEqual(self.search(m, "Thursday"), [2])
                self.assertEqual(self.search(m, "encoded", "SUBJECT"), [2])
            self.assertEqual(server.admin("store", "check").stdout,
                             "store is consistent\n")
            again = server.admin("store", "reindex")
            self.assertIn("queued the text of 0 stored", again.stdout)
            # --all queues every body again (after a decoder change);
            # searches answer the same meanwhile and after.
            every = server.admin("store", "reindex", "--all")
            self.assertIn("queued the text of 2 stored", every.stdout)
            with self.session(server) as m:
                self.assertEqual(self.search(m, "marmalade"), [1, 2])
                self.assertEqual(self.search(m, "Thursday"), [2])
            self.assertEqual(server.admin("store", "check").stdout,
                             "store is consistent\n")
        finally:
            code = server.stop()
            if server._tmp is not None:
                server._tmp.cleanup()
        self.assertEqual(code, 0, server.stderr())

    @staticmethod
    @contextlib.contextmanager
    def session(server):
        m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                              ssl_context=client_tls_context())
        m.login(USER, PASSWORD)
        m.select("INBOX")
        try:
            yield m
        finally:
            m.logout()

    def search(self, m, word, key="BODY"):
        typ, data = m.search(None, key, word)
        self.assertEqual(typ, "OK", data)
        return [int(n) for n in data[0].split()]


if __name__ == "__main__":
    unittest.main()
