"""Several devices on one account (issue 6): CONDSTORE, QRESYNC, IDLE
updates from every path into the store (IMAP, SMTP, POP3).

- A phone, a laptop and a webmail session: a change on one shows on the
  others, in IDLE and on NOOP, with correct sequence numbers while
  expunges interleave.
- CONDSTORE (RFC 7162 §3.1): MODSEQ in FETCH, CHANGEDSINCE, STORE
  UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ with (MODSEQ n).
- QRESYNC (RFC 7162 §3.2): a client offline while messages were flagged,
  moved, expunged and delivered resyncs with SELECT (QRESYNC ...) and UID
  FETCH (CHANGEDSINCE ... VANISHED) to exactly the server's state; VANISHED
  replaces EXPUNGE once enabled.
- POP3 DELE+QUIT and RETR while an IMAP client idles.
- NOTIFY (RFC 5465): one connection watches every folder: STATUS for new
  mail, expunges and flag changes elsewhere, LIST for created, renamed and
  deleted mailboxes and subscription changes, FETCH of chosen attributes
  for new mail in the selected mailbox; in IDLE and after commands.
"""

import poplib
import re
import socket
import sqlite3
import ssl
import tempfile
import threading
import time
import unittest

from harness import DOMAIN, Server, ServerTestCase, client_tls_context
from test_pop3_basic import deliver

USER = "sync@" + DOMAIN
PASSWORD = "sync secret"


class Imap:
    """A raw IMAP client that keeps every untagged response in order."""

    def __init__(self, server):
        raw = socket.create_connection(("127.0.0.1", server.port("imaps")),
                                       timeout=30)
        self.sock = client_tls_context().wrap_socket(raw)
        self.buf = b""
        self.n = 0
        self.readline()  # greeting
        self.ok("LOGIN %s \"%s\"" % (USER, PASSWORD))

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        m = re.search(rb"\{(\d+)\}$", line)
        if m:  # a literal follows: keep it inside the line
            size = int(m.group(1))
            while len(self.buf) < size:
                self.buf += self.sock.recv(65536)
            line += b"\r\n" + self.buf[:size]
            self.buf = self.buf[size:]
            line += self.readline().encode("latin-1")
        return line.decode("latin-1")

    def cmd(self, text):
        """(untagged lines, tagged line)."""
        self.n += 1
        tag = "t%d" % self.n
        self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        untagged = []
        while True:
            line = self.readline()
            if line.startswith(tag + " "):
                return untagged, line
            untagged.append(line)

    def ok(self, text):
        untagged, tagged = self.cmd(text)
        if " OK" not in tagged[:len("t999 OK") + 1]:
            raise AssertionError("%s -> %s" % (text, tagged))
        return untagged, tagged

    def idle(self):
        self.n += 1
        self.idle_tag = "t%d" % self.n
        self.sock.sendall(("%s IDLE\r\n" % self.idle_tag).encode())
        line = self.readline()
        assert line.startswith("+"), line

    def idle_read(self, count, timeout=10):
        """The next `count` untagged lines while idling."""
        self.sock.settimeout(timeout)
        try:
            return [self.readline() for _ in range(count)]
        finally:
            self.sock.settimeout(30)

    def done(self):
        self.sock.sendall(b"DONE\r\n")
        untagged = []
        while True:
            line = self.readline()
            if line.startswith(self.idle_tag + " "):
                assert " OK" in line, line
                return untagged
            untagged.append(line)

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        self.sock.close()


def message(subject):
    return ("From: a@example.net\r\nTo: %s\r\nSubject: %s\r\n\r\n%s body\r\n"
            % (USER, subject, subject)).encode()


def append(c, box, subject, flags=""):
    data = message(subject)
    c.sock.sendall(("a%d APPEND %s (%s) {%d+}\r\n" %
                    (c.n, box, flags, len(data))).encode() + data + b"\r\n")
    while True:
        line = c.readline()
        if line.startswith("a%d " % c.n):
            m = re.search(r"APPENDUID \d+ (\d+)", line)
            assert m, line
            return int(m.group(1))


def fetch_state(c):
    """{uid: (frozenset of flags, modseq)} of the selected mailbox."""
    untagged, _ = c.ok("UID FETCH 1:* (FLAGS MODSEQ)")
    out = {}
    for line in untagged:
        m = re.match(r"\* \d+ FETCH \((.*)\)$", line)
        if not m:
            continue
        uid = int(re.search(r"UID (\d+)", line).group(1))
        flags = re.search(r"FLAGS \(([^)]*)\)", line).group(1).split()
        modseq = int(re.search(r"MODSEQ \((\d+)\)", line).group(1))
        out[uid] = (frozenset(flags), modseq)
    return out


def uid_set(text):
    out = set()
    for part in text.split(","):
        if ":" in part:
            a, b = part.split(":")
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


class ImapSync(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(USER, PASSWORD)

    def fresh(self, c, name):
        c.cmd("DELETE %s" % name)
        c.ok("CREATE %s" % name)

    def test_three_devices_see_each_other(self):
        phone, laptop, web = Imap(self.server), Imap(self.server), \
            Imap(self.server)
        try:
            self.fresh(web, "Three")
            for i in range(4):
                append(web, "Three", "m%d" % i)
            for c in (phone, laptop, web):
                untagged, _ = c.ok("SELECT Three")
                self.assertIn("* 4 EXISTS", untagged)
            phone.idle()
            # The laptop reads 2, flags 3 and deletes 1; the webmail gets
            # new mail by SMTP.
            laptop.ok("STORE 2 +FLAGS (\\Seen)")
            laptop.ok("STORE 3 +FLAGS (\\Flagged)")
            laptop.ok("STORE 1 +FLAGS (\\Deleted)")
            untagged, _ = laptop.ok("EXPUNGE")
            self.assertEqual(untagged, ["* 1 EXPUNGE"])
            lines = phone.idle_read(4)
            self.assertRegex(lines[0], r"^\* 2 FETCH \(UID \d+ FLAGS \(\\Seen\)\)$")
            self.assertRegex(lines[1], r"^\* 3 FETCH \(UID \d+ FLAGS \(\\Flagged\)\)$")
            self.assertRegex(lines[2], r"^\* 1 FETCH \(UID \d+ FLAGS \(\\Deleted\)\)$")
            self.assertEqual(lines[3], "* 1 EXPUNGE")
            # An IMAP APPEND on the laptop, a delivery through SMTP.
            append(laptop, "Three", "m4")
            self.assertEqual(phone.idle_read(1), ["* 4 EXISTS"])
            phone.done()
            # The webmail, not idling, gets it all on NOOP, in order and
            # with sequence numbers valid at the time each line is read.
            untagged, _ = web.ok("NOOP")
            self.assertEqual(
                [re.sub(r" \(UID.*", "", u) for u in untagged],
                ["* 2 FETCH", "* 3 FETCH", "* 1 FETCH", "* 1 EXPUNGE",
                 "* 4 EXISTS"])
            # Expunges interleaved: phone expunges 2 and 4 (now "m2", "m4"),
            # the webmail sees them highest first or with shifted numbers.
            phone.ok("STORE 2,4 +FLAGS (\\Deleted)")
            untagged, _ = phone.ok("EXPUNGE")
            self.assertEqual(untagged, ["* 4 EXPUNGE", "* 2 EXPUNGE"])
            untagged, _ = web.ok("NOOP")
            expunges = [u for u in untagged if u.endswith("EXPUNGE")]
            self.assertEqual(len(expunges), 2)
            for c in (phone, laptop, web):
                untagged, _ = c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                subjects = re.findall(r"Subject: (\S+)", " ".join(untagged))
                self.assertEqual(subjects, ["m1", "m3"], untagged)
        finally:
            for c in (phone, laptop, web):
                c.close()

    def test_select_leaves_later_expunges_to_the_next_command(self):
        """A message expunged while SELECT reads its snapshot is reported
        at the next command, not right after the tagged OK (RFC 9051
        §7.5.1: no EXPUNGE when no command is in progress), so the newest
        sequence number SELECT announced is still valid for the FETCH a
        client sends on it. The window is SELECT's read, so this loops
        while another session appends and expunges the newest message;
        it failed within a few hundred SELECTs when the EXPUNGE followed
        the OK."""
        a, b = Imap(self.server), Imap(self.server)
        stop = threading.Event()
        errors = []

        def churn():
            try:
                b.ok("SELECT Churn")
                i = 0
                while not stop.is_set():
                    uid = append(b, "Churn", "new%d" % i)
                    b.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
                    b.ok("UID EXPUNGE %d" % uid)
                    i += 1
            except Exception as e:  # pylint: disable=broad-except
                errors.append(e)

        try:
            self.fresh(a, "Churn")
            for i in range(300):
                append(a, "Churn", "m%d" % i)
            t = threading.Thread(target=churn)
            t.start()
            try:
                for _ in range(400):
                    untagged, _ = a.ok("SELECT Churn")
                    n = int(next(re.match(r"\* (\d+) EXISTS", u).group(1)
                                 for u in untagged
                                 if re.match(r"\* \d+ EXISTS", u)))
                    _, tagged = a.cmd("FETCH %d (UID)" % n)
                    self.assertIn(" OK", tagged, "FETCH %d after SELECT" % n)
            finally:
                stop.set()
                t.join()
            self.assertEqual(errors, [])
        finally:
            a.close()
            b.close()

    def test_condstore(self):
        a, b = Imap(self.server), Imap(self.server)
        try:
            self.fresh(a, "Cond")
            for i in range(3):
                append(a, "Cond", "c%d" % i)
            untagged, _ = a.ok("SELECT Cond (CONDSTORE)")
            hms = int(re.search(r"HIGHESTMODSEQ (\d+)",
                                " ".join(untagged)).group(1))
            b.ok("SELECT Cond")
            # STORE from b: a sees MODSEQ in the unsolicited FETCH.
            b.ok("STORE 2 +FLAGS (\\Flagged)")
            untagged, _ = a.ok("NOOP")
            m = re.match(r"\* 2 FETCH \(UID \d+ FLAGS \(\\Flagged\) "
                         r"MODSEQ \((\d+)\)\)$", untagged[0])
            self.assertTrue(m, untagged)
            flagged_modseq = int(m.group(1))
            self.assertGreater(flagged_modseq, hms)
            # CHANGEDSINCE: only message 2.
            untagged, _ = a.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms)
            self.assertEqual(len(untagged), 1, untagged)
            self.assertIn("MODSEQ (%d)" % flagged_modseq, untagged[0])
            # UNCHANGEDSINCE older than message 2's modseq: [MODIFIED 2],
            # message 1 changes.
            untagged, tagged = a.cmd(
                "STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % hms)
            self.assertIn("[MODIFIED 2]", tagged)
            self.assertEqual(len(untagged), 1)
            self.assertRegex(untagged[0], r"^\* 1 FETCH .*\\Seen")
            # SEARCH MODSEQ reports the highest modseq of what it found.
            untagged, _ = a.ok("SEARCH MODSEQ %d" % (hms + 1))
            self.assertRegex(untagged[0], r"^\* SEARCH 1 2 \(MODSEQ \d+\)$")
            # b enables CONDSTORE by a FETCH MODSEQ: HIGHESTMODSEQ at once.
            untagged, _ = b.ok("FETCH 1 (MODSEQ)")
            self.assertTrue(any("[HIGHESTMODSEQ" in u for u in untagged),
                            untagged)
        finally:
            a.close()
            b.close()

    def test_qresync_after_offline_changes(self):
        other = Imap(self.server)
        offline = Imap(self.server)
        try:
            self.fresh(other, "Q")
            self.fresh(other, "QArchive")
            uids = [append(other, "Q", "q%d" % i) for i in range(6)]
            # QRESYNC only after ENABLE.
            _, tagged = offline.cmd("SELECT Q (QRESYNC (1 1))")
            self.assertIn(" BAD ", tagged)
            untagged, _ = offline.ok("ENABLE QRESYNC")
            self.assertEqual(untagged, ["* ENABLED QRESYNC"])
            untagged, _ = offline.ok("SELECT Q")
            text = " ".join(untagged)
            validity = int(re.search(r"UIDVALIDITY (\d+)", text).group(1))
            modseq = int(re.search(r"HIGHESTMODSEQ (\d+)", text).group(1))
            cache = fetch_state(offline)
            offline.close()

            # While it is away: flags, an expunge, a move, new mail.
            other.ok("SELECT Q")
            other.ok("UID STORE %d +FLAGS (\\Seen)" % uids[0])
            other.ok("UID STORE %d +FLAGS (\\Deleted)" % uids[1])
            other.ok("EXPUNGE")
            other.ok("UID MOVE %d QArchive" % uids[2])
            new_uid = append(other, "Q", "q-new")
            deliver(self.server, USER, "unrelated")  # INBOX, not Q

            back = Imap(self.server)
            back.ok("ENABLE QRESYNC")
            known = ",".join(str(u) for u in sorted(cache))
            untagged, tagged = back.ok(
                "SELECT Q (QRESYNC (%d %d %s))" % (validity, modseq, known))
            vanished = [u for u in untagged if u.startswith("* VANISHED")]
            self.assertEqual(len(vanished), 1, untagged)
            self.assertTrue(vanished[0].startswith("* VANISHED (EARLIER) "))
            gone = uid_set(vanished[0].split()[-1])
            self.assertEqual(gone, {uids[1], uids[2]})
            changed = {}
            for u in untagged:
                m = re.match(r"\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) "
                             r"MODSEQ \((\d+)\)\)$", u)
                if m:
                    changed[int(m.group(1))] = (
                        frozenset(m.group(2).split()), int(m.group(3)))
            self.assertIn(uids[0], changed)
            self.assertIn("\\Seen", changed[uids[0]][0])
            # Apply what the server said to the cache, fetch what is new:
            # the result is exactly the server's state.
            for u in gone:
                cache.pop(u, None)
            cache.update(changed)
            known_max = max(cache)
            untagged, _ = back.ok("UID FETCH %d:* (FLAGS MODSEQ)" %
                                  (known_max + 1))
            for u in untagged:
                uid = int(re.search(r"UID (\d+)", u).group(1))
                if uid > known_max:
                    flags = re.search(r"FLAGS \(([^)]*)\)", u).group(1)
                    cache[uid] = (frozenset(flags.split()),
                                  int(re.search(r"MODSEQ \((\d+)\)", u).group(1)))
            self.assertIn(new_uid, cache)
            self.assertEqual(cache, fetch_state(back))

            # UID FETCH ... (CHANGEDSINCE m VANISHED) says the same.
            untagged, _ = back.ok(
                "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
            self.assertTrue(untagged[0].startswith("* VANISHED (EARLIER) "),
                            untagged)
            self.assertEqual(uid_set(untagged[0].split()[-1]),
                             {uids[1], uids[2]})
            # VANISHED instead of EXPUNGE for this session from now on,
            # for its own expunges and for other sessions'.
            back.ok("UID STORE %d +FLAGS (\\Deleted)" % uids[3])
            untagged, tagged = back.ok("EXPUNGE")
            self.assertEqual(untagged, ["* VANISHED %d" % uids[3]])
            self.assertIn("[HIGHESTMODSEQ", tagged)
            other.ok("NOOP")
            other.ok("UID STORE %d +FLAGS (\\Deleted)" % uids[4])
            other.ok("EXPUNGE")
            untagged, _ = back.ok("NOOP")
            self.assertIn("* VANISHED %d" % uids[4], untagged)
            # A stale UIDVALIDITY gets no VANISHED and no FETCH.
            untagged, _ = back.ok("SELECT Q (QRESYNC (%d %d))" %
                                  (validity + 1, modseq))
            self.assertFalse([u for u in untagged if "VANISHED" in u or
                              "FETCH" in u], untagged)
            self.assertIn("* OK [CLOSED] Previous mailbox closed", untagged)
            back.close()
        finally:
            other.close()

    def test_notify_watches_every_folder(self):
        watcher, other = Imap(self.server), Imap(self.server)
        try:
            for box in ("NotifyA", "NotifyB", "Lists/one", "Lists", "Gone",
                        "Gone2"):
                other.cmd("DELETE %s" % box)
            for box in ("NotifyA", "NotifyB", "Lists", "Lists/one", "Gone"):
                other.ok("CREATE %s" % box)
            append(other, "NotifyB", "before")
            watcher.ok("SELECT NotifyA")
            # Unknown events: NO [BADEVENT], nothing changes.
            _, tagged = watcher.cmd("NOTIFY SET (personal (MessageNew "
                                    "MessageExpunge Nonsense))")
            self.assertIn("NO [BADEVENT", tagged)
            _, tagged = watcher.cmd("NOTIFY SET (personal (MessageNew))")
            self.assertIn(" BAD ", tagged)
            untagged, _ = watcher.ok(
                "NOTIFY SET STATUS (selected (MessageNew (UID "
                "BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge)) "
                "(subtree Lists (MessageNew MessageExpunge)) "
                "(personal (MessageNew MessageExpunge FlagChange "
                "MailboxName SubscriptionChange))")
            statuses = {re.match(r"\* STATUS (\S+)", u).group(1): u
                        for u in untagged if u.startswith("* STATUS")}
            # STATUS of every watched mailbox but the selected one.
            self.assertIn("NotifyB", statuses)
            self.assertIn("MESSAGES 1", statuses["NotifyB"])
            self.assertIn("Lists/one", statuses)
            self.assertNotIn("NotifyA", statuses)

            watcher.idle()
            append(other, "NotifyB", "elsewhere")
            line = watcher.idle_read(1)[0]
            self.assertRegex(line, r"^\* STATUS NotifyB \(MESSAGES 2 UIDNEXT "
                                   r"\d+ UIDVALIDITY \d+ UNSEEN 2\)$")
            append(other, "NotifyA", "selected one")
            lines = watcher.idle_read(2)
            self.assertEqual(lines[0], "* 1 EXISTS")
            self.assertRegex(lines[1], r"^\* 1 FETCH \(UID \d+ BODY\[HEADER"
                                       r"\.FIELDS \(SUBJECT\)\] \{\d+\}")
            self.assertIn("Subject: selected one", lines[1])
            other.ok("SELECT NotifyB")
            other.ok("STORE 1 +FLAGS (\\Seen)")
            self.assertRegex(watcher.idle_read(1)[0],
                             r"^\* STATUS NotifyB \(MESSAGES 2 .*UNSEEN 1\)$")
            other.ok("RENAME Gone Gone2")
            self.assertEqual(watcher.idle_read(1)[0],
                             '* LIST () "/" Gone2 ("OLDNAME" (Gone))')
            other.ok("DELETE Gone2")
            self.assertEqual(watcher.idle_read(1)[0],
                             '* LIST (\\NonExistent) "/" Gone2')
            other.ok("SUBSCRIBE NotifyB")
            self.assertEqual(watcher.idle_read(1)[0],
                             '* LIST (\\Subscribed) "/" NotifyB')
            other.ok("UNSUBSCRIBE NotifyB")
            self.assertEqual(watcher.idle_read(1)[0], '* LIST () "/" NotifyB')
            watcher.done()
            # Outside IDLE: the STATUS comes with the next command.
            deliver(self.server, USER, "to the inbox")
            time.sleep(0.2)
            untagged, _ = watcher.ok("NOOP")
            self.assertTrue(any(u.startswith("* STATUS INBOX (MESSAGES")
                                for u in untagged), untagged)
            # NOTIFY NONE: quiet again.
            watcher.ok("NOTIFY NONE")
            append(other, "NotifyB", "unseen by watcher")
            time.sleep(0.2)
            untagged, _ = watcher.ok("NOOP")
            self.assertEqual(untagged, [])
        finally:
            watcher.close()
            other.close()

    def test_pop3_while_imap_idles(self):
        c = Imap(self.server)
        try:
            c.ok("SELECT INBOX")
            untagged, _ = c.ok("SEARCH ALL")
            if untagged[0] != "* SEARCH":
                c.ok("STORE 1:* +FLAGS (\\Deleted)")
                c.ok("EXPUNGE")
            deliver(self.server, USER, "pop one")
            deliver(self.server, USER, "pop two")
            untagged, _ = c.ok("NOOP")
            c.idle()
            p = poplib.POP3_SSL("127.0.0.1", self.server.port("pop3s"),
                                timeout=30, context=client_tls_context())
            p.user(USER)
            p.pass_(PASSWORD)
            p.retr(2)
            p.dele(1)
            p.quit()
            lines = c.idle_read(2)
            self.assertRegex(lines[0], r"^\* 2 FETCH \(UID \d+ FLAGS \(\\Seen\)\)$")
            self.assertEqual(lines[1], "* 1 EXPUNGE")
            c.done()
        finally:
            c.close()


class ExpungeLogRetention(unittest.TestCase):
    """imap.expunge_log_days: once old expunge records are dropped, a
    QRESYNC client is told every UID it knew that is gone (exact, longer)."""

    def test_resync_after_the_log_was_compacted(self):
        tmp = tempfile.TemporaryDirectory(prefix="correio-e2e-")
        server = Server(data_dir=tmp.name)
        server.start()
        try:
            server.add_user(USER, PASSWORD)
            c = Imap(server)
            c.ok("CREATE Old")
            uids = [append(c, "Old", "o%d" % i) for i in range(6)]
            c.ok("SELECT Old")
            c.ok("UID STORE %d +FLAGS (\\Deleted)" % uids[0])
            c.ok("EXPUNGE")  # before the client's state: it never knew it
            untagged, _ = c.ok("SELECT Old (CONDSTORE)")
            text = " ".join(untagged)
            validity = int(re.search(r"UIDVALIDITY (\d+)", text).group(1))
            modseq = int(re.search(r"HIGHESTMODSEQ (\d+)", text).group(1))
            c.ok("UID STORE %d,%d +FLAGS (\\Deleted)" % (uids[2], uids[4]))
            c.ok("EXPUNGE")
            c.close()
            server.stop()
            # Every record becomes older than imap.expunge_log_days; the
            # server drops them when it starts.
            db = sqlite3.connect(tmp.name + "/correio.db")
            db.execute("UPDATE expunged SET at = 0")
            db.commit()
            db.close()
            server = Server(data_dir=tmp.name)
            server.start()
            c = Imap(server)
            c.ok("ENABLE QRESYNC")
            known = "%d:%d" % (uids[1], uids[5])
            untagged, _ = c.ok("SELECT Old (QRESYNC (%d %d %s))" %
                               (validity, modseq, known))
            vanished = [u for u in untagged if u.startswith("* VANISHED")]
            self.assertEqual(len(vanished), 1, untagged)
            self.assertEqual(uid_set(vanished[0].split()[-1]),
                             {uids[2], uids[4]})
            # Without known-uids: every UID below UIDNEXT that is gone,
            # including one the client never knew (allowed by RFC 7162).
            untagged, _ = c.ok("SELECT Old (QRESYNC (%d %d))" %
                               (validity, modseq))
            vanished = [u for u in untagged if u.startswith("* VANISHED")]
            self.assertEqual(uid_set(vanished[0].split()[-1]),
                             {uids[0], uids[2], uids[4]})
            # And UID FETCH ... VANISHED the same way.
            untagged, _ = c.ok("UID FETCH %s (FLAGS) (CHANGEDSINCE %d "
                               "VANISHED)" % (known, modseq))
            self.assertEqual(uid_set(untagged[0].split()[-1]),
                             {uids[2], uids[4]})
            c.close()
        finally:
            server.stop()
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
