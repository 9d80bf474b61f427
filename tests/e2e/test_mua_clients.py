"""Real mail user agents, driven non-interactively: mutt, neomutt, s-nail.

Each test asserts what the server holds afterwards (read back with
imaplib/poplib), not only the client's exit code:
- mutt sends through submission (STARTTLS) with an attachment and an IMAP
  Fcc; neomutt through submissions (implicit TLS): BOB gets the text and
  the binary attachment intact, submitted as ESMTPSA; the Fcc copy is in
  Sent with \\Seen; a wrong password fails and delivers nothing.
- mutt (imaps) and neomutt (imap + STARTTLS) run a scripted session:
  pipe, flag, read in the pager, copy and save into folders that do not
  exist yet, delete; then reopen from their header cache after another
  client expunged, answered, flagged and added messages, and see exactly
  the server's state.
- mutt reads a pops:// mailbox and deletes one message (DELE + QUIT).
- s-nail sends through submission (8-bit body, lone dots, "From " line);
  reads, flags, copies, moves and deletes over imaps (and changes nothing
  with -R); reads and deletes over POP3 with STLS.

mutt 2.2.12 and neomutt 20220429 (Debian 12)
- Sending is true batch mode: `mutt -n -F rc -s SUBJ -a FILE -- RCPT <
  body`, no terminal needed (smtp_url, smtp_pass, ssl_starttls and
  ssl_force_tls in the rc file). Both choose AUTH SCRAM-SHA-256 (GNU SASL)
  over PLAIN on SMTP; mutt also on IMAP and POP3 (AUTH SCRAM-SHA-256 from
  CAPA's SASL line), neomutt uses AUTHENTICATE PLAIN with SASL-IR on IMAP.
- Self-signed certificate: in batch mode nobody can accept it ("Untrusted
  server certificate", exit 1). $certificate_file holding the server's
  own certificate plus ssl_verify_host=no is what works.
- Reading needs curses: without a terminal on stdin mutt silently switches
  to send mode ("No recipients specified.") even with -f. The tests run
  it under `script -qec` (util-linux, always on Debian) to give it a pty
  and script the session with `-e 'push "..."'` ending in <quit>.
- With $folder unset mutt asks "~/Mail does not exist. Create it?" at
  start-up; that yes/no prompt eats the first pushed keys up to <enter>
  (a <tag-pattern>~A<enter> silently vanished). Always set $folder.
- Pushed keys go through mutt's key parser: "^S" is Ctrl-S, so `grep
  ^Subject` in a <pipe-message> prompt fails (and then waits for a key
  despite $wait_key=no). Pipe to `cat` instead. With $pipe_split mutt
  appends $pipe_sep ("\n") after each message; set it to "".
- Tags accumulate across <tag-pattern>; <untag-pattern>~A between steps.
- <copy-message>/<save-message> to a missing folder: UID COPY, NO
  [TRYCREATE], CREATE ($confirmcreate=no), UID COPY; save then marks the
  original \\Deleted and expunges at sync. Neither client uses MOVE,
  although it is advertised.
- <pipe-message> and <display-message> both fetch BODY.PEEK[]; after the
  pager mutt sends UID STORE +FLAGS.SILENT (\\Seen) itself.
- mutt 2.2 saves the Fcc with APPEND (\\Seen) to an IMAP $record in batch
  mode; neomutt says "Fcc to an IMAP mailbox is not supported in batch
  mode", skips it and still exits 0, so its send test sets no $record.
- With $header_cache, $imap_condstore and $imap_qresync both reopen with
  SELECT (CONDSTORE) and UID FETCH 1:n (FLAGS) (CHANGEDSINCE m VANISHED)
  and fetch headers of new messages only. After an expunge elsewhere the
  server answers VANISHED (EARLIER) and the FETCHes use the current
  sequence numbers (RFC 7162 3.2.10); mutt renumbers its cached messages
  and carries on, neomutt 20220429 does not renumber for EARLIER, finds
  its cache inconsistent ("QRESYNC failed.  Reopening mailbox.") and
  fetches every header again: slower, still correct. neomutt also keeps
  the UID set and MODSEQ of when it opened the folder, not those after
  its own expunges.
- POP3: the body cache ($message_cachedir) is keyed by UIDL.

s-nail 14.9.24
- `-:/` loads no rc file, `-#` is batch mode (commands on stdin, no
  prompts), `-S v15-compat` the URL-style account syntax.
- Credentials: the user goes percent-encoded in the URL
  (smtp://alice%40example.org@127.0.0.1:PORT) but the password variable
  is looked up as password-USER@HOST:PORT with USER *not* encoded
  ("password-alice@example.org@127.0.0.1:PORT"); the encoded spelling or
  leaving the port out gives "A password is necessary for smtp
  authentication", exit 4, and the text goes to $DEAD, by default
  dead.letter in the passwd home directory (not $HOME): set DEAD.
- tls-verify=ignore for the self-signed certificate; STARTTLS through
  smtp-use-starttls / imap-use-starttls / pop3-use-starttls.
- SMTP: AUTH PLAIN; IMAP: LOGIN (plain text, over TLS) and the old
  RFC822.HEADER fetch item; POP3: USER/PASS, then LIST n and TOP n 0 for
  each message.
- IMAP `copy` to a missing folder: UID COPY, NO [TRYCREATE], CREATE, UID
  COPY again. `move` is COPY then \\Deleted (not MOVE). `print` fetches
  with BODY.PEEK and s-nail stores \\Seen itself at `quit`, where it
  pipelines its UID STOREs with CLOSE (or LOGOUT) without waiting for
  each reply; CLOSE expunges. -R opens with EXAMINE and `delete` says
  "cannot be used in read-only mailbox".
"""

import email
import email.header
import email.policy
import imaplib
import os
import poplib
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import DOMAIN, ServerTestCase, client_tls_context

ALICE = "alice@" + DOMAIN          # sends with mutt, neomutt and s-nail
BOB = "bob@" + DOMAIN              # receives what they send
MUTT = "mutt@" + DOMAIN            # mailbox mutt reads over IMAP/POP3
NEOMUTT = "neomutt@" + DOMAIN      # mailbox neomutt reads
SNAIL = "snail@" + DOMAIN          # mailbox s-nail reads
PASSWORDS = {ALICE: "alice mua secret", BOB: "bob mua secret",
             MUTT: "mutt secret", NEOMUTT: "neomutt secret",
             SNAIL: "snail secret"}
HOST = "127.0.0.1"
TIMEOUT = 40


def enc(user):
    return user.replace("@", "%40")


def message(subject, body=None, to=MUTT):
    body = body or "body of %s\r\n" % subject
    return ("From: carol@example.net\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            "Message-ID: <%s.%f@example.net>\r\n\r\n%s"
            % (to, subject, subject, time.time(), body)).encode()


class MuaClients(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for user, password in PASSWORDS.items():
            cls.server.add_user(user, password)
        cls.cert = os.path.join(cls.server.data_dir, "tls", "cert.pem")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="correio-mua-")
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.env = dict(os.environ, HOME=self.home, LC_ALL="C.UTF-8",
                        TZ="UTC")
        self.env.pop("MAIL", None)
        self.env.pop("MAILRC", None)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- server-side views ----
    def imap(self, user):
        m = imaplib.IMAP4_SSL(HOST, self.server.port("imaps"),
                              ssl_context=client_tls_context())
        m.login(user, PASSWORDS[user])
        return m

    def fresh(self, m, *names):
        for name in names:
            m.delete(name)
        self.assertEqual(m.create(names[0])[0], "OK")

    def refill_inbox(self, user, *subjects):
        """`user`'s INBOX holds exactly one message per subject."""
        m = self.imap(user)
        m.select("INBOX")
        typ, data = m.search(None, "ALL")
        if data[0]:
            m.store(b",".join(data[0].split()).decode(), "+FLAGS",
                    "(\\Deleted)")
            m.expunge()
        m.unselect()
        for s in subjects:
            self.assertEqual(m.append("INBOX", None, None,
                                      message(s, to=user))[0], "OK")
        m.logout()

    def folder(self, m, name):
        """{subject: (flags, uid, full message bytes)} of a folder."""
        typ, data = m.select(name, readonly=True)
        self.assertEqual(typ, "OK", (name, data))
        out = {}
        if data[0] != b"0":
            typ, data = m.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
            for item in data:
                if isinstance(item, tuple):
                    subj = str(email.header.make_header(
                        email.header.decode_header(re.search(
                            rb"^Subject: (.*?)\r?$", item[1],
                            re.M).group(1).decode())))
                    flags = re.search(rb"FLAGS \(([^)]*)\)",
                                      item[0]).group(1).decode().split()
                    uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                    out[subj] = (set(flags), uid, item[1])
        m.unselect()
        return out

    def received_by_bob(self, subject):
        """BOB's copy of the message with this subject, parsed."""
        m = self.imap(BOB)
        try:
            deadline = time.monotonic() + 10
            while True:
                msgs = self.folder(m, "INBOX")
                if subject in msgs or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertIn(subject, msgs)
            return email.message_from_bytes(msgs[subject][2],
                                            policy=email.policy.default)
        finally:
            m.logout()

    # ---- running clients ----
    def run_batch(self, argv, input=None):
        try:
            r = subprocess.run(argv, input=input, capture_output=True,
                               env=self.env, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail("%s timed out; stdout %r stderr %r" %
                      (argv[0], e.stdout, e.stderr))
        return r

    def run_in_pty(self, argv):
        """Runs a curses client under script(1) so that it has a
        terminal; every key comes from `push`. script's stdin is a pipe
        kept open until the end: at EOF script would type ^D into the
        terminal (delete-thread in mutt's index). Returns (exit code,
        what it drew)."""
        env = dict(self.env, TERM="vt100", COLUMNS="132", LINES="40")
        keys_r, keys_w = os.pipe()
        try:
            r = subprocess.run(["script", "-qec", shlex.join(argv),
                                "/dev/null"], stdin=keys_r,
                               capture_output=True, env=env,
                               timeout=TIMEOUT, start_new_session=True)
        except subprocess.TimeoutExpired as e:
            self.fail("%s did not finish; the screen showed:\n%s" %
                      (argv[0], screen_text(e.stdout or b"")))
        finally:
            os.close(keys_r)
            os.close(keys_w)
        return r.returncode, screen_text(r.stdout)

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def muttrc(self, name, text):
        # $tmpdir: mutt keeps the draft of a message it failed to send in
        # $tmpdir (/var/tmp by default); keep it in the test's directory.
        return self.write(name, 'set tmpdir="%s"\n' % self.tmp + text)

    # ---- mutt / neomutt: sending ----
    def mutt_send(self, binary, smtp_url, record, subject):
        attachment = os.urandom(3000) + b"\r\n.\r\nFrom x\r\n"
        att_path = os.path.join(self.tmp, "data.bin")
        with open(att_path, "wb") as f:
            f.write(attachment)
        rc = self.muttrc("muttrc", (
            'set from="%s"\nset realname="Alice Mutt"\n'
            'set smtp_url="%s"\nset smtp_pass="%s"\n'
            'set ssl_starttls=yes\nset ssl_force_tls=yes\n'
            'set ssl_verify_host=no\nset certificate_file="%s"\n'
            'set imap_pass="%s"\nset record="%s"\n'
            'set send_charset="utf-8"\n'
            % (ALICE, smtp_url, PASSWORDS[ALICE], self.cert,
               PASSWORDS[ALICE], record)))
        body = "Hello Bob,\n\nsent by %s in batch mode.\n.\nbye\n" % binary
        r = self.run_batch([binary, "-n", "-F", rc, "-s", subject, "-a",
                            att_path, "--", BOB], input=body.encode())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = self.received_by_bob(subject)
        self.assertEqual(got["From"].addresses[0].addr_spec, ALICE)
        # Submitted with authentication over TLS, as the Received line says.
        self.assertIn("ESMTPSA", got["Received"])
        parts = list(got.iter_parts())
        self.assertEqual(len(parts), 2)
        self.assertEqual(parts[0].get_content().replace("\r\n", "\n"), body)
        self.assertEqual(parts[1].get_filename(), "data.bin")
        self.assertEqual(parts[1].get_content(), attachment)
        return got, r

    @unittest.skipUnless(shutil.which("mutt"), "mutt not installed")
    def test_mutt_sends_through_submission_with_imap_fcc(self):
        m = self.imap(ALICE)
        self.fresh(m, "MuttSent")
        url = "smtp://%s@%s:%d/" % (enc(ALICE), HOST,
                                    self.server.port("submission"))
        record = "imaps://%s@%s:%d/MuttSent" % (
            enc(ALICE), HOST, self.server.port("imaps"))
        got, _ = self.mutt_send("mutt", url, record, "mutt batch send")
        # The Fcc copy: APPENDed over IMAP with \Seen, same Message-ID.
        sent = self.folder(m, "MuttSent")
        self.assertEqual(list(sent), ["mutt batch send"])
        flags, _, raw = sent["mutt batch send"]
        self.assertIn("\\Seen", flags)
        copy = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(copy["Message-ID"], got["Message-ID"])
        m.logout()

        # A wrong password: mutt fails, and nothing is delivered.
        rc = self.muttrc("muttrc-bad", (
            'set from="%s"\nset smtp_url="%s"\nset smtp_pass="wrong"\n'
            'set ssl_force_tls=yes\nset ssl_verify_host=no\n'
            'set certificate_file="%s"\nset record=""\n'
            % (ALICE, url, self.cert)))
        r = self.run_batch(["mutt", "-n", "-F", rc, "-s", "mutt bad pass",
                            BOB], input=b"x\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"authentication failed", r.stdout + r.stderr)
        b = self.imap(BOB)
        self.assertNotIn("mutt bad pass", self.folder(b, "INBOX"))
        b.logout()

    @unittest.skipUnless(shutil.which("neomutt"), "neomutt not installed")
    def test_neomutt_sends_through_submissions(self):
        url = "smtps://%s@%s:%d/" % (enc(ALICE), HOST,
                                     self.server.port("submissions"))
        self.mutt_send("neomutt", url, "", "neomutt batch send")

    # ---- mutt / neomutt: an IMAP session ----
    def mutt_imap_session(self, binary, user, scheme, port_name):
        m = self.imap(user)
        self.fresh(m, "MuaBox", "Mua/Kept", "Mua/Moved", "Mua")
        for s in ("m-one", "m-two", "m-three", "m-four"):
            self.assertEqual(
                m.append("MuaBox", None, None, message(s, to=user))[0], "OK")
        hc = os.path.join(self.tmp, "hcache")
        bc = os.path.join(self.tmp, "bodies")
        os.mkdir(hc)
        os.mkdir(bc)
        base = "%s://%s:%d/" % (scheme, HOST, self.server.port(port_name))
        rc = self.muttrc("muttrc", (
            'set imap_user="%s"\nset imap_pass="%s"\n'
            'set ssl_starttls=yes\nset ssl_force_tls=yes\n'
            'set ssl_verify_host=no\nset certificate_file="%s"\n'
            'set header_cache="%s"\nset message_cachedir="%s"\n'
            'set folder="%s"\nset spoolfile="+MuaBox"\n'
            'set imap_condstore=yes\nset imap_qresync=yes\n'
            'set confirmappend=no\nset confirmcreate=no\n'
            'set delete=yes\nset quit=yes\nset move=no\nset mark_old=no\n'
            'set wait_key=no\nset pipe_split=yes\nset pipe_sep=""\n'
            'set sort=mailbox-order\n'
            'set imap_check_subscribed=no\nset beep=no\n'
            % (user, PASSWORDS[user], self.cert, hc, bc, base)))
        piped = os.path.join(self.tmp, "piped")

        def session(keys):
            """Runs one scripted session; returns the IMAP commands and
            responses from its debug log (level 5 logs the protocol)."""
            log = os.path.join(self.tmp, "debug")
            for name in (log + "0", os.path.join(self.home, ".muttdebug0")):
                if os.path.exists(name):
                    os.unlink(name)
            argv = [binary, "-n", "-F", rc, "-d", "5"]
            if binary == "neomutt":
                argv += ["-l", log]   # neomutt appends the 0 itself
            code, screen = self.run_in_pty(
                argv + ["-f", base + "MuaBox",
                        "-e", 'push "%s<quit>"' % keys])
            self.assertEqual(code, 0, screen)
            name = log + "0" if binary == "neomutt" else os.path.join(
                self.home, ".muttdebug0")
            with open(name, errors="replace") as f:
                return [m.group(1) for m in
                        re.finditer(r" [0-9]+([<>] .*)", f.read())]

        # First session: read m-one through a pipe, flag it, read m-two
        # in the pager, copy m-two, save (move) m-three, delete m-four.
        session(
            "<tag-pattern>~s m-one<enter>"
            "<tag-prefix><pipe-message>cat > %s<enter>"
            "<tag-prefix><flag-message><untag-pattern>~A<enter>"
            "<search>~s m-two<enter><display-message><exit>"
            "<tag-pattern>~s m-two<enter>"
            "<tag-prefix><copy-message>=Mua/Kept<enter>"
            "<untag-pattern>~A<enter>"
            "<tag-pattern>~s m-three<enter>"
            "<tag-prefix><save-message>=Mua/Moved<enter>"
            "<untag-pattern>~A<enter>"
            "<delete-pattern>~s m-four<enter><sync-mailbox>" % piped)

        box = self.folder(m, "MuaBox")
        self.assertEqual(sorted(box), ["m-one", "m-two"])
        self.assertIn("\\Flagged", box["m-one"][0])
        self.assertNotIn("\\Seen", box["m-one"][0])   # a pipe peeks
        self.assertIn("\\Seen", box["m-two"][0])      # the pager reads
        with open(piped, "rb") as f:
            self.assertEqual(f.read().replace(b"\r\n", b"\n"),
                             box["m-one"][2].replace(b"\r\n", b"\n"))
        self.assertEqual(sorted(self.folder(m, "Mua/Kept")), ["m-two"])
        self.assertEqual(sorted(self.folder(m, "Mua/Moved")), ["m-three"])
        # Its caches: a header cache for the folder, and the bodies it
        # fetched under UIDVALIDITY-UID.
        typ, data = m.status("MuaBox", "(UIDVALIDITY)")
        validity = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
        cached = [n for _, _, files in os.walk(hc) for n in files]
        self.assertTrue(any(n.startswith("MuaBox") for n in cached), cached)
        bodies = [n for _, _, files in os.walk(bc) for n in files]
        self.assertIn("%d-%d" % (validity, box["m-one"][1]), bodies)

        # Elsewhere: m-one is expunged, m-two answered, m-five arrives.
        m.select("MuaBox")
        m.uid("STORE", str(box["m-one"][1]), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.uid("STORE", str(box["m-two"][1]), "+FLAGS", "(\\Answered)")
        m.unselect()
        self.assertEqual(
            m.append("MuaBox", None, None, message("m-five", to=user))[0],
            "OK")

        # Second session, from the header cache: it sees exactly that,
        # having asked only for what changed since its cached MODSEQ.
        def reopen(pattern):
            every = os.path.join(self.tmp, "every")
            matching = os.path.join(self.tmp, "matching")
            for name in (every, matching):
                if os.path.exists(name):
                    os.unlink(name)
            transcript = session(
                "<tag-pattern>~A<enter>"
                "<tag-prefix><pipe-message>cat >> %s<enter>"
                "<untag-pattern>~A<enter>"
                "<tag-pattern>%s<enter>"
                "<tag-prefix><pipe-message>cat >> %s<enter>"
                % (every, pattern, matching))
            text = "\n".join(transcript)
            self.assertRegex(text, r"UID FETCH 1:\d+ \(FLAGS\) "
                             r"\(CHANGEDSINCE \d+ VANISHED\)")
            headers = [t for t in transcript
                       if "BODY.PEEK[HEADER.FIELDS" in t]
            return (sorted(subjects_in(every)), subjects_in(matching),
                    text, headers)

        every, answered, text, headers = reopen("~Q")
        self.assertEqual(every, ["m-five", "m-two"])
        self.assertEqual(answered, ["m-two"])
        self.assertIn("VANISHED (EARLIER) %d" % box["m-one"][1], text)
        if binary == "mutt":
            # Only the new message's headers are fetched (MSN 2 now).
            self.assertEqual(len(headers), 1, text)
            self.assertRegex(headers[0], r" FETCH 2 \(")
        else:
            # neomutt 20220429 does not renumber its cached messages on
            # VANISHED (EARLIER) (RFC 7162 3.2.10 read literally), so its
            # cache no longer matches the server's numbering; its own
            # check says "QRESYNC failed.  Reopening mailbox." and it
            # refetches every header. The outcome above is still right.
            self.assertIn(len(headers), (1, 2), text)

        # Third session, no expunge in between (flags and a new message
        # only): both clients now use the cache and fetch one header.
        m.select("MuaBox")
        m.uid("STORE", str(box["m-two"][1]), "+FLAGS", "(\\Flagged)")
        m.unselect()
        self.assertEqual(
            m.append("MuaBox", None, None, message("m-six", to=user))[0],
            "OK")
        every, flagged, text, headers = reopen("~F")
        self.assertEqual(every, ["m-five", "m-six", "m-two"])
        self.assertEqual(flagged, ["m-two"])
        self.assertEqual(len(headers), 1, text)
        self.assertRegex(headers[0], r" FETCH 3 \(")
        m.logout()

    @unittest.skipUnless(shutil.which("mutt"), "mutt not installed")
    def test_mutt_imaps_session(self):
        self.mutt_imap_session("mutt", MUTT, "imaps", "imaps")

    @unittest.skipUnless(shutil.which("neomutt"), "neomutt not installed")
    def test_neomutt_imap_starttls_session(self):
        self.mutt_imap_session("neomutt", NEOMUTT, "imap", "imap")

    @unittest.skipUnless(shutil.which("mutt"), "mutt not installed")
    def test_mutt_pop3s_read_delete(self):
        self.refill_inbox(MUTT, "p-one", "p-two", "p-three")
        bc = os.path.join(self.tmp, "bodies")
        os.mkdir(bc)
        rc = self.muttrc("muttrc", (
            'set pop_pass="%s"\nset ssl_force_tls=yes\n'
            'set ssl_verify_host=no\nset certificate_file="%s"\n'
            'set message_cachedir="%s"\nset delete=yes\nset quit=yes\n'
            'set move=no\nset wait_key=no\nset pipe_split=yes\n'
            'set pipe_sep=""\nset sort=mailbox-order\nset beep=no\n'
            'set folder="%s"\n'
            % (PASSWORDS[MUTT], self.cert, bc, self.tmp)))
        every = os.path.join(self.tmp, "every")
        url = "pops://%s@%s:%d/" % (enc(MUTT), HOST,
                                    self.server.port("pop3s"))
        code, screen = self.run_in_pty(
            ["mutt", "-n", "-F", rc, "-f", url, "-e",
             'push "<tag-pattern>~A<enter>'
             '<tag-prefix><pipe-message>cat >> %s<enter>'
             '<untag-pattern>~A<enter>'
             '<delete-pattern>~s p-one<enter><quit>"' % every])
        self.assertEqual(code, 0, screen)
        self.assertEqual(sorted(subjects_in(every)),
                         ["p-one", "p-three", "p-two"], screen)
        # mutt caches POP3 bodies under their UIDL.
        p = poplib.POP3_SSL(HOST, self.server.port("pop3s"), timeout=30,
                            context=client_tls_context())
        p.user(MUTT)
        p.pass_(PASSWORDS[MUTT])
        uidls = [l.split()[1].decode() for l in p.uidl()[1]]
        left = []
        for i in range(1, p.stat()[0] + 1):
            _, lines, _ = p.top(i, 0)
            left += [l.decode()[9:] for l in lines
                     if l.startswith(b"Subject: ")]
        p.quit()
        self.assertEqual(left, ["p-two", "p-three"])
        cached = [n for _, _, files in os.walk(bc) for n in files]
        for uidl in uidls:
            self.assertIn(uidl, cached)

    # ---- s-nail ----
    def snail(self, user, port, *args, stdin=b""):
        """s-nail in batch mode: no rc file, commands on stdin."""
        argv = ["s-nail", "-:/", "-#", "-S", "v15-compat",
                "-S", "DEAD=" + os.path.join(self.tmp, "dead.letter"),
                "-S", "tls-verify=ignore", "-S", "ttycharset=utf-8",
                # Looked up with the user *not* percent-encoded.
                "-S", "password-%s@%s:%d=%s" % (user, HOST, port,
                                                PASSWORDS[user])]
        return self.run_batch(argv + list(args), input=stdin)

    @unittest.skipUnless(shutil.which("s-nail"), "s-nail not installed")
    def test_snail_sends_through_submission_starttls(self):
        port = self.server.port("submission")
        mta = "mta=smtp://%s@%s:%d" % (enc(ALICE), HOST, port)
        body = ("Grüße aus s-nail, 8 bit.\n.\n..two dots\n"
                "From the start of a line\nlast line\n")
        subject = "s-nail über submission"
        r = self.snail(ALICE, port, "-S", mta, "-S", "smtp-use-starttls",
                       "-S", "from=Alice Snail <%s>" % ALICE,
                       "-s", subject, BOB, stdin=body.encode())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = self.received_by_bob(subject)
        self.assertEqual(got["From"].addresses[0].addr_spec, ALICE)
        self.assertIn("ESMTPSA", got["Received"])
        self.assertEqual(got.get_content().replace("\r\n", "\n"), body)

        # A wrong password: a non-zero exit (4 here), "... message not
        # sent", the text kept in $DEAD (s-nail's default is dead.letter
        # in the passwd home directory, not $HOME), nothing delivered.
        dead = os.path.join(self.tmp, "dead.letter")
        argv = ["s-nail", "-:/", "-#", "-S", "v15-compat",
                "-S", "DEAD=" + dead, "-S", "tls-verify=ignore", "-S", mta,
                "-S", "smtp-use-starttls", "-S",
                "password-%s@%s:%d=wrong" % (ALICE, HOST, port),
                "-S", "from=%s" % ALICE, "-s", "s-nail bad pass", BOB]
        r = self.run_batch(argv, input=b"never sent\n")
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(b"not sent", r.stderr)
        with open(dead, "rb") as f:
            self.assertIn(b"never sent", f.read())
        b = self.imap(BOB)
        self.assertNotIn("s-nail bad pass", self.folder(b, "INBOX"))
        b.logout()

    @unittest.skipUnless(shutil.which("s-nail"), "s-nail not installed")
    def test_snail_imaps_read_flag_copy_move_delete(self):
        m = self.imap(SNAIL)
        self.fresh(m, "SnailBox", "Snail/Saved", "SnailMoved", "Snail")
        for s in ("s-one", "s-two", "s-three", "s-four"):
            self.assertEqual(m.append("SnailBox", None, None,
                                      message(s, to=SNAIL))[0], "OK")
        port = self.server.port("imaps")
        base = "imaps://%s@%s:%d" % (enc(SNAIL), HOST, port)
        args = ["-S", "folder=" + base, "-f", base + "/SnailBox"]

        # Read-only (-R: EXAMINE): listing and reading change nothing,
        # and the delete is refused.
        r = self.snail(SNAIL, port, "-R", *args,
                       stdin=b"headers\nprint 1\ndelete 2\nquit\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout.decode(errors="replace")
        for s in ("s-one", "s-two", "s-three", "s-four"):
            self.assertIn(s, out)
        self.assertIn("body of s-one", out)
        box = self.folder(m, "SnailBox")
        self.assertEqual(len(box), 4)
        for flags, _, _ in box.values():
            self.assertEqual(flags, set())

        # Read-write: read s-one, flag s-three, copy s-one into a folder
        # that does not exist yet, move s-two, delete s-four.
        r = self.snail(SNAIL, port, *args, stdin=(
            b"print 1\nflag 3\ncopy 1 +Snail/Saved\nmove 2 +SnailMoved\n"
            b"delete 4\nquit\n"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(b"body of s-one", r.stdout)
        box = self.folder(m, "SnailBox")
        self.assertEqual(sorted(box), ["s-one", "s-three"])
        self.assertEqual(box["s-one"][0], {"\\Seen"})
        self.assertEqual(box["s-three"][0], {"\\Flagged"})
        self.assertEqual(list(self.folder(m, "Snail/Saved")), ["s-one"])
        self.assertEqual(list(self.folder(m, "SnailMoved")), ["s-two"])
        m.logout()

    @unittest.skipUnless(shutil.which("s-nail"), "s-nail not installed")
    def test_snail_pop3_stls_read_delete(self):
        self.refill_inbox(SNAIL, "p-one", "p-two", "p-three")
        port = self.server.port("pop3")
        r = self.snail(SNAIL, port, "-S", "pop3-use-starttls", "-f",
                       "pop3://%s@%s:%d" % (enc(SNAIL), HOST, port),
                       stdin=b"headers\nprint 2\ndelete 1\nquit\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout.decode(errors="replace")
        for s in ("p-one", "p-two", "p-three"):
            self.assertIn(s, out)
        self.assertIn("body of p-two", out)
        # DELE 1 then QUIT: the server keeps the other two.
        p = poplib.POP3_SSL(HOST, self.server.port("pop3s"), timeout=30,
                            context=client_tls_context())
        p.user(SNAIL)
        p.pass_(PASSWORDS[SNAIL])
        left = []
        for i in range(1, p.stat()[0] + 1):
            _, lines, _ = p.top(i, 0)
            left += [l.decode()[9:] for l in lines
                     if l.startswith(b"Subject: ")]
        p.quit()
        self.assertEqual(left, ["p-two", "p-three"])


def screen_text(raw):
    """What a curses client drew, without escape sequences."""
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-B]|\x1b[=>]|"
                  r"[\x0e\x0f\x07]", "", text)
    return text.replace("\r", "\n")


def subjects_in(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return [s.decode() for s in
                re.findall(rb"^Subject: (.*?)\r?$", f.read(), re.M)]


if __name__ == "__main__":
    unittest.main()
