"""kill -9 during IMAP APPEND/EXPUNGE streams and around POP3 QUIT
(issue 7, "Faults").

IMAP: one connection appends without pause, another flags and UID
EXPUNGEs the oldest messages, a third polls STATUS; the server is killed
with SIGKILL at random moments and restarted, several times. After every
restart:
- UIDVALIDITY is unchanged;
- every APPEND that got OK [APPENDUID] is there, unless a UID EXPUNGE of
  it was sent; every UID EXPUNGE that got OK is not undone;
- a new APPEND gets a UID above every UID any client ever saw (UIDs are
  never reused within a UIDVALIDITY), and UIDNEXT is above them too;
- HIGHESTMODSEQ is at least every MODSEQ any client saw (never goes down).

POP3: a session that marked messages deleted and is killed before QUIT
deletes nothing; after +OK to QUIT the deletions survive a kill -9.
"""

import imaplib
import poplib
import random
import re
import signal
import threading
import time
import unittest

from harness import DOMAIN, Server, client_tls_context

PASSWORD = "crash-pass"
ALICE = f"alice@{DOMAIN}"
ROUNDS = 5


class Observed:
    """What the clients were told, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.appended = set()    # UIDs whose APPEND got OK
        self.expunged = set()    # UIDs whose UID EXPUNGE got OK
        self.doomed = set()      # UIDs a UID EXPUNGE was sent for
        self.max_uid = 0         # the highest UID any response named
        self.max_modseq = 0
        self.uidvalidity = None
        self.failures = []       # unexpected errors inside worker threads

    def saw_uid(self, uid):
        with self.lock:
            self.max_uid = max(self.max_uid, uid)

    def saw_modseq(self, modseq):
        with self.lock:
            self.max_modseq = max(self.max_modseq, modseq)


def connect(server):
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                             ssl_context=client_tls_context(), timeout=30)
    imap.login(ALICE, PASSWORD)
    imap._simple_command("ENABLE", "CONDSTORE")
    return imap


def note_responses(obs, data):
    """UIDs and MODSEQs in untagged FETCH/response lines."""
    for item in data:
        if isinstance(item, tuple):
            item = item[0]
        if not isinstance(item, bytes):
            continue
        for m in re.finditer(rb"UID (\d+)", item):
            obs.saw_uid(int(m.group(1)))
        for m in re.finditer(rb"MODSEQ \((\d+)\)", item):
            obs.saw_modseq(int(m.group(1)))


def until_killed(worker):
    """A worker thread's body: returns when the server is killed under it
    (the connection breaks); any other error is kept for the main thread."""
    def run(server, obs, stop):
        try:
            worker(server, obs, stop)
        except (OSError, imaplib.IMAP4.abort, EOFError):
            return
        except Exception as e:  # noqa: BLE001 -- judged in the main thread
            obs.failures.append(repr(e))
    return run


@until_killed
def appender(server, obs, stop):
    imap = connect(server)
    n = 0
    while not stop.is_set():
        n += 1
        msg = (f"From: x@remote.test\r\nSubject: crash {n}\r\n\r\n"
               f"{'body ' * (n % 50)}\r\n").encode()
        typ, data = imap.append("INBOX", "(\\Seen)", None, msg)
        if typ != "OK":
            raise AssertionError(data)
        m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
        uidvalidity, uid = int(m.group(1)), int(m.group(2))
        with obs.lock:
            assert obs.uidvalidity in (None, uidvalidity), data
            obs.uidvalidity = uidvalidity
            obs.appended.add(uid)
            obs.max_uid = max(obs.max_uid, uid)


@until_killed
def expunger(server, obs, stop):
    imap = connect(server)
    imap.select("INBOX")
    while not stop.is_set():
        typ, data = imap.uid("SEARCH", "ALL")
        uids = [int(u) for u in data[0].split()]
        for u in uids:
            obs.saw_uid(u)
        victims = uids[:3]
        if not victims:
            time.sleep(0.01)
            continue
        uidset = ",".join(map(str, victims))
        with obs.lock:
            obs.doomed.update(victims)  # may be gone without an OK
        typ, data = imap.uid("STORE", uidset, "+FLAGS", "(\\Deleted)")
        note_responses(obs, data)
        typ, data = imap.uid("EXPUNGE", uidset)
        if typ == "OK":
            with obs.lock:
                obs.expunged.update(victims)


@until_killed
def poller(server, obs, stop):
    imap = connect(server)
    while not stop.is_set():
        typ, data = imap.status("INBOX", "(UIDNEXT HIGHESTMODSEQ)")
        m = re.search(rb"HIGHESTMODSEQ (\d+)", data[0])
        obs.saw_modseq(int(m.group(1)))
        time.sleep(0.005)


class ImapKillTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.server.start()
        self.server.add_user(ALICE, PASSWORD)

    def tearDown(self):
        code = self.server.stop()
        self.server._tmp.cleanup()
        self.assertEqual(code, 0, self.server.stderr())

    def check(self, obs):
        imap = connect(self.server)
        try:
            typ, data = imap.status(
                "INBOX", "(UIDNEXT UIDVALIDITY HIGHESTMODSEQ)")
            status = data[0]
            uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", status)[1])
            uidnext = int(re.search(rb"UIDNEXT (\d+)", status)[1])
            highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", status)[1])
            with obs.lock:
                if obs.uidvalidity is not None:
                    self.assertEqual(uidvalidity, obs.uidvalidity)
                self.assertGreater(uidnext, obs.max_uid)
                self.assertGreaterEqual(highest, obs.max_modseq)
                must_have = obs.appended - obs.doomed
                must_not = set(obs.expunged)
            imap.select("INBOX", readonly=True)
            typ, data = imap.uid("SEARCH", "ALL")
            present = {int(u) for u in data[0].split()}
            self.assertEqual(must_have - present, set(), "acknowledged "
                             "APPENDs lost")
            self.assertEqual(must_not & present, set(), "acknowledged "
                             "EXPUNGEs undone")
            imap.close()
            # A new message gets a UID nobody has seen.
            typ, data = imap.append("INBOX", None, None,
                                    b"Subject: after restart\r\n\r\nx\r\n")
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0])[1])
            self.assertGreater(uid, obs.max_uid)
            with obs.lock:
                obs.appended.add(uid)
                obs.max_uid = uid
        finally:
            imap.logout()

    def test_kill_during_append_and_expunge(self):
        obs = Observed()
        rng = random.Random()
        for r in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=f, args=(self.server, obs,
                                                        stop))
                       for f in (appender, expunger, poller)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.5, 2.0))
            self.server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            self.assertEqual(obs.failures, [], "round %d" % r)
            self.server.start()
            self.check(obs)
        self.assertGreater(len(obs.appended), 20, "too little traffic")
        self.assertGreater(len(obs.expunged), 5, "too little traffic")


class Pop3KillTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.server.start()
        self.server.add_user(ALICE, PASSWORD)
        imap = connect(self.server)
        for i in range(6):
            imap.append("INBOX", None, None,
                        f"Subject: pop {i}\r\n\r\nbody\r\n".encode())
        imap.logout()

    def tearDown(self):
        code = self.server.stop()
        self.server._tmp.cleanup()
        self.assertEqual(code, 0, self.server.stderr())

    def pop(self):
        p = poplib.POP3_SSL("127.0.0.1", self.server.port("pop3s"),
                            context=client_tls_context(), timeout=30)
        p.user(ALICE)
        p.pass_(PASSWORD)
        return p

    def test_kill_before_quit_deletes_nothing_after_quit_durable(self):
        p = self.pop()
        self.assertEqual(p.stat()[0], 6)
        for i in (1, 2, 3):
            p.dele(i)
        self.server.kill()          # no QUIT: nothing may be deleted
        self.server.start()
        p = self.pop()
        self.assertEqual(p.stat()[0], 6)
        for i in (1, 2):
            p.dele(i)
        self.assertTrue(p.quit().startswith(b"+OK"))
        self.server.kill()          # right after +OK: deletions durable
        self.server.start()
        p = self.pop()
        self.assertEqual(p.stat()[0], 4)
        subjects = [b"\n".join(p.top(i, 0)[1]) for i in (1, 2, 3, 4)]
        self.assertTrue(all(b"Subject: pop 0" not in s and
                            b"Subject: pop 1" not in s for s in subjects))
        p.quit()


if __name__ == "__main__":
    unittest.main()
