"""Seeded randomized model test of multi-session IMAP consistency (issue 6).

Several sessions (3 by default) log in to ONE account and select ONE fresh
mailbox, each over implicit TLS with a raw client written here (imaplib
would hide the order of untagged responses). Random operations by random
sessions change the mailbox; the test checks that every session's picture
of it stays consistent with the truth.

- VIEW (per session): the UIDs in sequence order, with flags (and MODSEQ
  once CONDSTORE is on). Updated ONLY from server responses, with the
  RFC 9051 §7.5.1 sequence arithmetic: "* n EXPUNGE" removes the n-th entry,
  "* n EXISTS" announces new messages (their UIDs are learnt after the
  command with "UID FETCH <last known uid + 1>:*"), "* n FETCH" updates
  flags/MODSEQ and must agree with the UID at that position. One session
  (chosen by the seed) sends ENABLE QRESYNC before SELECT and gets
  "* VANISHED uid-set" instead of EXPUNGE, and MODSEQ in every FETCH;
  another sends ENABLE CONDSTORE (EXPUNGE, but MODSEQ). Sessions
  sometimes UNSELECT or CLOSE, miss a few operations, and come back with a
  plain SELECT, or, for the QRESYNC session, with SELECT ... (QRESYNC
  (uidvalidity modseq [known-uids])) applied to the cached view
  (RFC 7162 §3.2.5).
- MODEL (the truth): UID -> flags (and the message text), updated from the
  acting session's tagged OK: APPEND ([APPENDUID]; sometimes several
  pipelined), STORE +FLAGS/-FLAGS/FLAGS by sequence number or UID,
  EXPUNGE and CLOSE (every \\Deleted message of the mailbox, RFC 9051
  §6.4.3/§6.4.1), UID EXPUNGE, COPY into the same mailbox and into a second
  one ([COPYUID]), MOVE/UID MOVE to the second mailbox, FETCH (UID FLAGS),
  FETCH BODY[] (sets \\Seen; must return that message's text) and
  BODY.PEEK[], NOOP, IDLE (another session acts while one idles: the idler
  must get the update without a command), and a concurrent step (another
  session SELECTs in a thread while this one changes the mailbox: what is
  committed meanwhile must still reach it). Operations only use sequence
  numbers valid in the acting session's own view.
- CHECKS: after every operation the acting session sends NOOP and its view
  (UID list and flags) must equal the model; every so often and at the end
  every session does. The last untagged FETCH for a message in a STORE or
  FETCH answer must give the flags it really has. No EXPUNGE/VANISHED while
  answering FETCH/STORE by sequence number. After ENABLE CONDSTORE/QRESYNC
  every FETCH with FLAGS carries MODSEQ (RFC 7162 §3.1), and UID too with
  QRESYNC; MODSEQ
  never decreases for a UID and flags never change without a new MODSEQ.
  EXISTS/EXPUNGE/FETCH/VANISHED numbers must fit the view. At the end a
  fresh session's SELECT must show the model, for both mailboxes.

Everything but the concurrent step is sequential, so a seed replays the
same way as long as the server answers the same way; the concurrent step
depends on timing and catches races only some of the time (soak runs).

Environment (defaults: seeds 1..3, 150 operations each, 3 sessions; a few
seconds):
  CORREIO_MODEL_OPS=n        operations per seed
  CORREIO_MODEL_SEEDS=spec   which seeds: a count "20" (seeds 1..20), a range
                             "100-199", a list "3,8,13" or a mix "1-5,42"
                             (one seed: "7-7")
  CORREIO_MODEL_SESSIONS=n   number of sessions (at least 2)
  CORREIO_MODEL_TRANSCRIPT=f on failure, also write the seed's whole wire
                             transcript to the file f ("{seed}" in f is
                             replaced by the seed)
  CORREIO_MODEL_VERBOSE=1    print time and operation counts per seed
Soak run:
  CORREIO_MODEL_SEEDS=1-200 CORREIO_MODEL_OPS=2000 CORREIO_MODEL_SESSIONS=5 \\
      python3 -m unittest -v test_imap_model

A failure reports the seed, the operation index, the last 30 operations,
every session's view against the model, the store's own state (a fresh
SELECT) and the end of the wire transcript, with the command line that
replays it.
"""

import collections
import os
import random
import re
import socket
import threading
import time
import traceback
import unittest

from harness import ServerTestCase, client_tls_context

USER = "model@example.org"
PASSWORD = "model secret"
KEYWORD = "$Model"
FLAG_POOL = ("\\Seen", "\\Flagged", "\\Deleted", KEYWORD)
CANONICAL = {"\\seen": "\\Seen", "\\flagged": "\\Flagged",
             "\\deleted": "\\Deleted", "\\answered": "\\Answered",
             "\\draft": "\\Draft"}
IDLE_WAIT = 5.0  # seconds an idling session may take to see an update


def _parse_seed_spec(spec):
    spec = spec.strip()
    if re.fullmatch(r"\d+", spec):
        return list(range(1, int(spec) + 1))
    seeds = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)-(\d+)", part)
        if m:
            seeds.extend(range(int(m.group(1)), int(m.group(2)) + 1))
        else:
            seeds.append(int(part))
    return seeds


SEEDS = _parse_seed_spec(os.environ.get("CORREIO_MODEL_SEEDS", "3"))
OPS = int(os.environ.get("CORREIO_MODEL_OPS", "150"))
SESSIONS = max(2, int(os.environ.get("CORREIO_MODEL_SESSIONS", "3")))


class ModelFailure(AssertionError):
    """The server's answers contradict the model or RFC arithmetic."""


# ---- small helpers ----

def norm_flags(items):
    out = set()
    for f in items:
        if f.lower() == "\\recent":
            continue  # RFC 9051 dropped it; never part of the model
        out.add(CANONICAL.get(f.lower(), f))
    return frozenset(out)


def fmt_flags(flags):
    return "(" + " ".join(sorted(flags)) + ")"


def short_flags(flags):
    letters = {"\\Seen": "S", "\\Flagged": "F", "\\Deleted": "D",
               "\\Answered": "A", "\\Draft": "R", KEYWORD: "k"}
    s = "".join(sorted(letters.get(f, "?") for f in flags))
    return s or "-"


def parse_set(text):
    """A number set of UIDs without "*" ("3:5,9") -> list in given order."""
    out = []
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            lo, hi = min(a, b), max(a, b)
            out.extend(range(lo, hi + 1))
        else:
            out.append(int(part))
    return out


def format_set(nums):
    nums = sorted(nums)
    out = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else "%d:%d" % (nums[i], nums[j]))
        i = j + 1
    return ",".join(out)


class Parser:
    """Just enough of the IMAP response grammar for FETCH data."""

    def __init__(self, s, i=0):
        self.s = s
        self.i = i

    def value(self):
        s = self.s
        while self.i < len(s) and s[self.i] == " ":
            self.i += 1
        if self.i >= len(s):
            raise ValueError("unexpected end of response")
        c = s[self.i]
        if c == "(":
            self.i += 1
            items = []
            while True:
                while self.i < len(s) and s[self.i] == " ":
                    self.i += 1
                if self.i >= len(s):
                    raise ValueError("unclosed list")
                if s[self.i] == ")":
                    self.i += 1
                    return items
                items.append(self.value())
        if c == '"':
            j = self.i + 1
            out = []
            while s[j] != '"':
                if s[j] == "\\":
                    j += 1
                out.append(s[j])
                j += 1
            self.i = j + 1
            return "".join(out)
        m = re.compile(r"~?\{(\d+)\}\r\n").match(s, self.i)
        if m:
            n = int(m.group(1))
            self.i = m.end() + n
            return s[m.end():self.i]
        j = self.i
        depth = 0
        while j < len(s):
            ch = s[j]
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            elif depth == 0 and ch in " ()":
                break
            j += 1
        tok = s[self.i:j]
        self.i = j
        return tok


class Entry:
    __slots__ = ("uid", "flags", "modseq")

    def __init__(self, uid=None, flags=None, modseq=None):
        self.uid = uid
        self.flags = flags
        self.modseq = modseq


class Reply:
    def __init__(self, tag, status, text, untagged, fetches, copyuid):
        self.tag = tag
        self.status = status
        self.text = text
        self.untagged = untagged
        self.fetches = fetches  # [(uid, flags, body)] in order (or None)
        self.copyuid = copyuid  # (uidvalidity, [src], [dst]) or None

    def code(self, name):
        m = re.match(r"\[%s ([^\]]*)\]" % name, self.text)
        return m.group(1) if m else None

    def __str__(self):
        return "%s %s" % (self.status, self.text)


class Session:
    """One raw IMAP client over implicit TLS with its own view."""

    def __init__(self, run, name, mode):
        self.run = run
        self.name = name
        self.mode = mode  # "plain", "condstore", "qresync"
        raw = socket.create_connection(
            ("127.0.0.1", run.server.port("imaps")), timeout=30)
        self.sock = client_tls_context().wrap_socket(raw)
        self.buf = b""
        self.n = 0
        self.view = []
        self.selected = False
        self.uidvalidity = None
        self.reported_hms = 0  # last HIGHESTMODSEQ response code
        self.modseq_seen = {}  # uid -> (modseq, flags) last reported
        self.cache = None  # {uid: flags} kept over UNSELECT/CLOSE (QRESYNC)
        self.cache_modseq = 0
        self.resync = None  # collecting a SELECT ... (QRESYNC ...) answer
        self.enabled = set()
        self._fetches = []
        self._copyuid = None
        greeting = self.read_response()
        if not greeting.startswith("* OK"):
            raise ModelFailure("%s: bad greeting %r" % (name, greeting))

    @property
    def label(self):
        return "%s[%s]" % (self.name, self.mode)

    def fail(self, msg):
        raise ModelFailure("%s: %s" % (self.label, msg))

    # ---- wire ----
    def log(self, direction, text):
        if len(text) > 300:
            text = text[:300] + "...(%d chars)" % len(text)
        text = text.replace("\r\n", "\\r\\n")
        self.run.transcript.append("%-3s %s %s" % (self.name, direction,
                                                   text))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ModelFailure("%s: server closed the connection" % self.label)
        self.buf += chunk

    def _line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        if not line.endswith(b"\r"):
            self.fail("response line without CRLF: %r" % line)
        return line[:-1].decode("latin-1")

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data.decode("latin-1")

    def read_response(self):
        """One whole response, literals embedded as on the wire."""
        line = self._line()
        text = line
        while True:
            m = re.search(r"\{(\d+)\}$", line)
            if not m:
                break
            text += "\r\n" + self._exact(int(m.group(1)))
            line = self._line()
            text += line
        self.log("S:", text)
        return text

    def send_line(self, line, literal=None):
        data = line.encode() + b"\r\n"
        shown = line
        if literal is not None:
            data += literal + b"\r\n"
            shown += " <%d octets>" % len(literal)
        self.log("C:", shown)
        self.sock.sendall(data)

    def send_command(self, cmd, literal=None):
        self.n += 1
        tag = "%s.%d" % (self.name, self.n)
        if literal is not None:
            cmd += " {%d+}" % len(literal)
        self.send_line(tag + " " + cmd, literal)
        return tag

    def finish(self, tag, learn=True):
        """Reads up to the tagged reply of `tag`, applying every untagged
        response to the view in order."""
        self._fetches = []
        self._copyuid = None
        untagged = []
        while True:
            resp = self.read_response()
            if resp.startswith("* "):
                untagged.append(resp)
                self.on_untagged(resp)
            elif resp.startswith(tag + " "):
                break
            elif resp.startswith("+"):
                self.fail("unexpected continuation %r" % resp)
            else:
                self.fail("unexpected response %r" % resp)
        rest = resp[len(tag) + 1:]
        status, _, text = rest.partition(" ")
        reply = Reply(tag, status, text, untagged, self._fetches,
                      self._copyuid)
        self.on_code(text)
        if status == "OK":
            m = re.match(r"\[COPYUID (\d+) (\S+) (\S+)\]", text)
            if m:
                reply.copyuid = (int(m.group(1)), parse_set(m.group(2)),
                                 parse_set(m.group(3)))
        if learn and self.selected:
            self.learn_uids()
        return reply

    def command(self, cmd, literal=None, learn=True):
        return self.finish(self.send_command(cmd, literal), learn)

    def expect_ok(self, cmd, literal=None):
        r = self.command(cmd, literal)
        if r.status != "OK":
            self.fail("%s -> %s" % (cmd, r))
        return r

    # ---- untagged responses ----
    def on_code(self, text):
        m = re.match(r"\[HIGHESTMODSEQ (\d+)\]", text)
        if m:
            h = int(m.group(1))
            if h < self.reported_hms:
                self.fail("HIGHESTMODSEQ went down from %d to %d" %
                          (self.reported_hms, h))
            self.reported_hms = h
        m = re.match(r"\[UIDVALIDITY (\d+)\]", text)
        if m:
            self.uidvalidity = int(m.group(1))

    def on_untagged(self, resp):
        body = resp[2:]
        m = re.match(r"(\d+) (EXISTS|EXPUNGE|FETCH|RECENT)\b ?", body)
        if m:
            n = int(m.group(1))
            what = m.group(2)
            if what == "EXISTS":
                self.on_exists(n)
            elif what == "EXPUNGE":
                self.on_expunge(n)
            elif what == "FETCH":
                try:
                    items = Parser(body, m.end()).value()
                except (ValueError, IndexError) as e:
                    self.fail("unparsable FETCH %r: %s" % (resp, e))
                self.on_fetch(n, items)
            return
        m = re.match(r"VANISHED (\(EARLIER\) )?(\S+)$", body)
        if m:
            self.on_vanished(bool(m.group(1)), parse_set(m.group(2)))
            return
        if body.startswith("OK "):
            text = body[3:]
            self.on_code(text)
            m = re.match(r"\[COPYUID (\d+) (\S+) (\S+)\]", text)
            if m:
                self._copyuid = (int(m.group(1)), parse_set(m.group(2)),
                                 parse_set(m.group(3)))
            if text.startswith("[CLOSED]"):
                self.view = []
            return
        if body.startswith("ENABLED"):
            self.enabled.update(body.split()[1:])
            return
        if body.startswith("BYE"):
            self.fail("server said %r" % resp)
        # FLAGS, LIST, CAPABILITY, NO/BAD warnings ...: not part of the view

    def on_exists(self, n):
        if self.resync is not None:
            self.resync["exists"] = n
            return
        if not self.selected:
            self.fail("EXISTS while no mailbox is selected")
        if n < len(self.view):
            self.fail("EXISTS %d but the view has %d messages (EXISTS cannot "
                      "shrink the mailbox; RFC 9051 §7.4.1)" %
                      (n, len(self.view)))
        self.view.extend(Entry() for _ in range(n - len(self.view)))

    def on_expunge(self, n):
        if self.mode == "qresync":
            self.fail("'* %d EXPUNGE' after ENABLE QRESYNC (RFC 7162 "
                      "§3.2.10: VANISHED instead)" % n)
        if not 1 <= n <= len(self.view):
            self.fail("'* %d EXPUNGE' but the view has %d messages" %
                      (n, len(self.view)))
        self.view.pop(n - 1)

    def on_vanished(self, earlier, uids):
        if self.mode != "qresync":
            self.fail("VANISHED without ENABLE QRESYNC")
        if self.resync is not None:
            if not earlier:
                self.fail("VANISHED without (EARLIER) during SELECT")
            self.resync["vanished"].update(uids)
            return
        index = {e.uid: i for i, e in enumerate(self.view)
                 if e.uid is not None}
        if earlier:
            inside = [u for u in uids if u in index]
            if inside:
                self.fail("VANISHED (EARLIER) names UIDs %s that are still in "
                          "the view" % inside)
            return
        gone = set()
        for u in uids:
            if u in index:
                gone.add(index[u])
                continue
            # Announced by EXISTS but its UID not learnt yet: one of the
            # unknown entries between the known UIDs around u (which one
            # does not matter, the others are learnt after the command).
            lo = 0
            cand = None
            for i, e in enumerate(self.view):
                if e.uid is None:
                    if cand is None and i not in gone and lo < u:
                        cand = i
                elif e.uid < u:
                    lo = e.uid
                    cand = None
                else:
                    break
            if cand is None:
                self.fail("VANISHED %d: no such UID in the view (nor an "
                          "announced message that could have it)" % u)
            gone.add(cand)
        self.view = [e for i, e in enumerate(self.view) if i not in gone]

    def on_fetch(self, seq, items):
        if not isinstance(items, list) or len(items) % 2:
            self.fail("malformed FETCH data %r" % (items,))
        data = {}
        for k, v in zip(items[0::2], items[1::2]):
            data[k.upper()] = v
        uid = int(data["UID"]) if "UID" in data else None
        flags = norm_flags(data["FLAGS"]) if "FLAGS" in data else None
        modseq = None
        if "MODSEQ" in data:
            modseq = int(data["MODSEQ"][0])
        if flags is not None and self.mode != "plain" and modseq is None:
            # RFC 7162 §3.1: once CONDSTORE is enabled, untagged FETCH
            # responses that report flags (STORE, a FETCH that sets \Seen,
            # another session's change) carry MODSEQ.
            self.fail("'* %d FETCH' with FLAGS but without MODSEQ after "
                      "ENABLE %s (RFC 7162 §3.1)" % (seq, self.mode.upper()))
        if flags is not None and self.mode == "qresync" and uid is None:
            # RFC 7162 §3.2.4: with QRESYNC every such FETCH carries UID.
            self.fail("'* %d FETCH' with FLAGS but without UID after ENABLE "
                      "QRESYNC (RFC 7162 §3.2.4)" % seq)
        if self.resync is not None:
            if uid is None:
                self.fail("FETCH without UID during SELECT QRESYNC")
            self.resync["fetch"].append((seq, uid, flags, modseq))
            self.note_modseq(uid, flags, modseq)
            return
        if not 1 <= seq <= len(self.view):
            self.fail("'* %d FETCH' but the view has %d messages" %
                      (seq, len(self.view)))
        e = self.view[seq - 1]
        if uid is not None:
            if e.uid is None:
                before = [x.uid for x in self.view[:seq - 1]
                          if x.uid is not None]
                after = [x.uid for x in self.view[seq:] if x.uid is not None]
                if ((before and before[-1] >= uid) or
                        (after and after[0] <= uid)):
                    self.fail("'* %d FETCH (UID %d)' breaks UID order in the "
                              "view" % (seq, uid))
                e.uid = uid
            elif e.uid != uid:
                self.fail("'* %d FETCH (UID %d ...)' but message %d is UID %d "
                          "in the view" % (seq, uid, seq, e.uid))
        if flags is not None:
            e.flags = flags
        if modseq is not None:
            e.modseq = modseq
        if e.uid is not None:
            self.note_modseq(e.uid, flags, modseq)
        body = None
        for k, v in data.items():
            if k.startswith("BODY[") or k.startswith("BINARY["):
                body = v.encode("latin-1") if isinstance(v, str) else v
        self._fetches.append((e.uid, flags, body))

    def note_modseq(self, uid, flags, modseq):
        if modseq is None:
            return
        prev = self.modseq_seen.get(uid)
        if prev is not None:
            pm, pf = prev
            if modseq < pm:
                self.fail("MODSEQ of UID %d went down from %d to %d" %
                          (uid, pm, modseq))
            if (modseq == pm and flags is not None and pf is not None and
                    flags != pf):
                self.fail("flags of UID %d changed from %s to %s without a "
                          "new MODSEQ (%d)" % (uid, fmt_flags(pf),
                                               fmt_flags(flags), modseq))
            if flags is None:
                flags = pf
        self.modseq_seen[uid] = (modseq, flags)

    def learn_uids(self):
        """After EXISTS: 'UID FETCH <max known + 1>:*' until every entry
        has a UID ("n:*" above the top UID still returns the last message:
        UIDs already known are checked, not added)."""
        for _ in range(50):  # more may arrive meanwhile (IDLE, threads)
            holes = [i for i, e in enumerate(self.view) if e.uid is None]
            if not holes:
                return
            # An unsolicited FETCH may have named a later one already: ask
            # from the last UID known before the first unknown one.
            known = [e.uid for e in self.view[:holes[0]]]
            lo = known[-1] + 1 if known else 1
            items = "UID FLAGS" if self.mode == "plain" else "UID FLAGS MODSEQ"
            r = self.command("UID FETCH %d:* (%s)" % (lo, items), learn=False)
            if r.status != "OK":
                self.fail("UID FETCH %d:* -> %s" % (lo, r))
        holes = sum(1 for e in self.view if e.uid is None)
        if not holes:
            return
        self.fail("%d messages announced by EXISTS never showed up in UID "
                  "FETCH n:*" % holes)

    # ---- checks ----
    def diff(self, model):
        """'' when the view equals the model, else a description."""
        uids = [e.uid for e in self.view]
        want = sorted(model)
        out = []
        if uids != want:
            have = set(u for u in uids if u is not None)
            missing = sorted(set(want) - have)
            extra = sorted(have - set(want))
            out.append("view UIDs %s, model %s" % (format_set(have) or "()",
                                                   format_set(want) or "()"))
            if missing:
                out.append("missing from view: %s" % format_set(missing))
            if extra:
                out.append("in view but not in the mailbox: %s" %
                           format_set(extra))
            if not missing and not extra:
                out.append("same UIDs in a different order or repeated: %s" %
                           uids)
        for e in self.view:
            if e.uid in model and e.flags != model[e.uid]:
                out.append("UID %d flags %s, model %s" % (
                    e.uid, fmt_flags(e.flags or ()), fmt_flags(model[e.uid])))
        return "; ".join(out)

    def converged(self, model):
        """While idling: every update for the model has arrived (UIDs of
        new messages cannot be asked for, so unknown ones match)."""
        want = sorted(model)
        if len(self.view) != len(want):
            return False
        for e, u in zip(self.view, want):
            if e.uid is None:
                continue
            if e.uid != u or e.flags != model[u]:
                return False
        return True

    def poll(self, timeout):
        """Reads unsolicited responses (IDLE) for at most `timeout`."""
        if b"\n" not in self.buf:
            self.sock.settimeout(timeout)
            try:
                self._fill()
            except (socket.timeout, TimeoutError):
                return
            finally:
                self.sock.settimeout(30)
        while b"\n" in self.buf:
            resp = self.read_response()
            if not resp.startswith("* "):
                self.fail("unexpected %r while idling" % resp)
            self.on_untagged(resp)

    def show_view(self):
        if not self.selected:
            return "(not selected)"
        return " ".join("%s:%s" % (e.uid if e.uid is not None else "?",
                                   short_flags(e.flags or ()))
                        for e in self.view) or "(empty)"

    def close(self):
        try:
            self.sock.settimeout(2)
            self.send_line("%s.z LOGOUT" % self.name)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class ModelRun:
    """One seed: sessions, model, operations, checks."""

    KINDS = (("append", 16), ("store", 16), ("uid_store", 9),
             ("expunge", 6), ("uid_expunge", 5), ("copy_same", 6),
             ("copy_other", 3), ("move", 6), ("fetch", 4), ("fetch_body", 4),
             ("noop", 3), ("idle", 5), ("offline", 3), ("concurrent", 4))
    SOLO = ("idle", "offline", "concurrent")  # not nested in IDLE

    def __init__(self, server, seed, ops, nsessions):
        self.server = server
        self.seed = seed
        self.ops = ops
        self.nsessions = nsessions
        self.rng = random.Random(seed)
        self.box = "Model%d" % seed
        self.other = "Model%dOther" % seed
        self.model = {}
        self.other_model = {}
        self.bodies = {}  # uid -> the message as appended
        self.uid_hwm = 0
        self.other_hwm = 0
        self.other_validity = None
        self.gone = []  # UIDs expunged or moved away (for UID sets)
        self.uidvalidity = None
        self.oplog = collections.deque(maxlen=30)
        self.transcript = collections.deque(maxlen=20000)
        self.sessions = []
        self.op_index = "setup"
        self.counts = collections.Counter()

    # ---- driver ----
    def execute(self):
        """Returns None on success, else a failure report."""
        try:
            self.setup()
            for i in range(self.ops):
                self.op_index = i
                s = self.rng.choice(self.sessions)
                self.step(s)
                if self.rng.random() < 0.1:
                    self.check_all()
            self.op_index = "final"
            self.final_checks()
            return None
        except Exception as e:  # a report for whatever went wrong
            return self.report(e)
        finally:
            for s in self.sessions:
                s.close()

    def setup(self):
        admin = Session(self, "adm", "plain")
        admin.expect_ok("LOGIN %s \"%s\"" % (USER, PASSWORD))
        for name in (self.box, self.other):
            admin.command("DELETE %s" % name)
            admin.expect_ok("CREATE %s" % name)
        admin.close()
        modes = ["qresync", "condstore", "plain"]
        modes += [self.rng.choice(modes) for _ in range(self.nsessions - 3)]
        modes = modes[:self.nsessions]
        self.rng.shuffle(modes)
        for i, mode in enumerate(modes):
            s = Session(self, "s%d" % (i + 1), mode)
            self.sessions.append(s)
            s.expect_ok("LOGIN %s \"%s\"" % (USER, PASSWORD))
            if mode != "plain":
                s.expect_ok("ENABLE %s" % mode.upper())
                if mode.upper() not in s.enabled:
                    s.fail("ENABLE %s not confirmed by * ENABLED" %
                           mode.upper())
            self.select(s)

    def select(self, s):
        s.view = []
        s.selected = True
        r = s.expect_ok("SELECT %s" % self.box)
        self.check_validity(s)
        return r

    def check_validity(self, s):
        if s.uidvalidity is None:
            s.fail("SELECT without UIDVALIDITY")
        if self.uidvalidity is None:
            self.uidvalidity = s.uidvalidity
        elif s.uidvalidity != self.uidvalidity:
            s.fail("UIDVALIDITY changed from %d to %d" %
                   (self.uidvalidity, s.uidvalidity))

    def log_op(self, s, text):
        self.oplog.append("#%s %s: %s" % (self.op_index, s.label, text))

    def step(self, s):
        if not s.selected:
            if self.rng.random() < 0.6:
                self.op_reselect(s)
            else:
                self.op_append(s)
                return  # nothing selected: nothing to check
        else:
            kind = self.rng.choices([k for k, _ in self.KINDS],
                                    [w for _, w in self.KINDS])[0]
            self.do(s, kind)
        self.check_session(s)

    def do(self, s, kind):
        if kind not in ("append", "append_burst", "noop", "idle", "offline",
                        "concurrent") and not s.view:
            kind = "append"
        self.counts[kind] += 1
        getattr(self, "op_" + kind)(s)

    # ---- operations ----
    def random_flags(self, allow_empty):
        while True:
            flags = frozenset(f for f in FLAG_POOL if self.rng.random() <
                              (0.2 if f == "\\Deleted" else 0.3))
            if flags or allow_empty:
                return flags

    def random_seq_set(self, s):
        n = len(s.view)
        r = self.rng.random()
        if r < 0.45 or n == 1:
            k = self.rng.randint(1, n)
            text, seqs = str(k), [k]
        elif r < 0.65:
            a, b = sorted(self.rng.sample(range(1, n + 1), 2))
            text = "%d:%d" % ((a, b) if self.rng.random() < 0.7 else (b, a))
            seqs = list(range(a, b + 1))
        elif r < 0.75:
            text, seqs = "*", [n]
        elif r < 0.85:
            k = self.rng.randint(max(1, n - 3), n)
            text, seqs = "%d:*" % k, list(range(k, n + 1))
        else:
            seqs = sorted(self.rng.sample(range(1, n + 1), min(n, 3)))
            text = ",".join(str(x) for x in seqs)
        return text, [s.view[k - 1].uid for k in seqs]

    def random_uid_set(self, s):
        uids = [e.uid for e in s.view]
        r = self.rng.random()
        if r < 0.4 or len(uids) == 1:
            u = self.rng.choice(uids)
            return str(u), [u]
        if r < 0.6:
            a, b = sorted(self.rng.sample(uids, 2))
            text = "%d:%d" % ((a, b) if self.rng.random() < 0.7 else (b, a))
            return text, [u for u in uids if a <= u <= b]
        if r < 0.7:
            return "*", [uids[-1]]
        if r < 0.85 and self.gone:
            g = self.rng.choice(self.gone)
            u = self.rng.choice(uids)
            return "%d,%d" % (g, u), [u]
        pick = sorted(self.rng.sample(uids, min(len(uids), 3)))
        return ",".join(str(u) for u in pick), pick

    def op_append(self, s, burst=1):
        """APPEND; burst > 1 pipelines several before reading answers."""
        sent = []
        for j in range(burst):
            flags = self.random_flags(allow_empty=True)
            body = ("From: model@example.org\r\nTo: model@example.org\r\n"
                    "Subject: model seed %d op %s.%d\r\n"
                    "Message-ID: <%d.%s.%d.%s@model>\r\n\r\n"
                    "body of op %s.%d\r\n" % (
                        self.seed, self.op_index, j, self.seed,
                        self.op_index, j, s.name, self.op_index,
                        j)).encode()
            cmd = "APPEND %s %s" % (self.box, fmt_flags(flags))
            sent.append((s.send_command(cmd, literal=body), cmd, flags, body))
        for tag, cmd, flags, body in sent:
            r = s.finish(tag, learn=False)
            self.appended(s, cmd, r, flags, body)
        s.learn_uids()

    def op_append_burst(self, s):
        self.op_append(s, burst=self.rng.randint(2, 4))

    def appended(self, s, cmd, r, flags, body):
        self.log_op(s, "%s -> %s" % (cmd, r))
        if r.status != "OK":
            s.fail("%s -> %s" % (cmd, r))
        code = r.code("APPENDUID")
        if not code:
            s.fail("APPEND without [APPENDUID]: %s" % r)
        v, u = (int(x) for x in code.split())
        if self.uidvalidity is not None and v != self.uidvalidity:
            s.fail("APPENDUID validity %d, mailbox has %d" %
                   (v, self.uidvalidity))
        if u <= self.uid_hwm:
            s.fail("APPENDUID %d not above the highest UID so far (%d)" %
                   (u, self.uid_hwm))
        self.uid_hwm = u
        self.model[u] = flags
        self.bodies[u] = body

    def op_store(self, s, uid=False):
        op = self.rng.choice(["+FLAGS", "-FLAGS", "FLAGS"])
        flags = self.random_flags(allow_empty=(op == "FLAGS"))
        text, targets = (self.random_uid_set(s) if uid
                         else self.random_seq_set(s))
        cmd = "%sSTORE %s %s %s" % ("UID " if uid else "", text, op,
                                    fmt_flags(flags))
        r = s.command(cmd, learn=False)
        self.log_op(s, "%s [uids %s] -> %s" % (cmd, format_set(targets), r))
        if r.status != "OK":
            s.fail("%s -> %s" % (cmd, r))
        for u in targets:
            if u not in self.model:
                continue  # expunged by another session, still in this view
            old = self.model[u]
            if op == "+FLAGS":
                self.model[u] = old | flags
            elif op == "-FLAGS":
                self.model[u] = old - flags
            else:
                self.model[u] = flags
        if not uid:
            self.no_expunge_in(s, cmd, r)
        self.check_reported_flags(s, cmd, r, targets)
        s.learn_uids()

    def op_uid_store(self, s):
        self.op_store(s, uid=True)

    def op_expunge(self, s):
        r = s.command("EXPUNGE")
        gone = sorted(u for u, f in self.model.items() if "\\Deleted" in f)
        self.log_op(s, "EXPUNGE [model \\Deleted: %s] -> %s" % (
            format_set(gone) or "none", r))
        if r.status != "OK":
            s.fail("EXPUNGE -> %s" % r)
        self.remove(gone)

    def op_uid_expunge(self, s):
        text, targets = self.random_uid_set(s)
        r = s.command("UID EXPUNGE %s" % text)
        gone = [u for u in targets
                if u in self.model and "\\Deleted" in self.model[u]]
        self.log_op(s, "UID EXPUNGE %s [model \\Deleted among them: %s] -> %s"
                    % (text, format_set(gone) or "none", r))
        if r.status != "OK":
            s.fail("UID EXPUNGE %s -> %s" % (text, r))
        self.remove(gone)

    def remove(self, uids):
        for u in uids:
            self.model.pop(u, None)
            self.gone.append(u)

    def copy_like(self, s, verb, dest):
        """COPY/MOVE of one message or a set; returns (uidvalidity,
        [(source uid, new uid)]) for what the model says was copied."""
        use_uid = self.rng.random() < 0.4
        if self.rng.random() < 0.7:
            k = self.rng.randint(1, len(s.view))
            targets = [s.view[k - 1].uid]
            text = str(targets[0]) if use_uid else str(k)
        elif use_uid:
            text, targets = self.random_uid_set(s)
        else:
            text, targets = self.random_seq_set(s)
        cmd = "%s%s %s %s" % ("UID " if use_uid else "", verb, text, dest)
        r = s.command(cmd)
        self.log_op(s, "%s [uids %s] -> %s%s" % (
            cmd, format_set(targets), r,
            "" if r.copyuid is None or verb == "COPY"
            else " (untagged COPYUID %d %s %s)" % (
                r.copyuid[0], format_set(r.copyuid[1]),
                format_set(r.copyuid[2]))))
        live = sorted(set(u for u in targets if u in self.model))
        if r.status == "NO" and len(live) < len(set(targets)):
            # RFC 9051 §7.1 EXPUNGEISSUED: refusing a set with a message
            # another session expunged is allowed; then nothing happened.
            return None, []
        if not live:
            if r.status != "OK":
                s.fail("%s of expunged messages -> %s" % (cmd, r))
            if r.copyuid is not None:
                s.fail("%s of expunged UIDs %s answered COPYUID %s" %
                       (cmd, format_set(targets), r.copyuid))
            return None, []
        if r.status != "OK":
            s.fail("%s -> %s" % (cmd, r))
        if r.copyuid is None:
            s.fail("%s without COPYUID" % cmd)
        v, srcs, dsts = r.copyuid
        if sorted(srcs) != live or len(dsts) != len(srcs):
            s.fail("%s: COPYUID %s, but the messages that exist are %s" %
                   (cmd, r.copyuid, format_set(live)))
        if len(set(dsts)) != len(dsts):
            s.fail("%s: COPYUID gives one new UID twice: %s" % (cmd, dsts))
        return v, list(zip(srcs, dsts))

    def op_copy_same(self, s):
        v, pairs = self.copy_like(s, "COPY", self.box)
        if not pairs:
            return
        if v != self.uidvalidity:
            s.fail("COPYUID validity %d, mailbox has %d" % (v,
                                                            self.uidvalidity))
        for src, dst in pairs:
            if dst <= self.uid_hwm:
                s.fail("COPY gave UID %d, not above the highest before it "
                       "(%d)" % (dst, self.uid_hwm))
        for src, dst in pairs:
            self.model[dst] = self.model[src]
            self.bodies[dst] = self.bodies[src]
        self.uid_hwm = max([self.uid_hwm] + [d for _, d in pairs])

    def to_other(self, s, v, pairs):
        if self.other_validity is None:
            self.other_validity = v
        elif v != self.other_validity:
            s.fail("COPYUID validity of %s changed from %d to %d" % (
                self.other, self.other_validity, v))
        for src, dst in pairs:
            if dst <= self.other_hwm:
                s.fail("%s got UID %d, not above the highest before (%d)" %
                       (self.other, dst, self.other_hwm))
        for src, dst in pairs:
            self.other_model[dst] = self.model[src]
        self.other_hwm = max([self.other_hwm] + [d for _, d in pairs])

    def op_copy_other(self, s):
        v, pairs = self.copy_like(s, "COPY", self.other)
        if pairs:
            self.to_other(s, v, pairs)

    def op_move(self, s):
        v, pairs = self.copy_like(s, "MOVE", self.other)
        if pairs:
            self.to_other(s, v, pairs)
            self.remove([src for src, _ in pairs])

    def check_reported_flags(self, s, cmd, r, targets):
        """The last FETCH for a message in a command's answer must give
        the flags it really has then (RFC 9051 §6.4.5, §6.4.6)."""
        last = {}
        for u, f, _ in r.fetches:
            if u is not None and f is not None:
                last[u] = f
        for u in targets:
            if u in self.model and u in last and last[u] != self.model[u]:
                s.fail("%s: the last FETCH for UID %d in its answer said %s, "
                       "the message has %s" % (cmd, u, fmt_flags(last[u]),
                                               fmt_flags(self.model[u])))

    def no_expunge_in(self, s, cmd, r):
        """RFC 9051 §7.5.1 (and RFC 7162 §3.2.10 for VANISHED): no expunge
        while answering FETCH/STORE/SEARCH by sequence number."""
        for resp in r.untagged:
            if re.match(r"\* (\d+ EXPUNGE|VANISHED (?!\(EARLIER\)))", resp):
                s.fail("%r in the answer to %s (sequence numbers)" %
                       (resp, cmd))

    def op_fetch(self, s):
        use_uid = self.rng.random() < 0.5
        text, targets = (self.random_uid_set(s) if use_uid
                         else self.random_seq_set(s))
        items = "(UID FLAGS)" if s.mode == "plain" else "(UID FLAGS MODSEQ)"
        cmd = "%sFETCH %s %s" % ("UID " if use_uid else "", text, items)
        r = s.command(cmd, learn=False)
        self.log_op(s, "%s [uids %s] -> %s" % (cmd, format_set(targets), r))
        if r.status != "OK":
            s.fail("%s -> %s" % (cmd, r))
        if not use_uid:
            self.no_expunge_in(s, cmd, r)
        self.check_reported_flags(s, cmd, r, targets)
        s.learn_uids()

    def op_fetch_body(self, s):
        k = self.rng.randint(1, len(s.view))
        u = s.view[k - 1].uid
        use_uid = self.rng.random() < 0.5
        peek = self.rng.random() < 0.3
        item = "BODY.PEEK[]" if peek else "BODY[]"
        cmd = ("UID FETCH %d (%s)" % (u, item) if use_uid
               else "FETCH %d (%s)" % (k, item))
        r = s.command(cmd, learn=False)
        self.log_op(s, "%s [uid %d] -> %s" % (cmd, u, r))
        if r.status != "OK":
            s.fail("%s -> %s" % (cmd, r))
        if u in self.model:
            if not peek:
                # RFC 9051 §6.4.5: BODY[] sets \Seen.
                self.model[u] = self.model[u] | {"\\Seen"}
            got = [b for uu, _, b in r.fetches if uu == u and b is not None]
            if not got:
                s.fail("%s returned no body for UID %d" % (cmd, u))
            if got[-1] != self.bodies[u]:
                s.fail("%s returned another message's body for UID %d: %r" %
                       (cmd, u, got[-1][:120]))
        if not use_uid:
            self.no_expunge_in(s, cmd, r)
        self.check_reported_flags(s, cmd, r, [u])
        s.learn_uids()

    def op_noop(self, s):
        r = s.expect_ok("NOOP")
        self.log_op(s, "NOOP -> %s" % r)

    def op_idle(self, s):
        others = [t for t in self.sessions if t is not s and t.selected]
        if not others:
            self.op_noop(s)
            return
        tag = s.send_command("IDLE")
        s._fetches = []
        while True:
            resp = s.read_response()
            if resp.startswith("+"):
                break
            if not resp.startswith("* "):
                s.fail("IDLE answered %r" % resp)
            s.on_untagged(resp)
        self.log_op(s, "IDLE (+ received)")
        t = self.rng.choice(others)
        kind = self.rng.choices(
            [k for k, _ in self.KINDS if k not in self.SOLO],
            [w for k, w in self.KINDS if k not in self.SOLO])[0]
        self.do(t, kind)
        deadline = time.monotonic() + IDLE_WAIT
        while not s.converged(self.model):
            if time.monotonic() > deadline:
                s.fail("idling, the view did not catch up within %.0fs: %s "
                       "(model: %s)" % (IDLE_WAIT, s.show_view(),
                                        self.show_model()))
            s.poll(0.05)
        s.send_line("DONE")
        r = s.finish(tag)
        self.log_op(s, "DONE -> %s" % r)
        if r.status != "OK":
            s.fail("IDLE -> %s" % r)
        self.check_session(t)

    def op_offline(self, s):
        if self.rng.random() < 0.5:
            r = s.command("CLOSE", learn=False)
            gone = sorted(u for u, f in self.model.items()
                          if "\\Deleted" in f)
            self.log_op(s, "CLOSE [model \\Deleted: %s] -> %s" % (
                format_set(gone) or "none", r))
            if r.status != "OK":
                s.fail("CLOSE -> %s" % r)
            self.remove(gone)
            self.went_offline(s)
        else:
            self.unselect(s)

    def unselect(self, s):
        r = s.command("UNSELECT", learn=False)
        self.log_op(s, "UNSELECT -> %s" % r)
        if r.status != "OK":
            s.fail("UNSELECT -> %s" % r)
        self.went_offline(s)

    @staticmethod
    def went_offline(s):
        # What a QRESYNC client keeps: its view and the last HIGHESTMODSEQ
        # it was given (not the MODSEQs of FETCHes: RFC 7162 §3.2.5.2).
        s.cache = {e.uid: e.flags for e in s.view}
        s.cache_modseq = s.reported_hms
        s.view = []
        s.selected = False

    def op_reselect(self, s):
        use_q = (s.mode == "qresync" and s.cache is not None and
                 s.cache_modseq and self.rng.random() < 0.8)
        self.reselect(s, use_q, self.rng.random() < 0.5)

    def reselect(self, s, use_q, known):
        if use_q:
            self.qresync_select(s, known)
            return
        r = self.select(s)
        self.log_op(s, "SELECT %s -> %s (%d messages)" % (
            self.box, r, len(s.view)))

    def op_concurrent(self, a):
        """Another session (re)selects while this one changes the mailbox:
        a change committed while the SELECT builds its view must still
        reach it."""
        b = self.rng.choice([t for t in self.sessions if t is not a])
        if b.selected:
            self.unselect(b)
        use_q = (b.mode == "qresync" and b.cache is not None and
                 b.cache_modseq and self.rng.random() < 0.8)
        known = self.rng.random() < 0.5
        kind = self.rng.choice(("append", "append_burst", "append_burst",
                                "store", "uid_store", "copy_same", "move",
                                "fetch_body"))
        delay = self.rng.choice((0.0, 0.0005, 0.001, 0.002, 0.004))
        self.log_op(a, "CONCURRENT with %s SELECT, %s after %.1f ms:" % (
            b.label, kind, delay * 1000))
        box = {}

        def run_b():
            try:
                self.reselect(b, use_q, known)
            except BaseException as e:  # re-raised below
                box["exc"] = e

        th = threading.Thread(target=run_b, daemon=True)
        th.start()
        try:
            if delay:
                time.sleep(delay)
            self.do(a, kind)
        finally:
            th.join(60)
        if th.is_alive():
            b.fail("SELECT did not finish within 60s")
        if "exc" in box:
            raise box["exc"]
        self.check_session(b)

    def qresync_select(self, s, known):
        params = "%d %d" % (self.uidvalidity, s.cache_modseq)
        if s.cache and known:
            params += " " + format_set(s.cache)
        cmd = "SELECT %s (QRESYNC (%s))" % (self.box, params)
        s.resync = {"exists": None, "vanished": set(), "fetch": []}
        s.view = []
        s.selected = True
        try:
            r = s.command(cmd, learn=False)
            rs = s.resync
        finally:
            s.resync = None
        self.log_op(s, "%s -> %s (EXISTS %s, VANISHED (EARLIER) %s, "
                    "%d FETCH)" % (cmd, r, rs["exists"],
                                   format_set(rs["vanished"]) or "none",
                                   len(rs["fetch"])))
        if r.status != "OK":
            s.fail("%s -> %s" % (cmd, r))
        self.check_validity(s)
        if rs["exists"] is None:
            s.fail("SELECT without EXISTS")
        cache = {u: f for u, f in s.cache.items() if u not in rs["vanished"]}
        modseqs = {}
        for _, u, f, m in rs["fetch"]:
            if f is None:
                s.fail("FETCH without FLAGS during SELECT QRESYNC")
            cache[u] = f
            modseqs[u] = m
        final = sorted(cache)
        if len(final) != rs["exists"]:
            stale = sorted(set(final) - set(self.model))
            s.fail("after SELECT QRESYNC the cache (%d) minus VANISHED plus "
                   "FETCHed messages gives %d messages, EXISTS says %d%s" % (
                       len(s.cache), len(final), rs["exists"],
                       "; expunged but not in VANISHED (EARLIER): %s" %
                       format_set(stale) if stale else ""))
        for seq, u, _, _ in rs["fetch"]:
            if seq > len(final) or final[seq - 1] != u:
                s.fail("SELECT QRESYNC sent '* %d FETCH (UID %d ...)' but "
                       "that UID is message %s" % (
                           seq, u, final.index(u) + 1))
        s.view = [Entry(u, cache[u], modseqs.get(u)) for u in final]
        s.cache = None

    # ---- checks ----
    def check_session(self, s):
        if not s.selected:
            return
        r = s.command("NOOP")
        if r.status != "OK":
            s.fail("NOOP -> %s" % r)
        d = s.diff(self.model)
        if d:
            s.fail("after NOOP the view differs from the mailbox: " + d)

    def check_all(self):
        for s in self.sessions:
            self.check_session(s)

    def final_checks(self):
        for s in self.sessions:
            if not s.selected:
                self.op_reselect(s)
        self.check_all()
        fresh = self.store_state()
        if fresh[0] != self.model:
            raise ModelFailure("a fresh SELECT %s shows %s, the model is %s"
                               % (self.box, self.show(fresh[0]),
                                  self.show_model()))
        if fresh[1] != self.other_model:
            raise ModelFailure("a fresh SELECT %s shows %s, the model is %s"
                               % (self.other, self.show(fresh[1]),
                                  self.show(self.other_model)))

    def store_state(self):
        """What a new session sees in both mailboxes: {uid: flags}."""
        out = []
        s = Session(self, "chk", "plain")
        try:
            s.expect_ok("LOGIN %s \"%s\"" % (USER, PASSWORD))
            for box in (self.box, self.other):
                s.view = []
                s.selected = True
                s.expect_ok("SELECT %s" % box)
                out.append({e.uid: e.flags for e in s.view})
        finally:
            s.close()
        return out

    # ---- reporting ----
    @staticmethod
    def show(m):
        return " ".join("%d:%s" % (u, short_flags(m[u]))
                        for u in sorted(m)) or "(empty)"

    def show_model(self):
        return self.show(self.model)

    def report(self, exc):
        lines = [
            "IMAP model divergence: seed %d, operation #%s of %d" % (
                self.seed, self.op_index, self.ops),
            "  %s: %s" % (type(exc).__name__, exc) + (
                "" if isinstance(exc, ModelFailure) else
                "\n" + "".join(traceback.format_exception(
                    type(exc), exc, exc.__traceback__))),
            "  replay: CORREIO_MODEL_SEEDS=%d-%d CORREIO_MODEL_OPS=%d "
            "CORREIO_MODEL_SESSIONS=%d python3 -m unittest -v test_imap_model"
            % (self.seed, self.seed, self.ops, self.nsessions),
            "  flags: S=\\Seen F=\\Flagged D=\\Deleted k=%s" % KEYWORD,
            "last %d operations:" % len(self.oplog)]
        lines += ["  " + o for o in self.oplog]
        lines.append("model %s (%d): %s" % (self.box, len(self.model),
                                            self.show_model()))
        for s in self.sessions:
            d = s.diff(self.model) if s.selected else ""
            lines.append("%s view: %s%s" % (s.label, s.show_view(),
                                            "\n    DIFF: " + d if d else ""))
        tail = list(self.transcript)[-120:]
        whole = list(self.transcript)
        try:
            fresh = self.store_state()
            lines.append("fresh SELECT (store): %s" % self.show(fresh[0]))
            lines.append("model %s: %s ; fresh SELECT: %s" % (
                self.other, self.show(self.other_model),
                self.show(fresh[1])))
        except Exception as e:  # the server may be gone
            lines.append("fresh SELECT failed: %r" % e)
        path = os.environ.get("CORREIO_MODEL_TRANSCRIPT")
        if path:
            path = path.replace("{seed}", str(self.seed))
            with open(path, "w") as f:
                f.write("\n".join(lines + ["transcript:"] + whole) + "\n")
            lines.append("whole transcript written to %s" % path)
        lines.append("transcript (last %d lines):" % len(tail))
        lines += ["  " + t for t in tail]
        return "\n".join(lines)


class ImapModelTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(USER, PASSWORD)

    def test_random_operations_keep_every_session_consistent(self):
        for seed in SEEDS:
            with self.subTest(seed=seed):
                run = ModelRun(self.server, seed, OPS, SESSIONS)
                started = time.monotonic()
                report = run.execute()
                if report:
                    err = self.server.stderr()
                    if err.strip():
                        report += "\nserver stderr (tail):\n" + err[-3000:]
                    self.fail(report)
                if os.environ.get("CORREIO_MODEL_VERBOSE"):
                    print("seed %d: %d ops in %.1fs %s" % (
                        seed, OPS, time.monotonic() - started,
                        dict(run.counts)))


if __name__ == "__main__":
    unittest.main()
