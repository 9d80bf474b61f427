"""The servers under test, each a private instance on loopback.

correio:  the binary from a Release build, its own data dir and config.
Peers:    Postfix 3.7 (`postfix -c DIR`) delivering over LMTP to Dovecot 2.3
          (`dovecot -c FILE`), which also serves IMAP and POP3 from maildir.

Nothing system-wide is changed: every config, queue, socket, log, pid file
and mailbox lives under one temporary directory, removed at stop(). The
peers keep their shipped durability (Postfix fsyncs the queue file before
250; Dovecot LMTP and IMAP APPEND fsync with mail_fsync = optimized).

Users. Postfix must start as root (its master binds and drops privileges to
mail_owner), so the Postfix peer needs root. Dovecot runs as root or as an
ordinary user:
  * as an ordinary user, every Dovecot process and the mail files are that
    user (default_internal_user = default_login_user = mail uid = you);
  * as root, Dovecot refuses to access mail as uid 0, so the mail uid is
    `nobody`, and the internal/login users are `dovecot`/`dovenull`, the
    accounts the Debian package created (we create no system account;
    if they are missing we fall back to `nobody` for both).
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

from procstat import tree_pids

DOMAIN = "example.org"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class ServerError(RuntimeError):
    pass


def free_port():
    """A TCP port that was free a moment ago (for servers that cannot take
    port 0 and report the port back, i.e. the peers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"nothing listens on {host}:{port} after {timeout}s")


def _make_cert(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj",
         "/CN=peer.bench.test", "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    return cert, key


def count_maildir(path):
    n = 0
    for sub in ("new", "cur"):
        try:
            n += sum(1 for e in os.scandir(os.path.join(path, sub))
                     if not e.name.startswith("."))
        except FileNotFoundError:
            pass
    return n


# Dovecot log lines that are routine for a load test: a client's LOGOUT,
# and the load generator closing its sessions at the end of a run.
_ROUTINE = re.compile(r"Logged out|Login: |Connect from|Disconnect from|"
                      r"Disconnected: Connection closed \((No commands sent|"
                      r"no auth attempts|disconnected before auth)")


def log_reasons(lines, n=3):
    """The commonest non-routine log lines (warnings, errors, disconnects
    the server chose), digits and session ids folded so that one cause
    counts once, as "COUNT x TEXT", most frequent first."""
    counts = {}
    for line in lines:
        if _ROUTINE.search(line) or not re.search(
                r"Warning|Error|Fatal|Panic|Disconnected", line):
            continue
        # Drop the timestamp, then fold what differs from session to session.
        text = re.sub(r"^\w{3} \d+ [\d:]+ ", "", line.strip())
        text = re.sub(r"<[^<>]*>|\d+", "#", text)
        counts[text] = counts.get(text, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return [f"{c} x {t[:200]}" for t, c in top]


class Correio:
    """correio serve with a generated config; ports as printed at start."""

    name = "correio"
    background_delay = 2  # seconds before new mail is indexed (see below)

    def __init__(self, binary, workdir, workers=0, extra_config=""):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="correio-", dir=workdir)
        self.config = os.path.join(self.dir, "correio.toml")
        with open(self.config, "w") as f:
            f.write(f'hostname = "mail.{DOMAIN}"\n')
            f.write(f'domains = ["{DOMAIN}"]\n')
            f.write(f'data_dir = "{self.dir}/data"\n')
            f.write(f"workers = {workers}\n")
            for proto, tls in (("smtp", "none"), ("imap", "none"),
                               ("imap", "implicit"), ("pop3", "none")):
                f.write(f'[[listener]]\nprotocol = "{proto}"\n'
                        f'address = "127.0.0.1"\nport = 0\ntls = "{tls}"\n')
            # The bench opens thousands of connections from 127.0.0.1 and
            # logs in without TLS on loopback (as Dovecot allows for
            # localhost by default), so raise those two limits.
            f.write("[limits]\nmax_connections = 60000\n"
                    "max_connections_per_ip = 60000\n")
            f.write("[auth]\nallow_plaintext = true\n")
            # Index new mail 2 s after it arrives instead of the default
            # 60 s, so that the full-text indexing a scenario causes is done
            # (and its CPU counted) in that scenario's settle step (run.py
            # settle() waits out the delay first), not in the middle of the
            # next scenario. Bursts under 2 s (the quick run) are measured
            # without indexing, as with the default; longer ones (full run,
            # IMAP scenarios) index their oldest mail while they run, as a
            # server under sustained load would.
            f.write(f"[search]\nindex_delay_seconds = "
                    f"{self.background_delay}\n")
            f.write('[log]\nlevel = "warn"\n')
            f.write(extra_config + "\n")
        self.proc = None
        self.ports = {}
        self.stderr_lines = []
        self.crashes = []

    def start(self, timeout=60):
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config, "serve"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_raise_nofile)
        threading.Thread(target=self._drain, args=(self.proc.stderr,),
                         daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise ServerError("correio exited before ready: " +
                                  "".join(self.stderr_lines[-20:]))
            m = re.match(r"listening (\S+) (\S+):(\d+) tls=(\S+)", line)
            if m:
                self.ports.setdefault(m.group(1), int(m.group(3)))
            if line.strip() == "ready":
                threading.Thread(target=self._drain, args=(self.proc.stdout,),
                                 daemon=True).start()
                return self
        raise ServerError("correio did not print ready")

    def _drain(self, stream):
        for line in stream:
            self.stderr_lines.append(line)
            del self.stderr_lines[:-200]

    def port(self, proto):
        return self.ports.get(proto)

    def pids(self):
        return [self.proc.pid] if self.proc else []

    def died(self):
        return self.proc is not None and self.proc.poll() is not None

    def last_words(self):
        """The last meaningful stderr line (e.g. an abort message)."""
        time.sleep(0.1)  # let the drain thread catch up
        code = self.proc.returncode
        try:
            status = signal.Signals(-code).name if code < 0 else f"exit {code}"
        except ValueError:
            status = f"exit {code}"
        for line in reversed(self.stderr_lines):
            line = line.strip()
            if line and not line.startswith("listening") and \
                    line != "ready" and "running as root" not in line:
                return f"{status}: {line[:120]}"
        return status

    def restart(self):
        """A fresh process on the same data (for baselines)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.ports = {}
        self.stderr_lines = []
        self.start()

    def ensure_running(self):
        """Restarts (on the same data) after a crash; records the crash."""
        if self.died():
            self.crashes.append(self.last_words())
            self.ports = {}
            self.stderr_lines = []
            self.start()

    def admin(self, *args, input=None):
        r = subprocess.run([self.binary, "--config", self.config, *args],
                           input=input, capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise ServerError(f"correio {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def add_user(self, address, password):
        self.admin("user", "add", address, "--password-stdin",
                   input=password + "\n")

    def message_count(self, address):
        # Read the store directly (a read-only SQLite reader beside the
        # server's, as the admin CLI is): `correio user show` is a process
        # start per poll, which cost correio CPU and 50-100 ms of the
        # measured time in short SMTP runs. The CLI stays the fallback.
        db = os.path.join(self.dir, "data", "correio.db")
        try:
            with contextlib.closing(sqlite3.connect(
                    f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
                row = c.execute(
                    "SELECT COUNT(*) FROM messages m "
                    "JOIN mailboxes b ON b.id = m.mailbox "
                    "JOIN accounts a ON a.id = b.account "
                    "WHERE a.address = ?", (address.lower(),)).fetchone()
                return int(row[0])
        except sqlite3.Error:
            pass
        out = self.admin("user", "show", address)
        m = re.search(r"in (\d+) messages", out)
        if not m:
            raise ServerError("cannot read the message count from "
                              f"`correio user show`: {out!r}")
        return int(m.group(1))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def _user_or(name, fallback):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return pwd.getpwnam(fallback)


_HASHES = {}


def _argon2id(password):
    """The password as correio stores it: argon2id, t=2, m=64 MiB
    (src/auth/password.h), so that a LOGIN costs both servers the same
    hashing work. Made with libsodium (which Dovecot's {ARGON2ID} scheme
    verifies); {PLAIN} only if libsodium cannot be loaded."""
    if password in _HASHES:
        return _HASHES[password]
    result = "{PLAIN}" + password
    try:
        import ctypes
        import ctypes.util
        lib = ctypes.CDLL(ctypes.util.find_library("sodium") or
                          "libsodium.so.23")
        if lib.sodium_init() >= 0:
            out = ctypes.create_string_buffer(128)
            pw = password.encode()
            if lib.crypto_pwhash_argon2id_str(
                    out, pw, ctypes.c_ulonglong(len(pw)),
                    ctypes.c_ulonglong(2), ctypes.c_size_t(64 << 20)) == 0:
                result = "{ARGON2ID}" + out.value.decode()
    except OSError:
        pass
    _HASHES[password] = result
    return result


class Dovecot:
    """A private Dovecot: IMAP, IMAPS, POP3, LMTP (unix + inet) on loopback."""

    name = "dovecot"

    def __init__(self, workdir):
        self.dir = tempfile.mkdtemp(prefix="dovecot-", dir=workdir)
        os.chmod(self.dir, 0o755)
        self.run_dir = os.path.join(self.dir, "run")
        self.mail_dir = os.path.join(self.dir, "mail")
        for d in (self.run_dir, self.mail_dir, os.path.join(self.dir, "state")):
            os.makedirs(d)
            os.chmod(d, 0o755)
        self.passwd = os.path.join(self.dir, "passwd")
        open(self.passwd, "w").close()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        self.ports = {p: free_port() for p in ("imap", "imaps", "pop3",
                                                "lmtp")}
        if os.geteuid() == 0:
            mail = pwd.getpwnam("nobody")
            internal = _user_or("dovecot", "nobody").pw_name
            login = _user_or("dovenull", "nobody").pw_name
        else:
            mail = pwd.getpwuid(os.geteuid())
            internal = login = mail.pw_name
        self.mail_uid, self.mail_gid = mail.pw_uid, mail.pw_gid
        os.chown(self.mail_dir, self.mail_uid, self.mail_gid)
        cert, key = _make_cert(self.dir)
        self.lmtp_socket = os.path.join(self.run_dir, "lmtp")
        with open(self.conf, "w") as f:
            f.write(f"""# Generated by bench/servers.py: a private Dovecot on loopback.
instance_name = correio-bench-{os.getpid()}-{os.path.basename(self.dir)}
base_dir = {self.run_dir}
state_dir = {self.dir}/state
log_path = {self.log}
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {min(self.mail_uid, 500) if self.mail_uid else 1}
mail_location = maildir:{self.mail_dir}/%u
# Plaintext logins over loopback, as for correio (Dovecot already treats
# 127.0.0.1 as secured; this makes it explicit).
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={self.mail_dir}/%u allow_all_users=yes
}}
# The scale scenario's 10^6-message INBOX: with the default 256M, the imap
# process cannot map dovecot.index at about 900,000 messages ("mmap ...
# Cannot allocate memory"); Dovecot's docs say to raise it for huge
# mailboxes. A limit on address space, not on memory used.
default_vsz_limit = 2G
# The idle test keeps thousands of sessions of few users from one IP.
mail_max_userip_connections = 100000
default_process_limit = 12000
default_client_limit = 60000
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports['imap']}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ports['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.ports['pop3']}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.ports['lmtp']}
  }}
}}
service anvil {{
  client_limit = 60000
}}
service auth {{
  client_limit = 60000
}}
service log {{
  client_limit = 60000
}}
service config {{
  client_limit = 60000
}}
""")
        self.proc = None

    def start(self):
        # -F: stay in the foreground so that our child is the master.
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_raise_nofile)
        try:
            for p in ("imap", "pop3", "lmtp"):
                wait_port(self.ports[p], timeout=30)
        except ServerError:
            err = ""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            raise ServerError(f"dovecot did not start: {err} {self.log_tail()}")
        return self

    def log_tail(self, n=20):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """Where the log ends now, for log_reasons()."""
        try:
            return os.path.getsize(self.log)
        except FileNotFoundError:
            return 0

    def log_reasons(self, mark, n=3):
        """What Dovecot logged since `mark` that explains lost sessions."""
        try:
            with open(self.log, errors="replace") as f:
                f.seek(mark)
                return log_reasons(f, n)
        except FileNotFoundError:
            return []

    def port(self, proto):
        return self.ports.get(proto)

    def pids(self):
        return [self.proc.pid] if self.proc else []

    def add_user(self, address, password):
        with open(self.passwd, "a") as f:
            f.write(f"{address}:{_argon2id(password)}::::::\n")

    def maildir(self, address):
        return os.path.join(self.mail_dir, address)

    def message_count(self, address):
        return count_maildir(self.maildir(address))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            pids = tree_pids(self.pids())
            self.proc.send_signal(signal.SIGTERM)
            try:
                # The master can take tens of seconds after thousands of
                # sessions; the measurements are done, so do not wait.
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


_POSTFIX_MASTER_CF = """\
# Generated by bench/servers.py. As Debian's master.cf, without chroot (the
# private queue directory has no copy of /etc) and with smtpd on loopback.
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix (postfix -c DIR) relaying DOMAIN to Dovecot LMTP."""

    name = "postfix"

    def __init__(self, workdir, lmtp_socket):
        if os.geteuid() != 0:
            raise ServerError("the Postfix peer needs root (postfix start)")
        self.dir = tempfile.mkdtemp(prefix="postfix-", dir=workdir)
        os.chmod(self.dir, 0o755)
        self.conf_dir = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        for d in (self.conf_dir, self.queue, self.data):
            os.makedirs(d)
            os.chmod(d, 0o755)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, -1)
        self.smtp_port = free_port()
        self.log = os.path.join(self.dir, "maillog")
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(f"""# Generated by bench/servers.py: a private Postfix on loopback.
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.log}
maillog_file_prefixes = {self.dir}
myhostname = peer.bench.test
mydomain = bench.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:unix:{lmtp_socket}
""")
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(_POSTFIX_MASTER_CF.format(port=self.smtp_port))
        self.env = dict(os.environ, MAIL_CONFIG=self.conf_dir)

    def _postfix(self, *args, check=True):
        # postfix(1) reports fatal errors on stderr only when it is a tty
        # (else to syslog, absent here): give it one with script(1).
        cmd = " ".join(["postfix", "-c", self.conf_dir, *args])
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                           capture_output=True, text=True, env=self.env,
                           timeout=120)
        if check and r.returncode != 0:
            raise ServerError(f"postfix {' '.join(args)}: "
                              f"{r.stdout}{r.stderr}".strip())
        return r

    def start(self):
        self._postfix("start")
        wait_port(self.smtp_port)
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def pids(self):
        pid = self.master_pid()
        return [pid] if pid else []

    def port(self, proto):
        return self.smtp_port if proto == "smtp" else None

    def queue_size(self):
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n

    def stop(self):
        self._postfix("stop", check=False)
        deadline = time.monotonic() + 30
        while self.master_pid() and tree_pids(self.pids()) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


class PeerStack:
    """Postfix in front of Dovecot: the established servers as one stack."""

    name = "postfix+dovecot"

    def __init__(self, workdir, with_postfix=True):
        self.dovecot = Dovecot(workdir)
        self.postfix = None
        self.postfix_error = None
        if with_postfix:
            try:
                self.postfix = Postfix(workdir, self.dovecot.lmtp_socket)
            except (ServerError, KeyError, OSError) as e:
                self.postfix_error = str(e)

    def start(self):
        self.dovecot.start()
        if self.postfix:
            try:
                self.postfix.start()
            except ServerError as e:
                self.postfix_error = str(e)
                self.postfix = None
        return self

    def port(self, proto):
        if proto == "smtp":
            return self.postfix.smtp_port if self.postfix else None
        return self.dovecot.port(proto)

    def pids(self):
        return self.dovecot.pids() + (self.postfix.pids() if self.postfix
                                      else [])

    def add_user(self, address, password):
        self.dovecot.add_user(address, password)

    def message_count(self, address):
        return self.dovecot.message_count(address)

    def log_mark(self):
        return self.dovecot.log_mark()

    def log_reasons(self, mark, n=3):
        return self.dovecot.log_reasons(mark, n)

    def stop(self):
        if self.postfix:
            t = time.monotonic()
            self.postfix.stop()
            self.stop_seconds = {"postfix": time.monotonic() - t}
        t = time.monotonic()
        self.dovecot.stop()
        self.stop_seconds = dict(getattr(self, "stop_seconds", {}),
                                 dovecot=time.monotonic() - t)
