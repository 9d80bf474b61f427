"""Deterministic corpus of realistic messages for the benchmarks.

Every message is generated from a seed, so both servers receive the same
bytes. The mix is modelled on a person's INBOX:

  * 2-50 KB, log-uniform (most mail is small, some is large);
  * plain text, multipart/alternative (text + HTML), multipart/mixed with
    one or two attachments (PDF/PNG-like binary in base64, CSV as text);
  * charsets us-ascii, utf-8, iso-8859-1, windows-1252, koi8-r, shift_jis,
    with quoted-printable and base64 bodies and RFC 2047 encoded subjects
    and display names;
  * threads (In-Reply-To/References), list headers, several Received lines.

Body words come from a vocabulary; NEEDLE appears in about 1% of the
messages, so a body SEARCH for it has few hits (like a real search) but must
look at every message.

`python3 corpus.py --count 100 --out DIR` writes the messages as files.
"""

import argparse
import email.charset
import email.policy
import email.utils
import math
import os
import random
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

NEEDLE = "zanzibarquokka"
POLICY = email.policy.SMTP  # CRLF line ends, 78-column folding

_WORDS = ("meeting report invoice budget project schedule review draft "
          "quarter customer server release network update contract travel "
          "agenda minutes proposal design weekly summary feedback question "
          "answer thanks please attached document version deadline office "
          "holiday family dinner photos weekend garden music concert ticket "
          "order delivery payment account password security notice team").split()

_NAMES = [("Alice Martin", "us-ascii"), ("José Álvarez", "iso-8859-1"),
          ("Zoë Brontë", "utf-8"), ("Дмитрий Иванов", "koi8-r"),
          ("山田太郎", "shift_jis"), ("François Dupré", "windows-1252"),
          ("Bob Smith", "us-ascii"), ("Ingrid Søndergaard", "utf-8")]

_SUBJECTS = [("Weekly report", "us-ascii"), ("Réunion de lundi", "iso-8859-1"),
             ("Ügyfél ajánlat – végleges", "utf-8"),
             ("Отчёт за квартал", "koi8-r"), ("会議の議事録", "shift_jis"),
             ("Invoice for order", "us-ascii"), ("Photos from the weekend", "utf-8"),
             ("Café menu update", "windows-1252")]

_TEXTS = {
    "us-ascii": "The quick brown fox jumps over the lazy dog.",
    "iso-8859-1": "Où est la réunion? Ça commence à neuf heures, señor.",
    "windows-1252": "Prix: 25€ – « offre spéciale » jusqu’à vendredi.",
    "utf-8": "Grüße aus Zürich! Ελληνικά, 日本語 und emoji ✓.",
    "koi8-r": "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "shift_jis": "いろはにほへと ちりぬるを わかよたれそ つねならむ。",
}


def _paragraphs(rng, charset, size, needle):
    base = _TEXTS[charset]
    out, n = [], 0
    while n < size:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(20, 60))]
        if needle and not out:
            words.insert(rng.randint(0, len(words)), NEEDLE)
        para = base + " " + " ".join(words) + "."
        out.append(para)
        n += len(para.encode(charset, "replace")) + 2
    return "\n\n".join(out) + "\n"


def _text_part(rng, charset, size, needle, subtype="plain"):
    body = _paragraphs(rng, charset, size, needle)
    if subtype == "html":
        body = "<html><body>" + "".join(
            f"<p>{p}</p>\n" for p in body.split("\n\n")) + "</body></html>\n"
    part = MIMEText(body, subtype, charset)
    return part


def _addr(rng, domain):
    name, cs = rng.choice(_NAMES)
    local = "".join(c for c in name.lower() if c.isascii() and c.isalpha())
    local = local or "user%d" % rng.randint(1, 999)
    disp = Header(name, cs).encode() if cs != "us-ascii" else name
    return email.utils.formataddr((disp, f"{local}@{domain}"))


def make_message(seed, min_kb=2, max_kb=50):
    """The message with number `seed`, as CRLF bytes."""
    rng = random.Random(seed * 7919 + 17)
    target = int(math.exp(rng.uniform(math.log(min_kb * 1024),
                                      math.log(max_kb * 1024))))
    charset = rng.choice(list(_TEXTS))
    needle = rng.random() < 0.01
    kind = rng.random()
    if kind < 0.45:
        msg = _text_part(rng, charset, target - 900, needle)
    elif kind < 0.7:
        msg = MIMEMultipart(
            "alternative", boundary=f"=_alt_{seed}_{rng.getrandbits(48):012x}")
        half = max(300, (target - 1200) // 2)
        msg.attach(_text_part(rng, charset, half // 2, needle))
        msg.attach(_text_part(rng, charset, half // 2, False, "html"))
    else:
        # A fixed boundary: the same bytes in every run and for every server.
        msg = MIMEMultipart(
            "mixed", boundary=f"=_mix_{seed}_{rng.getrandbits(48):012x}")
        text_size = rng.randint(300, 2000)
        msg.attach(_text_part(rng, charset, text_size, needle))
        left = max(200, (target - text_size - 1500) * 3 // 4)  # base64 grows 4/3
        n_att = 1 if rng.random() < 0.7 else 2
        for i in range(n_att):
            size = left // n_att
            r = rng.random()
            if r < 0.4:
                data = rng.randbytes(size)
                att = MIMEApplication(b"%PDF-1.4\n" + data, "pdf")
                fname = f"report-{seed}-{i}.pdf"
            elif r < 0.7:
                data = rng.randbytes(size)
                att = MIMEImage(b"\x89PNG\r\n\x1a\n" + data, "png")
                fname = f"photo-{seed}-{i}.png"
            else:
                rows = ["date,item,amount"]
                while sum(len(x) + 1 for x in rows) < size:
                    rows.append(f"2026-{rng.randint(1,12):02d}-"
                                f"{rng.randint(1,28):02d},"
                                f"{rng.choice(_WORDS)},{rng.randint(1,9999)}")
                att = MIMEText("\n".join(rows) + "\n", "csv", "utf-8")
                fname = f"Übersicht-{seed}-{i}.csv"
            att.add_header("Content-Disposition", "attachment",
                           filename=("utf-8", "", fname) if not fname.isascii()
                           else fname)
            msg.attach(att)
    subj, scs = rng.choice(_SUBJECTS)
    if rng.random() < 0.3:
        subj = "Re: " + subj
    msg["Subject"] = Header(f"{subj} #{seed}", scs).encode() if scs != "us-ascii" \
        else f"{subj} #{seed}"
    msg["From"] = _addr(rng, rng.choice(["example.com", "mail.example.net",
                                          "corp.example"]))
    msg["To"] = _addr(rng, "example.org")
    if rng.random() < 0.3:
        msg["Cc"] = _addr(rng, "example.org")
    day = 1 + seed % 28
    msg["Date"] = email.utils.format_datetime(
        email.utils.parsedate_to_datetime(
            f"Mon, {day:02d} Nov 2026 {seed % 24:02d}:{seed % 60:02d}:00 +0000"))
    msg["Message-ID"] = f"<bench.{seed}.{rng.getrandbits(32):08x}@example.com>"
    if rng.random() < 0.3 and seed > 0:
        parent = f"<bench.{seed - 1}@example.com>"
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    if rng.random() < 0.2:
        msg["List-Id"] = "Project discussion <project.lists.example.com>"
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    received = "".join(
        f"Received: from relay{i}.example.com (relay{i}.example.com "
        f"[192.0.2.{10 + i}])\r\n\tby mx.example.org with ESMTPS id "
        f"{rng.getrandbits(40):010x}\r\n\tfor <user@example.org>; "
        f"{msg['Date']}\r\n" for i in range(rng.randint(1, 3)))
    return received.encode() + msg.as_bytes(policy=POLICY)


def small_message(seed):
    """A 1-2 KB single-part message for the scale mailboxes (10^3..10^6)."""
    rng = random.Random(seed)
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(100, 220)))
    if seed % 100 == 0:
        words += " " + NEEDLE
    return (f"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
            f"Subject: scale message {seed}\r\n"
            f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <scale.{seed}@example.com>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii"
            f"\r\n\r\n{words}\r\n").encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    total = 0
    for i in range(a.count):
        data = make_message(i)
        total += len(data)
        with open(os.path.join(a.out, f"{i:06d}.eml"), "wb") as f:
            f.write(data)
    print(f"{a.count} messages, {total / a.count / 1024:.1f} KB average")


if __name__ == "__main__":
    main()
