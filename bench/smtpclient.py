"""Minimal asyncio SMTP/LMTP and POP3 clients for the benchmarks.

SMTP/LMTP: one persistent session sending message after message, returning
when the server has answered the end of DATA (the moment a durable server
has committed the message). POP3: reads multi-line replies in bulk, so the
client costs little next to the server it measures.
"""

import asyncio
import time


class ProtoError(Exception):
    pass


class SmtpSession:
    def __init__(self, reader, writer, lmtp):
        self.r, self.w, self.lmtp = reader, writer, lmtp

    @classmethod
    async def open(cls, port, lmtp=False, host="127.0.0.1"):
        r, w = await asyncio.open_connection(host, port)
        s = cls(r, w, lmtp)
        await s._reply(220)
        w.write(b"LHLO bench.test\r\n" if lmtp else b"EHLO bench.test\r\n")
        await s._reply(250)
        return s

    async def _reply(self, want):
        lines = []
        while True:
            line = await self.r.readline()
            if not line:
                raise ProtoError("connection closed")
            lines.append(line)
            if line[3:4] != b"-":
                break
        code = int(lines[-1][:3])
        if code // 100 != want // 100:
            raise ProtoError(b"".join(lines).decode("utf-8", "replace")
                             .strip()[:300])
        return code

    async def send(self, sender, rcpt, data):
        """data: CRLF message without dot-stuffing. Returns the time the
        final 250 arrived (time.monotonic())."""
        body = data.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.w.write(b"MAIL FROM:<%s>\r\n" % sender.encode())
        await self._reply(250)
        self.w.write(b"RCPT TO:<%s>\r\n" % rcpt.encode())
        await self._reply(250)
        self.w.write(b"DATA\r\n")
        await self._reply(354)
        self.w.write(body + b".\r\n")
        await self._reply(250)  # LMTP: one reply per recipient (one here)
        return time.monotonic()

    async def close(self):
        try:
            self.w.write(b"QUIT\r\n")
            await asyncio.wait_for(self._reply(221), 5)
        except Exception:
            pass
        self.w.close()


class Pop3Session:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    @classmethod
    async def open(cls, port, user, password, host="127.0.0.1"):
        r, w = await asyncio.open_connection(host, port, limit=1 << 22)
        s = cls(r, w)
        await s.ok()
        await s.cmd(f"USER {user}")
        await s.cmd(f"PASS {password}")
        return s

    async def ok(self):
        line = await self.r.readline()
        if not line.startswith(b"+OK"):
            raise ProtoError(line.decode("utf-8", "replace").strip()[:300])
        return line

    async def cmd(self, text):
        self.w.write(text.encode() + b"\r\n")
        return await self.ok()

    async def multiline(self, text):
        """Sends text, returns the body of the multi-line reply (raw)."""
        await self.cmd(text)
        buf = bytearray()
        while True:
            chunk = await self.r.read(1 << 20)
            if not chunk:
                raise ProtoError("connection closed in multi-line reply")
            buf += chunk
            # The terminator is "CRLF . CRLF" (RFC 1939 §3); an empty body is
            # just ".CRLF".
            if buf.endswith(b"\r\n.\r\n") or buf == b".\r\n":
                return bytes(buf)

    async def quit(self):
        await self.cmd("QUIT")
        self.w.close()
