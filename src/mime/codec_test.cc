// The public decoding helpers and the address parser (through Parse).
#include <glib.h>
#include <gtest/gtest.h>

#include "mime/message.h"
#include "mime/mime_internal.h"

namespace correio::mime {
namespace {

TEST(MimeCodec, DecodeTransferIdentityEncodings) {
  for (std::string_view enc : {"", "7bit", "8BIT", "binary", " 7bit "}) {
    auto r = DecodeTransfer("a\r\nb", enc);
    ASSERT_TRUE(r.has_value()) << enc;
    EXPECT_EQ(*r, "a\r\nb");
  }
  auto bad = DecodeTransfer("x", "x-uuencode");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalid);
}

// Valid text comes back unchanged and invalid octets become U+FFFD, at any
// position relative to the 8-octet ASCII scan; NUL is kept.
TEST(MimeCodec, MakeValidUtf8) {
  using internal::MakeValidUtf8;
  const std::string kBad = "\xff", kRepl = "\xef\xbf\xbd";
  for (size_t prefix = 0; prefix < 20; ++prefix) {
    std::string ascii(prefix, 'a');
    EXPECT_EQ(MakeValidUtf8(ascii), ascii);
    std::string utf8 = ascii + "caf\xc3\xa9 \xe2\x82\xac" + ascii;
    EXPECT_EQ(MakeValidUtf8(utf8), utf8) << prefix;
    EXPECT_EQ(MakeValidUtf8(ascii + kBad + "z"), ascii + kRepl + "z") << prefix;
    // A sequence cut short by the end, and one cut by ASCII (one U+FFFD
    // per octet, as g_utf8_make_valid does).
    EXPECT_EQ(MakeValidUtf8(ascii + "\xc3"), ascii + kRepl) << prefix;
    EXPECT_EQ(MakeValidUtf8(ascii + "\xe2\x82z"), ascii + kRepl + kRepl + "z")
        << prefix;
    std::string with_nul = ascii + std::string(1, '\0') + "b";
    EXPECT_EQ(MakeValidUtf8(with_nul), with_nul) << prefix;
  }
}

TEST(MimeCodec, Base64) {
  EXPECT_EQ(*DecodeTransfer("SGVsbG8s\r\nIHdvcmxk\r\nIQ==\r\n", "base64"),
            "Hello, world!");
  EXPECT_EQ(*DecodeTransfer("", "base64"), "");
  EXPECT_EQ(*DecodeTransfer("AA==", "base64"), std::string(1, '\0'));
  EXPECT_FALSE(DecodeTransfer("SGVs*bG8=", "base64").has_value());
  EXPECT_FALSE(DecodeTransfer("SGk=SGk=", "base64").has_value());
}

// Every octet value, every length mod 3, and every way a quantum can be
// cut by a line end, whitespace or (lenient) junk: the four-at-a-time
// path and the character loop must hand over at any point.
TEST(MimeCodec, Base64AcrossLineEndsAndJunk) {
  using internal::DecodeTransferLenient;
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 7 % 256));
  for (size_t len : {0u, 1u, 2u, 3u, 4u, 5u, 57u, 58u, 59u, 300u}) {
    std::string want = data.substr(0, len);
    gchar* enc = g_base64_encode(reinterpret_cast<const guchar*>(want.data()),
                                 want.size());
    std::string encoded(enc);
    g_free(enc);
    for (size_t every : {1u, 3u, 4u, 5u, 76u}) {
      std::string wrapped, junk;
      for (size_t i = 0; i < encoded.size(); ++i) {
        wrapped += encoded[i];
        junk += encoded[i];
        if ((i + 1) % every == 0) {
          wrapped += i % 2 ? "\r\n" : " \t";
          junk += "*";
        }
      }
      EXPECT_EQ(*DecodeTransfer(wrapped, "base64"), want)
          << len << "/" << every;
      EXPECT_EQ(DecodeTransferLenient(wrapped, "base64"), want)
          << len << "/" << every;
      EXPECT_EQ(DecodeTransferLenient(junk, "base64"), want)
          << len << "/" << every;
    }
  }
  // Lenient: what follows the padding starts a new quantum.
  EXPECT_EQ(DecodeTransferLenient("SGk=SGk=", "base64"), "HiHi");
  EXPECT_EQ(DecodeTransferLenient("SGk=\r\nSGVsbG8=", "base64"), "HiHello");
  EXPECT_EQ(DecodeTransferLenient("SGVs*bG8=", "base64"), "Hello");
  // A quantum cut short at the end gives the octets it holds.
  EXPECT_EQ(DecodeTransferLenient("SGVsbG8", "base64"), "Hello");
}

TEST(MimeCodec, QuotedPrintable) {
  // RFC 2045 §6.7: soft breaks, trailing whitespace, bad escapes kept.
  EXPECT_EQ(*DecodeTransfer("a=3Db=\r\nc  \r\nd=\nx=ZZ=4", "Quoted-Printable"),
            "a=bc\r\nd"
            "x=ZZ=4");
  EXPECT_EQ(*DecodeTransfer("caf=c3=a9", "quoted-printable"), "café");
  EXPECT_EQ(*DecodeTransfer("end=", "quoted-printable"), "end");
}

TEST(MimeCodec, DecodeHeaderValue) {
  EXPECT_EQ(DecodeHeaderValue("plain"), "plain");
  EXPECT_EQ(DecodeHeaderValue("=?utf-8?q?a_b?= =?utf-8?q?c?="), "a bc");
  EXPECT_EQ(DecodeHeaderValue("=?UTF-8?B?w6k=?=\r\n =?UTF-8?B?w6k=?="), "éé");
  EXPECT_EQ(DecodeHeaderValue("=?iso-8859-15?q?=A4?="), "€");
  // Raw 8-bit that is not UTF-8 still comes out as valid UTF-8.
  EXPECT_EQ(DecodeHeaderValue("caf\xe9"), "café");
  std::string bogus = DecodeHeaderValue("=?bogus-charset?q?x=FF?= \xff");
  EXPECT_EQ(ConvertToUtf8(bogus, "utf-8"), bogus);  // already valid
  // Unknown charsets keep the words as written (nothing silently lost).
  EXPECT_EQ(bogus, "=?bogus-charset?q?x=FF?= \u00ff");
}

TEST(MimeCodec, DecodeHeaderValueEdgeCases) {
  // RFC 2047 §6.2: only whitespace between words is dropped.
  EXPECT_EQ(DecodeHeaderValue("=?utf-8?q?a?= b =?utf-8?q?c?="), "a b c");
  EXPECT_EQ(DecodeHeaderValue("x =?utf-8?q?a?=\r\n\t=?iso-8859-1?q?=E9?= y"),
            "x a\u00e9 y");
  // A multibyte character split across two words of one charset.
  EXPECT_EQ(DecodeHeaderValue("=?utf-8?b?w6k=?= =?utf-8?b?4oKs?="),
            "\u00e9\u20ac");
  EXPECT_EQ(DecodeHeaderValue("=?utf-8?q?=C3?= =?utf-8?q?=A9?="), "\u00e9");
  // RFC 2231 §5 language suffix; lower-case encoding letter.
  EXPECT_EQ(DecodeHeaderValue("=?US-ASCII*EN?q?Keith_Moore?="), "Keith Moore");
  // Malformed words stay literal.
  for (std::string_view s : {"=?utf-8?x?abc?=", "=?utf-8?q?abc", "=??q?abc?=",
                             "=?utf-8?q?a", "=?", "a =?utf-8 q?x?= b"}) {
    EXPECT_EQ(DecodeHeaderValue(s), s);
  }
  // Pathological input stays linear and bounded.
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "=?a?q?";
  EXPECT_EQ(DecodeHeaderValue(many), many);
}

TEST(MimeCodec, ConvertToUtf8) {
  EXPECT_EQ(ConvertToUtf8("caf\xe9", "ISO-8859-1"), "café");
  EXPECT_EQ(ConvertToUtf8("\x93hi\x94", "windows-1252"), "\u201chi\u201d");
  EXPECT_EQ(ConvertToUtf8("\x1b$B$H$$$k\x1b(B", "iso-2022-jp"), "といる");
  // Invalid input never yields invalid output.
  EXPECT_EQ(ConvertToUtf8("a\xff"
                          "b",
                          "utf-8"),
            "a\uFFFD"
            "b");
  EXPECT_EQ(ConvertToUtf8("a\xff"
                          "b",
                          "no-such-charset"),
            "a\uFFFD"
            "b");
  EXPECT_EQ(ConvertToUtf8("\x82\xa0", "shift_jis"), "あ");
  std::string half = ConvertToUtf8("ok\x82", "shift_jis");
  EXPECT_EQ(half, "ok\uFFFD");
}

TEST(MimeCodec, ParseDate) {
  EXPECT_EQ(ParseDate("Thu, 01 Jan 1970 00:00:00 +0000"), 0);
  EXPECT_EQ(ParseDate("Mon, 7 Feb 1994 21:52:25 -0800 (PST)"), 760686745);
  EXPECT_EQ(ParseDate("7 Feb 1994 21:52:25 -0800"), 760686745);
  EXPECT_EQ(ParseDate("Tue, 01 Aug 2023 18:00:00 -0400"), 1690927200);
  EXPECT_FALSE(ParseDate("not a date").has_value());
  EXPECT_FALSE(ParseDate("").has_value());
}

TEST(MimeCodec, ParseDateTimeObsoleteForms) {
  // RFC 5322 §4.3: zone names, 2- and 3-digit years, no seconds, comments.
  EXPECT_EQ(ParseDateTime("7 Feb 94 21:52 PST"),
            (DateTime{760686720, -8 * 60}));
  EXPECT_EQ(ParseDateTime("Mon,7 Feb 1994 (a (nested) comment) 21 : 52 : 25 "
                          "\r\n -0800"),
            (DateTime{760686745, -8 * 60}));
  EXPECT_EQ(ParseDateTime("Mon, 07 Feb 1994 21:52:25 GMT"),
            (DateTime{760657945, 0}));
  EXPECT_EQ(ParseDateTime("Tue, 1 Aug 2023 18:00:00 +0530"),
            (DateTime{1690893000, 330}));
  EXPECT_EQ(ParseDate("01 Jan 49 00:00:00 +0000"), 2493072000);  // 2049
  EXPECT_EQ(ParseDate("01 Jan 50 00:00:00 +0000"), -631152000);  // 1950
  EXPECT_EQ(ParseDate("1 Jan 105 00:00 UT"), 1104537600);        // 2005
  EXPECT_EQ(ParseDate("1 Jan 1900 00:00 +0000"), -2208988800);
  // Missing zone and military zones carry no information: -0000.
  EXPECT_EQ(ParseDateTime("Sun, 1 Jan 2023 10:00:00"),
            (DateTime{1672567200, 0}));
  EXPECT_EQ(ParseDateTime("Sun, 1 Jan 2023 10:00:00 A"),
            (DateTime{1672567200, 0}));
  // A leap second is accepted (RFC 5322 §3.3) and folded onto :59.
  EXPECT_EQ(ParseDate("31 Dec 2016 23:59:60 +0000"), 1483228799);
  EXPECT_EQ(ParseDate("29 Feb 2024 12:00:00 +0000"), 1709208000);
  EXPECT_FALSE(ParseDate("29 Feb 2023 12:00:00 +0000").has_value());
  EXPECT_FALSE(ParseDate("Mon, 31 Feb 2023 10:00:00 +0000").has_value());
  EXPECT_FALSE(ParseDate("Mon, 1 Jan 2023 25:00:00 +0000").has_value());
  EXPECT_FALSE(ParseDate("1 Jan 2023 10:00:00 +0960").has_value());
  EXPECT_FALSE(ParseDate("1 Foo 2023 10:00:00 +0000").has_value());
  EXPECT_FALSE(ParseDate("1 Jan 2023").has_value());
  EXPECT_FALSE(ParseDate(std::string(5000, '1')).has_value());
}

TEST(MimeCodec, FindHeadersHandlesFolding) {
  std::string_view block =
      "Received: from a\r\n\tby b\r\n"
      "Subject: one\r\n"
      "received: from c\r\n"
      "X-Empty:\r\n"
      "\r\n"
      "Received: in the body, not a header\r\n";
  auto r = FindHeaders(block, "RECEIVED");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], "from a\r\n\tby b");
  EXPECT_EQ(UnfoldHeaderValue(r[0]), "from a\tby b");
  EXPECT_EQ(FindUnfoldedHeaders(block, "received"),
            (std::vector<std::string>{"from a\tby b", "from c"}));
  EXPECT_EQ(r[1], "from c");
  auto e = FindHeaders(block, "x-empty");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "");
  EXPECT_TRUE(FindHeaders(block, "Subj").empty());
  // Bare LF and a header block without the blank line.
  auto lf = FindHeaders("A: 1\nB: 2\n c\nA: 3", "a");
  ASSERT_EQ(lf.size(), 2u);
  EXPECT_EQ(lf[1], "3");
  EXPECT_EQ(FindHeaders("A: 1\nB: 2\n c\nA: 3", "b")[0], "2\n c");
}

Envelope EnvelopeOf(std::string_view header) {
  auto s = Parse(std::string(header) + "\r\n\r\n");
  EXPECT_TRUE(s.has_value());
  return s ? s->envelope : Envelope{};
}

TEST(MimeAddress, Forms) {
  auto to = EnvelopeOf(
                "To: \"Doe, John\" <john@x.org>, plain@y.org, <angle@z.org>,"
                " =?utf-8?q?J=C3=B6rg?= Q. Public <jq@w.org>,"
                " \"quoted local\"@q.org, nodomain, @route,@r2:routed@h.org,"
                " <ip@[192.0.2.1]>, (comment only) c@d.org")
                .to;
  ASSERT_EQ(to.size(), 9u);
  EXPECT_EQ(to[0], (Address{"Doe, John", "john", "x.org"}));
  EXPECT_EQ(to[1], (Address{std::nullopt, "plain", "y.org"}));
  EXPECT_EQ(to[2], (Address{std::nullopt, "angle", "z.org"}));
  EXPECT_EQ(to[3], (Address{"=?utf-8?q?J=C3=B6rg?= Q. Public", "jq", "w.org"}));
  EXPECT_EQ(to[4], (Address{std::nullopt, "quoted local", "q.org"}));
  EXPECT_EQ(to[5], (Address{std::nullopt, "nodomain", ""}));
  // "@route,@r2:routed@h.org" without angle brackets is junk; we get
  // something sane (no crash, bounded), and the list resynchronises.
  // Read as route + addr-spec: one address, the list goes on in step.
  EXPECT_EQ(to[6], (Address{std::nullopt, "routed", "h.org"}));
  EXPECT_EQ(to[7], (Address{std::nullopt, "ip", "[192.0.2.1]"}));
  EXPECT_EQ(to[8], (Address{"comment only", "c", "d.org"}));
}

TEST(MimeAddress, RouteInAngleAddrAndGroups) {
  auto e = EnvelopeOf(
      "From: Routed <@a.net,@b.net:user@host.net>\r\n"
      "Sender: \r\n"
      "Reply-To: r@x.org\r\n"
      "Bcc: Empty Group:;, Team: a@t.org, b@t.org");
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_EQ(e.from[0],
            (Address{"Routed", "user", "host.net", "@a.net,@b.net"}));
  EXPECT_EQ(e.sender, e.from);  // empty Sender -> From
  ASSERT_EQ(e.reply_to.size(), 1u);
  EXPECT_EQ(e.reply_to[0].mailbox, "r");
  ASSERT_EQ(e.bcc.size(), 6u);
  EXPECT_EQ(e.bcc[0], (Address{std::nullopt, "Empty Group", std::nullopt}));
  EXPECT_EQ(e.bcc[1], Address{});
  EXPECT_EQ(e.bcc[2], (Address{std::nullopt, "Team", std::nullopt}));
  EXPECT_EQ(e.bcc[4].mailbox, "b");
  EXPECT_EQ(e.bcc[5], Address{});  // unterminated group is closed
}

TEST(MimeAddress, Unbalanced) {
  for (std::string_view v :
       {"<", ">", "\"", "(", "a@", "@", ":", ";", ",,,", "<a@b", "\"x\\",
        "a (b (c) d", "G: <x@y", "[", "\\"}) {
    auto e = EnvelopeOf("To: " + std::string(v));
    EXPECT_LE(e.to.size(), 4u) << v;
  }
}

}  // namespace
}  // namespace correio::mime
