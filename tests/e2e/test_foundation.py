"""The foundation (issue 2): the binary, its listeners, TLS, the admin CLI,
config checking, signals and crash safety, against the real binary."""

import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import harness
from harness import LineClient, Server, client_tls_context

GREETING = {
    "smtp": "220 ", "submission": "220 ", "submissions": "220 ",
    "pop3": "+OK", "pop3s": "+OK", "imap": "* OK", "imaps": "* OK",
}
IMPLICIT = {"submissions", "pop3s", "imaps"}
GOODBYE = {"smtp": ("QUIT", "221"), "submission": ("QUIT", "221"),
           "submissions": ("QUIT", "221"), "pop3": ("QUIT", "+OK"),
           "pop3s": ("QUIT", "+OK"), "imap": ("a1 LOGOUT", "* BYE"),
           "imaps": ("a1 LOGOUT", "* BYE")}


def peer_cert_der(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_tls_context().wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


class ListenersTest(harness.ServerTestCase):

    def test_every_listener_greets_and_closes_politely(self):
        self.assertEqual(set(self.server.ports), set(GREETING))
        for name, prefix in GREETING.items():
            with self.subTest(listener=name):
                c = LineClient(self.server.connect(name,
                                                   tls=name in IMPLICIT))
                greeting = c.line()
                self.assertTrue(greeting.startswith(prefix), greeting)
                cmd, answer = GOODBYE[name]
                c.send(cmd + "\r\n")
                self.assertTrue(c.line().startswith(answer))
                if name.startswith("imap"):
                    self.assertTrue(c.line().startswith("a1 OK"))
                self.assertTrue(c.closed(), "server kept the connection")
                c.close()

    def test_greeting_names_the_host(self):
        c = LineClient(self.server.connect("smtp"))
        self.assertIn(self.server.hostname, c.line())
        c.close()

    def test_starttls_upgrades_each_plain_listener(self):
        # SMTP (RFC 3207), POP3 STLS (RFC 2595), IMAP STARTTLS (RFC 9051).
        import imaplib
        import poplib
        import smtplib
        ctx = client_tls_context()
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp"),
                          timeout=30) as s:
            s.ehlo("client.example")
            self.assertTrue(s.has_extn("starttls"))
            code, _ = s.starttls(context=ctx)
            self.assertEqual(code, 220)
            code, _ = s.ehlo("client.example")
            self.assertEqual(code, 250)
            self.assertFalse(s.has_extn("starttls"))
        p = poplib.POP3("127.0.0.1", self.server.port("pop3"), timeout=30)
        self.assertIn("STLS", p.capa())
        p.stls(context=ctx)
        self.assertNotIn("STLS", p.capa())
        p.quit()
        m = imaplib.IMAP4("127.0.0.1", self.server.port("imap"), timeout=30)
        self.assertIn("LOGINDISABLED", m.capabilities)
        m.starttls(ssl_context=ctx)
        m._get_capabilities()
        self.assertNotIn("LOGINDISABLED", m.capabilities)
        m.logout()

    def test_tls_is_modern(self):
        for name in ("imaps", "pop3s", "submissions"):
            with socket.create_connection(
                    ("127.0.0.1", self.server.port(name)), timeout=10) as raw:
                with client_tls_context().wrap_socket(raw) as s:
                    self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
                    # AEAD ciphers only (tls.cc).
                    self.assertRegex(s.cipher()[0], "GCM|CHACHA20")

    def test_garbage_before_and_after_handshake_does_not_hurt(self):
        # Plain text to a TLS port: the handshake fails, the server lives.
        s = self.server.connect("imaps")
        s.sendall(b"a1 LOGIN x y\r\n" * 10)
        s.settimeout(10)
        try:
            s.recv(100)
        except OSError:
            pass
        s.close()
        c = LineClient(self.server.connect("imaps", tls=True))
        self.assertTrue(c.line().startswith("* OK"))
        c.close()


class AdminCliTest(harness.ServerTestCase):
    """The admin commands work on the data directory of a running server."""

    def test_domains_users_aliases_while_running(self):
        s = self.server
        out = s.admin("domain", "add", "Second.Example").stdout
        self.assertIn("second.example", out)
        self.assertIn("second.example", s.admin("domain", "list").stdout)
        r = s.admin("domain", "add", "second.example", check=False)
        self.assertNotEqual(r.returncode, 0)

        s.add_user("Carol@Second.example", "correct horse", quota="10M")
        r = s.admin("user", "add", "carol@second.example", "--password-stdin",
                    input="x\n", check=False)
        self.assertNotEqual(r.returncode, 0, "duplicate user accepted")
        r = s.admin("user", "add", "dan@unknown.example", "--password-stdin",
                    input="x\n", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown.example", r.stderr)

        listing = s.admin("user", "list").stdout
        self.assertIn("carol@second.example", listing)
        show = s.admin("user", "show", "carol@second.example").stdout
        self.assertIn("10 MiB", show)
        for mailbox in ("INBOX", "Sent", "Drafts", "Trash", "Junk",
                        "Archive"):
            self.assertIn(mailbox, show)

        # A generated password is printed once.
        out = s.admin("user", "add", "erin@second.example").stdout
        self.assertRegex(out, r"password \S{12,}")

        s.admin("alias", "add", "team@second.example",
                "carol@second.example", "erin@second.example")
        s.admin("alias", "add", "@second.example", "carol@second.example")
        aliases = s.admin("alias", "list").stdout
        self.assertIn("team@second.example -> carol@second.example "
                      "erin@second.example", aliases)
        self.assertIn("@second.example -> carol@second.example", aliases)

        r = s.admin("domain", "remove", "second.example", check=False)
        self.assertNotEqual(r.returncode, 0, "removed a domain in use")

        s.admin("user", "passwd", "carol@second.example", "--password-stdin",
                input="battery staple\n")
        s.admin("alias", "remove", "team@second.example")
        s.admin("alias", "remove", "@second.example")
        s.admin("user", "remove", "carol@second.example")
        s.admin("user", "remove", "erin@second.example")
        self.assertNotIn("carol@", s.admin("user", "list").stdout)
        s.admin("domain", "remove", "second.example")
        self.assertNotIn("second.example", s.admin("domain", "list").stdout)

    def test_unknown_user_show_fails_clearly(self):
        r = self.server.admin("user", "show", "ghost@example.org",
                              check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ghost@example.org", r.stderr)


class ConfigCheckTest(unittest.TestCase):

    def run_bin(self, *args):
        return subprocess.run([harness.BIN, *args], capture_output=True,
                              text=True, timeout=60)

    def test_every_problem_with_its_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write('hostnme = "x"\n[limits]\nmax_line_length = 10\n'
                    '[[listener]]\nprotocol = "smtp"\nport = 99999\n')
            f.flush()
            r = self.run_bin("config", "check", f.name)
        self.assertNotEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertIn("line 1: hostnme: unknown key", out)
        self.assertIn("line 3: limits.max_line_length", out)
        self.assertIn("line 6: listener[1].port", out)

    def test_default_config_is_valid(self):
        r = self.run_bin("config", "default")
        self.assertEqual(r.returncode, 0)
        self.assertIn("[limits]", r.stdout)
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(r.stdout)
            f.flush()
            check = self.run_bin("config", "check", f.name)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_serve_refuses_a_bad_config(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write("workers = \"four\"\n")
            f.flush()
            r = self.run_bin("--config", f.name, "serve")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("workers", r.stdout + r.stderr)


class LifecycleTest(unittest.TestCase):

    def test_demo_account_and_connect_hints(self):
        with tempfile.TemporaryDirectory() as d:
            s = Server(data_dir=d)
            s.proc = None
            # --demo as `make run` uses it, on this test's free ports.
            proc = subprocess.Popen(
                [harness.BIN, "--config", s.config_path, "serve", "--demo"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines = []
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.strip() == "ready":
                    break
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0)
            text = "\n".join(lines)
            self.assertIn("demo@correio.test", text)
            self.assertIn("How to connect", text)
            self.assertIn("tls sha256", text)
            with open(os.path.join(d, "demo-credentials.txt")) as f:
                creds = f.read()
            self.assertIn("demo@correio.test", creds)
            self.assertEqual(os.stat(os.path.join(d, "demo-credentials.txt"))
                             .st_mode & 0o077, 0)
            self.assertEqual(os.stat(os.path.join(d, "tls", "key.pem"))
                             .st_mode & 0o077, 0)

    def test_sigterm_says_goodbye_to_open_sessions(self):
        with Server() as s:
            imap = LineClient(s.connect("imap"))
            imap.line()
            pop = LineClient(s.connect("pop3"))
            pop.line()
            smtp = LineClient(s.connect("smtp"))
            smtp.line()
            s.proc.send_signal(signal.SIGTERM)
            self.assertTrue(imap.line().startswith("* BYE"))
            self.assertTrue(smtp.line().startswith("421"))
            # POP3 has no unsolicited responses (RFC 1939); like Dovecot we
            # may say -ERR before closing. Either way the connection ends.
            rest = b""
            while True:
                chunk = pop.sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
            self.assertTrue(rest == b"" or rest.startswith(b"-ERR"), rest)
            self.assertEqual(s.stop(), 0)

    def test_sighup_reloads_the_certificate(self):
        with Server() as s:
            before = peer_cert_der(s.port("imaps"))
            tls_dir = os.path.join(s.data_dir, "tls")
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", "/CN=reloaded.example",
                 "-keyout", os.path.join(tls_dir, "key.pem.new"),
                 "-out", os.path.join(tls_dir, "cert.pem.new")],
                check=True, capture_output=True)
            os.replace(os.path.join(tls_dir, "key.pem.new"),
                       os.path.join(tls_dir, "key.pem"))
            os.replace(os.path.join(tls_dir, "cert.pem.new"),
                       os.path.join(tls_dir, "cert.pem"))
            s.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            after = before
            while after == before and time.monotonic() < deadline:
                time.sleep(0.1)
                after = peer_cert_der(s.port("imaps"))
            self.assertNotEqual(before, after)
            self.assertIsNone(s.proc.poll(), "SIGHUP stopped the server")

    def test_kill_9_then_restart_keeps_accounts(self):
        with tempfile.TemporaryDirectory() as d:
            s = Server(data_dir=d)
            s.start()
            s.add_user("frank@example.org", "pw-frank-1")
            s.kill()
            s.start()
            self.assertIn("frank@example.org",
                          s.admin("user", "list").stdout)
            c = LineClient(s.connect("imap"))
            self.assertTrue(c.line().startswith("* OK"))
            c.close()
            self.assertEqual(s.stop(), 0)

    def test_connection_limit_per_ip(self):
        with Server(top="", extra_config="[limits]\n"
                    "max_connections_per_ip = 2\n") as s:
            a = LineClient(s.connect("smtp"))
            b = LineClient(s.connect("smtp"))
            a.line()
            b.line()
            c = LineClient(s.connect("smtp"))
            self.assertTrue(c.line().startswith("421"))
            for x in (a, b, c):
                x.close()


if __name__ == "__main__":
    unittest.main()
