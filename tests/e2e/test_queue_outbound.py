"""Outbound queue end to end: submission -> queue -> a remote SMTP server.

The remote MX is an SMTP sink of our own on loopback, reached through a
static route ([queue] routes), so the test needs neither port 25 nor DNS
(MX resolution end to end, through a DNS responder of the test's own, is
test_queue_dns.py, which reuses this file's Sink). Checks: delivery byte
for byte, 4xx then success on retry, 5xx bounce (RFC 3464) in the sender's
INBOX, restart keeps the queue, a server that drops the connection
mid-DATA gets the message again later.
"""

import poplib
import socket
import smtplib
import threading
import time
import unittest

from harness import Server, client_tls_context

PASSWORD = "s3cret-pass"


class Sink:
    """A scripted SMTP server: one thread per connection, line by line."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.rcpt_replies = {}     # address -> reply line
        self.data_replies = []     # successive end-of-data replies
        self.drop_in_data = 0      # connections to drop after 354
        # on_data_end(when, data): called with "before" once a message's data is
        # read (a true result drops the connection without a reply) and
        # "after" its reply is sent; crash tests kill the server here.
        self.on_data_end = None
        self.dsn = True            # advertise DSN (RFC 3461) in EHLO
        # Offer STARTTLS and answer it with the 220 and a forged reply in
        # the same packet (the STARTTLS response injection of CVE-2011-0411
        # turned around: a hostile server).
        self.starttls_inject = False
        self.messages = []         # (mail_line, [rcpt lines], data bytes)
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        send = lambda s: conn.sendall(s.encode() + b"\r\n")
        try:
            send("220 sink.test ESMTP")
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode()
                up = cmd.upper()
                if up.startswith("EHLO"):
                    send("250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME"
                         + ("\r\n250-DSN" if self.dsn else "")
                         + ("\r\n250-STARTTLS" if self.starttls_inject
                            else "") +
                         "\r\n250 SIZE 10000000")
                elif up.startswith("MAIL"):
                    mail, rcpts = cmd, []
                    send("250 2.1.0 ok")
                elif up.startswith("RCPT"):
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")].lower()
                    reply = self.rcpt_replies.get(addr, "250 2.1.5 ok")
                    if reply.startswith("2"):
                        rcpts.append(cmd)
                    send(reply)
                elif up.startswith("DATA"):
                    if not rcpts:
                        send("554 5.5.1 no valid recipients")
                        continue
                    send("354 go ahead")
                    with self.lock:
                        drop = self.drop_in_data > 0
                        if drop:
                            self.drop_in_data -= 1
                    if drop:
                        f.readline()
                        conn.close()
                        return
                    data = b""
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        if l.startswith(b"."):
                            l = l[1:]
                        data += l
                    hook = self.on_data_end
                    if hook and hook("before", data):
                        conn.close()
                        return
                    with self.lock:
                        reply = (self.data_replies.pop(0)
                                 if self.data_replies else "250 2.0.0 queued")
                        if reply.startswith("2"):
                            self.messages.append((mail, rcpts, data))
                    send(reply)
                    if hook:
                        hook("after", data)
                elif up.startswith("STARTTLS") and self.starttls_inject:
                    send("220 2.0.0 Ready to start TLS\r\n"
                         "250-sink.test\r\n250 AUTH PLAIN")
                elif up.startswith("RSET") or up.startswith("NOOP"):
                    send("250 2.0.0 ok")
                elif up.startswith("QUIT"):
                    send("221 2.0.0 bye")
                    return
                else:
                    send("502 5.5.2 unknown")
        except OSError:
            pass
        finally:
            conn.close()

    def wait_messages(self, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("sink got %d messages, wanted %d" %
                             (len(self.messages), n))


def config_for(sink):
    return ("[queue]\nretry_schedule = [1]\ndelay_warning_seconds = 0\n"
            'routes = { "example.net" = "127.0.0.1:%d" }\n' % sink.port)


def submit(server, to, body, sender="alice@example.org", rcpt_options=()):
    with smtplib.SMTP("127.0.0.1", server.port("submission"),
                      timeout=30) as s:
        s.starttls(context=client_tls_context())
        s.login("alice@example.org", PASSWORD)
        refused = s.sendmail(sender, to, body,
                             rcpt_options=list(rcpt_options))
        assert not refused, refused


def inbox(server):
    """The messages in alice's INBOX, as bytes (POP3 over STLS)."""
    p = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    try:
        p.stls(context=client_tls_context())
        p.user("alice@example.org")
        p.pass_(PASSWORD)
        count, _ = p.stat()
        return [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n"
                for i in range(count)]
    finally:
        try:
            p.quit()
        except Exception:
            pass


def wait_for(fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("condition not met in %ds" % timeout)


BODY = (b"From: alice@example.org\r\nTo: bob@example.net\r\n"
        b"Subject: outbound\r\n\r\n.leading dot line\r\nsecond line\r\n")


class OutboundCase(unittest.TestCase):
    """A server whose mail for example.net goes to a Sink."""

    def setUp(self):
        self.sink = Sink()
        self.server = Server(extra_config=config_for(self.sink))
        self.addCleanup(self.server._tmp.cleanup)
        self.server.start()
        self.server.add_user("alice@example.org", PASSWORD)

    def tearDown(self):
        code = self.server.stop()
        self.sink.stop()
        self.assertEqual(code, 0, self.server.stderr())


class QueueOutboundTest(OutboundCase):
    def test_delivers_to_remote(self):
        submit(self.server, ["bob@example.net"], BODY)
        (mail, rcpts, data), = self.sink.wait_messages(1)
        self.assertTrue(mail.startswith("MAIL FROM:<alice@example.org>"),
                        mail)
        self.assertEqual(rcpts, ["RCPT TO:<bob@example.net>"])
        # Byte for byte apart from the trace headers the server adds on top.
        self.assertTrue(data.endswith(BODY[BODY.index(b"Subject"):]), data)
        self.assertIn(b"\r\n\r\n.leading dot line\r\nsecond line\r\n", data)

    def test_temporary_failure_then_retry(self):
        self.sink.data_replies = ["451 4.3.0 try again later"]
        submit(self.server, ["bob@example.net"], BODY)
        self.sink.wait_messages(1)
        self.assertEqual(inbox(self.server), [])  # no bounce

    def test_permanent_failure_bounces_to_sender(self):
        self.sink.rcpt_replies["nobody@example.net"] = (
            "550 5.1.1 <nobody@example.net>: no such user")
        submit(self.server, ["nobody@example.net"], BODY)
        msgs = wait_for(lambda: inbox(self.server))
        self.assertEqual(len(msgs), 1)
        dsn = msgs[0]
        self.assertIn(b"multipart/report; report-type=delivery-status", dsn)
        self.assertIn(b"Final-Recipient: rfc822; nobody@example.net", dsn)
        self.assertIn(b"Action: failed", dsn)
        self.assertIn(b"Status: 5.1.1", dsn)
        self.assertIn(b"Diagnostic-Code: smtp; 550 5.1.1", dsn)
        self.assertIn(b"Subject: outbound", dsn)  # headers returned
        self.assertEqual(self.sink.messages, [])

    def test_drop_mid_data_is_retried(self):
        self.sink.drop_in_data = 1
        submit(self.server, ["bob@example.net"], BODY)
        (_, _, data), = self.sink.wait_messages(1)
        self.assertIn(b"second line", data)


class SuccessNotificationTest(OutboundCase):
    """RFC 3461 NOTIFY=SUCCESS: a next hop with DSN gets the NOTIFY and
    reports itself; one without gets the message and we report "relayed";
    a local delivery is reported "delivered" to a remote sender."""

    def test_next_hop_with_dsn_gets_notify_and_no_report_from_us(self):
        submit(self.server, ["bob@example.net"], BODY,
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        (_, rcpts, _), = self.sink.wait_messages(1)
        self.assertEqual(rcpts, ["RCPT TO:<bob@example.net> "
                                 "NOTIFY=SUCCESS,FAILURE"])
        # Done with it (a report would have been queued in the same
        # transaction that finished the message): nothing for alice.
        wait_for(lambda: "bob@example.net" not in
                 self.server.admin("queue", "list").stdout)
        self.assertEqual(self.server.admin("queue", "list").stdout.count(
            "alice@example.org"), 0)
        self.assertEqual(inbox(self.server), [])

    def test_next_hop_without_dsn_is_reported_relayed(self):
        self.sink.dsn = False
        submit(self.server, ["bob@example.net", "carol@example.net"], BODY,
               rcpt_options=["NOTIFY=SUCCESS"])
        self.sink.wait_messages(1)
        report, = wait_for(lambda: inbox(self.server))
        self.assertIn(b"Subject: Successful Mail Delivery Report", report)
        self.assertIn(b"Final-Recipient: rfc822; bob@example.net\r\n"
                      b"Action: relayed\r\nStatus: 2.0.0", report)
        self.assertIn(b"Final-Recipient: rfc822; carol@example.net", report)
        self.assertIn(b"Subject: outbound", report)        # the header
        self.assertNotIn(b"leading dot line", report)      # not the body

    def test_local_delivery_reported_to_remote_sender(self):
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp"),
                          timeout=30) as s:
            s.sendmail("bob@example.net", ["alice@example.org"],
                       b"Subject: for alice\r\n\r\nhello\r\n",
                       mail_options=["ENVID=env-42"],
                       rcpt_options=["NOTIFY=SUCCESS"])
        (mail, rcpts, data), = self.sink.wait_messages(1)
        self.assertTrue(mail.startswith("MAIL FROM:<>"), mail)
        self.assertEqual(rcpts[0].split()[1], "TO:<bob@example.net>")
        self.assertIn(b"Action: delivered\r\nStatus: 2.0.0", data)
        self.assertIn(b"Final-Recipient: rfc822; alice@example.org", data)
        self.assertIn(b"Original-Envelope-Id: env-42", data)
        self.assertIn(b"Subject: for alice", data)
        self.assertEqual(len(inbox(self.server)), 1)       # delivered too


class HostileNextHopTest(OutboundCase):
    def test_bytes_after_starttls_220_defer_the_message(self):
        self.sink.starttls_inject = True
        submit(self.server, ["bob@example.net"], BODY)
        out = wait_for(lambda: (lambda o: o if "data after 220" in o
                                else None)(
            self.server.admin("queue", "list").stdout), timeout=30)
        self.assertIn("bob@example.net", out)
        self.assertEqual(self.sink.messages, [])
        self.assertEqual(inbox(self.server), [])   # deferred, not bounced


class QueueRestartTest(unittest.TestCase):
    def test_queue_survives_restart(self):
        sink = Sink()
        # Deferred while the first server runs; retry far in the future.
        sink.data_replies = ["451 4.3.0 later"] * 1
        server = Server(extra_config=(
            "[queue]\nretry_schedule = [3600]\ndelay_warning_seconds = 0\n"
            'routes = { "example.net" = "127.0.0.1:%d" }\n' % sink.port))
        try:
            server.start()
            server.add_user("alice@example.org", PASSWORD)
            submit(server, ["bob@example.net"], BODY)
            wait_for(lambda: not sink.data_replies)
            self.assertEqual(sink.messages, [])
            server.kill()  # a crash, not a clean stop
            # A restart alone does not hurry the retry: it is due in an hour.
            # Make it due now, as `correio queue retry --all` does, then
            # start again: the spool survived and the message goes out.
            r = server.admin("queue", "retry", "--all", check=False)
            if r.returncode != 0:
                import sqlite3
                db = sqlite3.connect(server.data_dir + "/queue.db")
                db.execute("UPDATE recipient SET next_attempt = 0")
                db.commit()
                db.close()
            server.start()
            (_, _, data), = sink.wait_messages(1)
            self.assertIn(b"second line", data)
        finally:
            server.stop()
            sink.stop()


if __name__ == "__main__":
    unittest.main()
