"""Runs the real correio binary for end-to-end tests (STYLE 24).

Each Server gets its own temporary data directory and config, listens on
kernel-chosen ports (port = 0) and is driven by real clients (Python's
smtplib/poplib/imaplib, swaks, curl, fetchmail, mbsync ...).

    with Server() as s:
        s.add_user("alice@example.org", "secret")
        smtp = smtplib.SMTP("127.0.0.1", s.port("smtp"))

CORREIO_BIN names the binary (CTest sets it). A server that crashes, or
whose stderr shows an AddressSanitizer/UBSan report, fails the test at
stop().
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("CORREIO_BIN", os.path.join(
    os.path.dirname(__file__), "..", "..", "build-test", "correio"))

DOMAIN = "example.org"

# The full listener set, each on a free port. Names are those the server
# prints: smtp, submission, submissions, pop3, pop3s, imap, imaps.
DEFAULT_LISTENERS = """
[[listener]]
protocol = "smtp"
port = 0
tls = "starttls"

[[listener]]
protocol = "submission"
port = 0
tls = "starttls"

[[listener]]
protocol = "submission"
port = 0
tls = "implicit"

[[listener]]
protocol = "pop3"
port = 0
tls = "starttls"

[[listener]]
protocol = "pop3"
port = 0
tls = "implicit"

[[listener]]
protocol = "imap"
port = 0
tls = "starttls"

[[listener]]
protocol = "imap"
port = 0
tls = "implicit"
"""

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")


def client_tls_context():
    """A client context that accepts the server's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Server:
    """A running correio with its own data directory.

    extra_config: TOML appended to the generated config (top-level keys
    must come before any table: pass them as `top`).
    """

    def __init__(self, top="", extra_config="", listeners=DEFAULT_LISTENERS,
                 data_dir=None, hostname="mail.example.org"):
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="correio-e2e-")
            data_dir = self._tmp.name
        self.data_dir = data_dir
        self.config_path = os.path.join(data_dir, "correio.toml")
        self.hostname = hostname
        with open(self.config_path, "w") as f:
            f.write(f'hostname = "{hostname}"\n')
            f.write(f'domains = ["{DOMAIN}"]\n')
            f.write(f'data_dir = "{data_dir}"\n')
            f.write("workers = 2\n")
            f.write(top + "\n")
            f.write(listeners + "\n")
            f.write(extra_config + "\n")
        self.proc = None
        self.ports = {}
        self.stdout_lines = []
        self._stderr = []

    # ---- lifecycle ----
    def start(self, timeout=60):
        self.ports = {}
        self.stdout_lines = []
        self.proc = subprocess.Popen(
            [BIN, "--config", self.config_path, "serve"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._stderr = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("correio exited before ready:\n" +
                                   self.stderr())
            line = line.rstrip("\n")
            self.stdout_lines.append(line)
            m = re.match(r"listening (\S+) (\S+):(\d+) tls=(\S+)", line)
            if m:
                name = m.group(1)
                # A second listener of the same name gets "name#2".
                key = name if name not in self.ports else name + "#2"
                self.ports[key] = int(m.group(3))
            if line == "ready":
                threading.Thread(target=self._drain_stdout,
                                 daemon=True).start()
                return self
        raise RuntimeError("correio did not print ready")

    def _drain_stdout(self):
        for line in self.proc.stdout:
            self.stdout_lines.append(line.rstrip("\n"))

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    def stderr(self):
        return "".join(self._stderr)

    def wait_stderr(self, text, timeout=10):
        """Waits until the server has logged `text`; returns its stderr.
        Its log lines reach us on a reader thread, so a line the server
        wrote before "ready" may not have arrived when start() returns."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.stderr()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Stops the server; returns its exit code. Raises on sanitizer
        reports."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError("correio did not stop within %ds" % timeout)
        time.sleep(0.05)  # let the stderr reader finish
        self.proc = None
        err = self.stderr()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                raise AssertionError("sanitizer report from correio:\n" + err)
        return code

    def kill(self):
        """SIGKILL: a crash, for durability tests; also a cleanup that
        works whether or not the server is running."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            code = self.stop()
            if exc[0] is None and code not in (0, None):
                raise AssertionError("correio exited with %s:\n%s" %
                                     (code, self.stderr()))
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    # ---- admin CLI (works while the server runs) ----
    def admin(self, *args, input=None, check=True):
        r = subprocess.run([BIN, "--config", self.config_path, *args],
                           input=input, capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("correio %s failed (%d): %s%s" %
                                 (" ".join(args), r.returncode, r.stdout,
                                  r.stderr))
        return r

    def add_user(self, address, password, quota=None):
        args = ["user", "add", address, "--password-stdin"]
        if quota:
            args += ["--quota", quota]
        self.admin(*args, input=password + "\n")

    # ---- connecting ----
    def port(self, name):
        return self.ports[name]

    def connect(self, name, tls=False, timeout=30):
        """A raw socket to a listener (TLS-wrapped when tls=True)."""
        s = socket.create_connection(("127.0.0.1", self.port(name)),
                                     timeout=timeout)
        if tls:
            s = client_tls_context().wrap_socket(s)
        return s


class LineClient:
    """A raw line-oriented client for transcript-style tests."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def closed(self):
        """True when the server closed the connection (EOF)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def starttls(self):
        self.sock = client_tls_context().wrap_socket(self.sock)
        self.buf = b""

    def close(self):
        self.sock.close()


class ServerTestCase(unittest.TestCase):
    """One server per test class (started in setUpClass)."""

    server_args = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Server(**cls.server_args)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        server = cls.server
        try:
            code = server.stop()
            if code != 0:
                raise AssertionError("correio exited with %s:\n%s" %
                                     (code, server.stderr()))
        finally:
            if server._tmp is not None:
                server._tmp.cleanup()
