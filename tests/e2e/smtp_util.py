"""Helpers shared by the SMTP end-to-end tests."""

import re

from harness import LineClient


def inbox_count(server, address):
    """Messages in the INBOX of `address`, from `correio user show`."""
    out = server.admin("user", "show", address).stdout
    m = re.search(r"^\s+INBOX\s+(\d+) messages", out, re.M)
    if not m:
        raise AssertionError("no INBOX line in:\n" + out)
    return int(m.group(1))


class SmtpLine(LineClient):
    """LineClient that reads whole (multi-line) SMTP replies."""

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def code(self, text):
        return int(self.cmd(text)[:3])


def open_smtp(server, name="smtp", ehlo=True, tls=False):
    c = SmtpLine(server.connect(name, tls=tls))
    greeting = c.reply()
    assert greeting.startswith("220 "), greeting
    if ehlo:
        c.cmd("EHLO client.example")
    return c
