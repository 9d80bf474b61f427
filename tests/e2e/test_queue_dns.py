"""Outbound queue end to end through DNS: MX resolution against a responder
of our own.

test_queue_outbound.py reaches its sink through a static route; here
nothing is routed. correio asks a small DNS responder (stdlib only, UDP on
127.0.0.1, RFC 1035 messages built with struct) for MX, A and AAAA records
([dns] servers) and delivers to the addresses it learns, on [queue] mx_port.
Since that port is one for every MX host, each remote MX is a Sink of
test_queue_outbound.py also listening on its own loopback address
(127.0.0.N, all routed to lo on Linux) at that port.

Cases: the preferred MX refuses connections -> the next MX gets the mail;
both MX work -> the lowest preference gets it; no MX, only A -> the A
address (RFC 5321 §5.1 implicit MX); null MX (RFC 7505) -> bounced at once,
never retried; NXDOMAIN -> bounced; SERVFAIL and a silent responder ->
deferred (still queued, retried), delivered once DNS answers; through DNS
as well: 4xx then success on retry, 5xx bounce (RFC 3464) in the sender's
INBOX, a connection dropped mid-DATA delivered again. Outcomes are read
where they land: message bytes at the sink, `correio queue list`, the
sender's INBOX over POP3.
"""

import re
import socket
import struct
import threading
import time
import unittest

from harness import Server
from test_queue_outbound import (BODY, PASSWORD, Sink, inbox, submit,
                                 wait_for)

TYPE_A, TYPE_MX, TYPE_AAAA = 1, 15, 28
TYPE_NAMES = {TYPE_A: "A", TYPE_MX: "MX", TYPE_AAAA: "AAAA"}
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def encode_name(name):
    """A domain name as RFC 1035 §3.1 labels; "" or "." is the root."""
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


class DnsResponder:
    """An authoritative DNS server on a UDP port of 127.0.0.1.

    Answers from `mx` (name -> [(preference, exchange)], exchange "" for
    the null MX), `a` and `aaaa` (name -> [address text]). A name in no
    table gets NXDOMAIN; a known name without the asked type an empty
    NOERROR answer (NODATA). Names in `servfail` get SERVFAIL; queries for
    names in `silent` get no reply at all. Every query is logged as
    (name, type name) in `queries`. Answers stay far below 512 bytes, so
    nothing is truncated and no resolver falls back to TCP.
    """

    def __init__(self):
        self.mx, self.a, self.aaaa = {}, {}, {}
        self.servfail, self.silent = set(), set()
        self.queries = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped = True
        self.thread.join()
        self.sock.close()

    def count(self, name, qtype):
        with self.lock:
            return self.queries.count((name, qtype))

    def _loop(self):
        while not self.stopped:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            reply = self._answer(packet)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _answer(self, packet):
        if len(packet) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
        if flags & 0x8000 or qdcount != 1:  # a response, or not one question
            return None
        # The question: labels (queries carry no compression), type, class.
        labels, i = [], 12
        while i < len(packet) and packet[i] != 0:
            n = packet[i]
            labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        i += 1
        if i + 4 > len(packet):
            return None
        qtype, qclass = struct.unpack("!HH", packet[i:i + 4])
        question = packet[12:i + 4]  # echoed verbatim, case and all
        name = ".".join(labels).lower()
        with self.lock:
            self.queries.append((name, TYPE_NAMES.get(qtype, str(qtype))))
            if name in self.silent:
                return None
            rcode, answers = NOERROR, []
            if name in self.servfail:
                rcode = SERVFAIL
            elif name not in self.mx and name not in self.a and \
                    name not in self.aaaa:
                rcode = NXDOMAIN
            elif qtype == TYPE_MX:
                answers = [(TYPE_MX, struct.pack("!H", pref) + encode_name(ex))
                           for pref, ex in self.mx.get(name, [])]
            elif qtype == TYPE_A:
                answers = [(TYPE_A, socket.inet_pton(socket.AF_INET, ip))
                           for ip in self.a.get(name, [])]
            elif qtype == TYPE_AAAA:
                answers = [(TYPE_AAAA, socket.inet_pton(socket.AF_INET6, ip))
                           for ip in self.aaaa.get(name, [])]
        # QR, opcode 0, AA, RD copied from the query, RA; RFC 1035 §4.1.1.
        out_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        out = struct.pack("!HHHHHH", qid, out_flags, 1, len(answers), 0, 0)
        out += question
        for rtype, rdata in answers:
            # Owner: a compression pointer to the question's name (offset 12).
            out += struct.pack("!HHHIH", 0xC00C, rtype, qclass, 60,
                               len(rdata)) + rdata
        return out


def listen_also(sink, host, port):
    """Makes `sink` (listening on 127.0.0.1:<its port>) answer on host:port
    too, through its own connection handler. Returns the listening socket."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(16)

    def accept():
        while True:
            try:
                conn, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=sink._serve, args=(conn,),
                             daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return ls


def body(subject, to):
    return BODY.replace(b"bob@example.net", to.encode()).replace(
        b"Subject: outbound", b"Subject: " + subject.encode())


class QueueDnsTest(unittest.TestCase):
    def setUp(self):
        self.dns = DnsResponder()
        # The MX port: this sink's, so 127.0.0.1 at it is taken by a sink
        # no MX points to; MX hosts get 127.0.0.2 and up at the same port.
        self.unused = Sink()
        self.mx_port = self.unused.port
        self.sinks, self.listeners = [self.unused], []
        self.server = Server(extra_config=(
            "[queue]\nretry_schedule = [1]\ndelay_warning_seconds = 0\n"
            "mx_port = %d\n[dns]\nservers = [\"127.0.0.1:%d\"]\n" %
            (self.mx_port, self.dns.port)))
        self.server.start()
        self.server.add_user("alice@example.org", PASSWORD)

    def tearDown(self):
        try:
            code = self.server.stop()
        finally:
            for ls in self.listeners:
                ls.shutdown(socket.SHUT_RDWR)  # wakes its accept()
                ls.close()
            for s in self.sinks:
                s.stop()
            self.dns.stop()
            self.server._tmp.cleanup()
        self.assertEqual(code, 0, self.server.stderr())
        self.assertEqual(self.unused.messages, [])

    # ---- helpers ----
    def mx_sink(self, address):
        """A Sink reachable at address:mx_port."""
        sink = Sink()
        self.sinks.append(sink)
        self.listeners.append(listen_also(sink, address, self.mx_port))
        return sink

    def assert_refused(self, address):
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((address, self.mx_port), timeout=5)

    def queue_list(self):
        return self.server.admin("queue", "list").stdout

    def wait_queue_empty(self):
        wait_for(lambda: self.queue_list() == "queue is empty\n", timeout=30)

    def wait_pending(self, rcpt, last_error):
        """Waits until `rcpt` has been tried and deferred: still queued,
        pending, with `last_error`. Returns its attempt count."""
        pattern = re.compile(r"^    %s  pending  attempts (\d+)  next .*\n"
                             r"      last: (.*)$" % re.escape(rcpt), re.M)

        def deferred():
            m = pattern.search(self.queue_list())
            return m if m and int(m.group(1)) >= 1 else None
        m = wait_for(deferred, timeout=60)
        self.assertEqual(m.group(2), last_error)
        return int(m.group(1))

    def assert_delivered_only_to(self, sink, rcpt, subject):
        (mail, rcpts, data), = sink.wait_messages(1, timeout=30)
        self.assertTrue(mail.startswith("MAIL FROM:<alice@example.org>"),
                        mail)
        self.assertEqual(rcpts, ["RCPT TO:<%s>" % rcpt])
        sent = body(subject, rcpt)
        # Byte for byte apart from the trace headers added on top.
        self.assertTrue(data.endswith(sent[sent.index(b"Subject"):]), data)
        for other in self.sinks:
            if other is not sink:
                self.assertEqual(other.messages, [])

    def wait_bounce(self, rcpt, status):
        """The one DSN in alice's INBOX, checked as an RFC 3464 report."""
        msgs = wait_for(lambda: inbox(self.server), timeout=30)
        self.assertEqual(len(msgs), 1, msgs)
        dsn = msgs[0]
        self.assertIn(b"multipart/report; report-type=delivery-status", dsn)
        self.assertIn(b"Final-Recipient: rfc822; " + rcpt.encode(), dsn)
        self.assertIn(b"Action: failed", dsn)
        self.assertIn(b"Status: " + status.encode() + b"\r\n", dsn)
        return dsn

    # ---- MX selection ----
    def test_preferred_mx_refuses_next_mx_gets_it(self):
        self.dns.mx["fallback.test"] = [(10, "mx1.fallback.test"),
                                        (20, "mx2.fallback.test")]
        self.dns.a["mx1.fallback.test"] = ["127.0.0.2"]
        self.dns.a["mx2.fallback.test"] = ["127.0.0.3"]
        second = self.mx_sink("127.0.0.3")
        self.assert_refused("127.0.0.2")
        submit(self.server, ["bob@fallback.test"],
               body("fallback", "bob@fallback.test"))
        self.assert_delivered_only_to(second, "bob@fallback.test", "fallback")
        # mx1 was looked up (and tried) before mx2.
        q = self.dns.queries
        self.assertLess(q.index(("mx1.fallback.test", "A")),
                        q.index(("mx2.fallback.test", "A")))
        self.wait_queue_empty()
        self.assertEqual(inbox(self.server), [])

    def test_lowest_preference_gets_the_mail(self):
        # The answer lists the backup first: order comes from preference.
        self.dns.mx["order.test"] = [(20, "backup.order.test"),
                                     (5, "primary.order.test")]
        self.dns.a["primary.order.test"] = ["127.0.0.4"]
        self.dns.a["backup.order.test"] = ["127.0.0.5"]
        primary = self.mx_sink("127.0.0.4")
        backup = self.mx_sink("127.0.0.5")
        submit(self.server, ["bob@order.test"],
               body("order", "bob@order.test"))
        self.assert_delivered_only_to(primary, "bob@order.test", "order")
        self.wait_queue_empty()
        self.assertEqual(backup.messages, [])
        self.assertEqual(self.dns.count("backup.order.test", "A"), 0)

    def test_no_mx_uses_the_domain_address(self):
        # RFC 5321 §5.1: no MX records, the domain itself is the MX.
        self.dns.a["implicit.test"] = ["127.0.0.6"]
        sink = self.mx_sink("127.0.0.6")
        submit(self.server, ["bob@implicit.test"],
               body("implicit", "bob@implicit.test"))
        self.assert_delivered_only_to(sink, "bob@implicit.test", "implicit")
        q = self.dns.queries
        self.assertLess(q.index(("implicit.test", "MX")),
                        q.index(("implicit.test", "A")))
        self.wait_queue_empty()
        self.assertEqual(inbox(self.server), [])

    # ---- permanent DNS answers: bounce at once ----
    def test_null_mx_bounces_at_once(self):
        # RFC 7505: "0 ." The A record must not be used as implicit MX.
        self.dns.mx["nullmx.test"] = [(0, "")]
        self.dns.a["nullmx.test"] = ["127.0.0.7"]
        sink = self.mx_sink("127.0.0.7")
        submit(self.server, ["bob@nullmx.test"],
               body("nullmx", "bob@nullmx.test"))
        dsn = self.wait_bounce("bob@nullmx.test", "5.1.10")
        self.assertIn(b"Subject: nullmx", dsn)  # the headers come back
        self.wait_queue_empty()
        time.sleep(2)  # two retry intervals: nothing tries again
        self.assertEqual(self.dns.count("nullmx.test", "MX"), 1)
        self.assertEqual(self.dns.count("nullmx.test", "A"), 0)
        self.assertEqual(sink.messages, [])
        self.assertEqual(len(inbox(self.server)), 1)

    def test_nxdomain_bounces(self):
        submit(self.server, ["bob@nxdomain.test"],
               body("nxdomain", "bob@nxdomain.test"))
        dsn = self.wait_bounce("bob@nxdomain.test", "5.1.2")
        self.assertIn(b"Subject: nxdomain", dsn)
        self.wait_queue_empty()
        time.sleep(2)
        self.assertEqual(self.dns.count("nxdomain.test", "MX"), 1)
        self.assertEqual(len(inbox(self.server)), 1)

    # ---- transient DNS failures: defer and retry ----
    def test_servfail_defers_then_delivers(self):
        self.dns.servfail.add("servfail.test")
        submit(self.server, ["bob@servfail.test"],
               body("servfail", "bob@servfail.test"))
        self.wait_pending("bob@servfail.test",
                          "DNS lookup for servfail.test failed")
        # Retried on the schedule, never bounced.
        wait_for(lambda: self.dns.count("servfail.test", "MX") >= 3,
                 timeout=30)
        self.assertIn("bob@servfail.test  pending", self.queue_list())
        self.assertEqual(inbox(self.server), [])
        # DNS recovers: the next retry delivers.
        sink = self.mx_sink("127.0.0.8")
        with self.dns.lock:
            self.dns.a["servfail.test"] = ["127.0.0.8"]
            self.dns.servfail.discard("servfail.test")
        self.assert_delivered_only_to(sink, "bob@servfail.test", "servfail")
        self.wait_queue_empty()
        self.assertEqual(inbox(self.server), [])

    def test_silent_dns_defers_then_delivers(self):
        # No reply at all: the resolver gives up after its timeouts
        # (c-ares: 5 s, then 10 s) and the message waits in the queue.
        self.dns.silent.add("silent.test")
        submit(self.server, ["bob@silent.test"],
               body("silent", "bob@silent.test"))
        self.wait_pending("bob@silent.test",
                          "DNS lookup for silent.test failed")
        self.assertEqual(inbox(self.server), [])
        sink = self.mx_sink("127.0.0.9")
        with self.dns.lock:
            self.dns.mx["silent.test"] = [(10, "mx.silent.test")]
            self.dns.a["mx.silent.test"] = ["127.0.0.9"]
            self.dns.silent.discard("silent.test")
        self.assert_delivered_only_to(sink, "bob@silent.test", "silent")
        self.wait_queue_empty()
        self.assertEqual(inbox(self.server), [])

    # ---- the remote MX's answers, reached through DNS ----
    def test_4xx_then_success_on_retry(self):
        self.dns.mx["retry.test"] = [(10, "mx.retry.test")]
        self.dns.a["mx.retry.test"] = ["127.0.0.10"]
        sink = self.mx_sink("127.0.0.10")
        sink.data_replies = ["451 4.3.0 try again later"]
        submit(self.server, ["bob@retry.test"],
               body("retry", "bob@retry.test"))
        self.assert_delivered_only_to(sink, "bob@retry.test", "retry")
        self.assertEqual(sink.data_replies, [])  # the 451 was given
        # The retry resolved the MX again.
        self.assertGreaterEqual(self.dns.count("retry.test", "MX"), 2)
        self.wait_queue_empty()
        self.assertEqual(inbox(self.server), [])

    def test_5xx_bounces_to_sender(self):
        self.dns.mx["reject.test"] = [(10, "mx.reject.test")]
        self.dns.a["mx.reject.test"] = ["127.0.0.11"]
        sink = self.mx_sink("127.0.0.11")
        sink.rcpt_replies["nobody@reject.test"] = (
            "550 5.1.1 <nobody@reject.test>: no such user")
        submit(self.server, ["nobody@reject.test"],
               body("reject", "nobody@reject.test"))
        dsn = self.wait_bounce("nobody@reject.test", "5.1.1")
        self.assertIn(b"Remote-MTA: dns; mx.reject.test", dsn)
        self.assertIn(b"Diagnostic-Code: smtp; 550 5.1.1", dsn)
        self.assertIn(b"Subject: reject", dsn)
        self.wait_queue_empty()
        self.assertEqual(sink.messages, [])

    def test_drop_mid_data_is_retried(self):
        self.dns.mx["drop.test"] = [(10, "mx.drop.test")]
        self.dns.a["mx.drop.test"] = ["127.0.0.12"]
        sink = self.mx_sink("127.0.0.12")
        sink.drop_in_data = 1
        submit(self.server, ["bob@drop.test"], body("drop", "bob@drop.test"))
        self.assert_delivered_only_to(sink, "bob@drop.test", "drop")
        self.assertEqual(sink.drop_in_data, 0)
        self.wait_queue_empty()
        self.assertEqual(inbox(self.server), [])


if __name__ == "__main__":
    unittest.main()
