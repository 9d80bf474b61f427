"""A small asyncio IMAP4rev1 client for the load generator.

Just enough protocol for benchmarking: tagged commands, responses with
literals ({n}), synchronizing and non-synchronizing (LITERAL+) literals for
APPEND, IDLE. Every command returns its tagged status and the untagged
responses; the caller times it. Responses are kept as bytes and never
parsed beyond what the benchmark needs (EXISTS counts, APPENDUID, SEARCH
hits), so the client stays cheap next to the server it measures.
"""

import asyncio
import re
import ssl
import time


class ImapError(Exception):
    pass


_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def _s(b, n=200):
    """Bytes for an error message: text, not a Python bytes repr."""
    return b[:n].decode("utf-8", "replace")


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ImapClient:
    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer
        self.n = 0
        self.caps = set()
        self.exists = None

    @classmethod
    async def connect(cls, port, host="127.0.0.1", tls=False, timeout=60):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=tls_context() if tls else None,
            limit=1 << 22), timeout)
        c = cls(reader, writer)
        greeting = await asyncio.wait_for(c.read_response_line(), timeout)
        if not greeting.startswith(b"* OK") and \
                not greeting.startswith(b"* PREAUTH"):
            raise ImapError(f"greeting: {_s(greeting)}")
        c._caps_from(greeting)
        return c

    def _caps_from(self, line):
        m = re.search(rb"\[CAPABILITY ([^\]]*)\]", line)
        if m:
            self.caps = set(m.group(1).upper().split())
        elif line.upper().startswith(b"* CAPABILITY "):
            self.caps = set(line[13:].upper().split())

    async def read_response_line(self):
        """One response line including any literals it carries."""
        parts = []
        while True:
            line = await self.r.readline()
            if not line:
                raise ImapError("connection closed by server")
            m = _LITERAL.search(line)
            if not m:
                parts.append(line.rstrip(b"\r\n"))
                return b"".join(parts)
            parts.append(line)
            parts.append(await self.r.readexactly(int(m.group(1))))

    def _tag(self):
        self.n += 1
        return b"A%d" % self.n

    async def command(self, text, literal=None, check=True):
        """Sends `text` (str or bytes, without tag and CRLF); when literal is
        given, text must end with a literal marker, which is added here.
        Returns (status line, [untagged lines])."""
        tag = self._tag()
        if isinstance(text, str):
            text = text.encode()
        untagged = []
        if literal is None:
            self.w.write(tag + b" " + text + b"\r\n")
        elif b"LITERAL+" in self.caps:
            self.w.write(tag + b" " + text + b" {%d+}\r\n" % len(literal) +
                         literal + b"\r\n")
        else:
            self.w.write(tag + b" " + text + b" {%d}\r\n" % len(literal))
            await self.w.drain()
            while True:
                line = await self.read_response_line()
                if line.startswith(b"+"):
                    break
                if line.startswith(tag + b" "):
                    raise ImapError(f"{_s(text, 60)}: {_s(line)}")
                untagged.append(line)
            self.w.write(literal + b"\r\n")
        await self.w.drain()
        while True:
            line = await self.read_response_line()
            if line.startswith(tag + b" "):
                break
            untagged.append(line)
        for u in untagged:
            self._note(u)
        self._caps_from(line)
        if check and not line[len(tag) + 1:].startswith(b"OK"):
            raise ImapError(f"{_s(text, 60)}: {_s(line)}")
        return line, untagged

    def _note(self, line):
        m = re.match(rb"\* (\d+) EXISTS", line)
        if m:
            self.exists = int(m.group(1))
        elif re.match(rb"\* \d+ EXPUNGE", line) and self.exists:
            self.exists -= 1
        elif line.upper().startswith(b"* CAPABILITY "):
            self._caps_from(line)

    async def login(self, user, password):
        # Quoted strings; the bench's credentials need no escaping.
        line, _ = await self.command(f'LOGIN "{user}" "{password}"')
        if b"[CAPABILITY" not in line:
            await self.command("CAPABILITY")
        return line

    async def select(self, mailbox="INBOX"):
        await self.command(f'SELECT "{mailbox}"')
        return self.exists or 0

    async def append(self, data, mailbox="INBOX", flags=""):
        line, _ = await self.command(f'APPEND "{mailbox}" ({flags})',
                                     literal=data)
        m = re.search(rb"\[APPENDUID \d+ (\d+)\]", line)
        return int(m.group(1)) if m else None

    async def multiappend(self, messages, mailbox="INBOX",
                          batch_bytes=4 << 20):
        """MULTIAPPEND (RFC 3502) with LITERAL+: one command, and one
        server transaction, per batch of about batch_bytes."""
        batch, size = [], 0
        for m in messages:
            batch.append(m)
            size += len(m)
            if size >= batch_bytes:
                await self._multiappend_batch(batch, mailbox)
                batch, size = [], 0
        if batch:
            await self._multiappend_batch(batch, mailbox)

    async def _multiappend_batch(self, batch, mailbox):
        tag = self._tag()
        parts = [tag + b' APPEND "%s"' % mailbox.encode()]
        for m in batch:
            parts.append(b" {%d+}\r\n" % len(m))
            parts.append(m)
        parts.append(b"\r\n")
        self.w.write(b"".join(parts))
        await self.w.drain()
        while True:
            line = await self.read_response_line()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise ImapError(f"MULTIAPPEND: {_s(line)}")
                return
            self._note(line)

    async def fill(self, messages, mailbox="INBOX"):
        """The fastest APPEND the server offers: MULTIAPPEND with LITERAL+,
        else pipelined APPENDs with LITERAL+, else one at a time."""
        if b"MULTIAPPEND" in self.caps and b"LITERAL+" in self.caps:
            await self.multiappend(messages, mailbox)
        else:
            await self.append_many(messages, mailbox)

    async def append_many(self, messages, mailbox="INBOX", window=64):
        """Pipelined APPENDs (needs LITERAL+): up to `window` in flight."""
        if b"LITERAL+" not in self.caps and b"LITERAL-" not in self.caps:
            for m in messages:
                await self.append(m, mailbox)
            return
        pending = []
        it = iter(messages)
        done = False
        while not done or pending:
            while not done and len(pending) < window:
                try:
                    data = next(it)
                except StopIteration:
                    done = True
                    break
                tag = self._tag()
                self.w.write(tag + b' APPEND "%s" {%d+}\r\n' %
                             (mailbox.encode(), len(data)) + data + b"\r\n")
                pending.append(tag)
            await self.w.drain()
            if pending:
                line = await self.read_response_line()
                tag, _, rest = line.partition(b" ")
                if tag in pending:
                    if not rest.startswith(b"OK"):
                        raise ImapError(f"APPEND: {_s(line)}")
                    pending.remove(tag)

    async def idle_start(self):
        tag = self._tag()
        self.w.write(tag + b" IDLE\r\n")
        await self.w.drain()
        while True:
            line = await self.read_response_line()
            if line.startswith(b"+"):
                self._idle_tag = tag
                return
            if line.startswith(tag + b" "):
                raise ImapError(f"IDLE: {_s(line)}")
            self._note(line)

    async def idle_done(self):
        self.w.write(b"DONE\r\n")
        await self.w.drain()
        while True:
            line = await self.read_response_line()
            if line.startswith(self._idle_tag + b" "):
                return line
            self._note(line)

    async def logout(self):
        try:
            await asyncio.wait_for(self.command("LOGOUT", check=False), 10)
        except (ImapError, asyncio.TimeoutError, ConnectionError):
            pass
        self.close()

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass


async def timed(coro):
    t = time.perf_counter()
    r = await coro
    return r, time.perf_counter() - t
