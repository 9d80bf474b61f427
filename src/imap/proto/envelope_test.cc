#include "imap/proto/envelope.h"

#include <gtest/gtest.h>

#include <string>

#include "mime/message.h"

namespace correio::imap {
namespace {

mime::Summary ParseOrDie(std::string_view raw) {
  auto s = mime::Parse(raw);
  EXPECT_TRUE(s.has_value());
  return s.has_value() ? *s : mime::Summary{};
}

TEST(EnvelopeTest, FullHeader) {
  const std::string raw =
      "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
      "From: Terry Gray <gray@cac.washington.edu>\r\n"
      "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
      "To: imap@cac.washington.edu\r\n"
      "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
      "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
      "\r\n"
      "body\r\n";
  // RFC 3501 §8's example FETCH response, field for field.
  EXPECT_EQ(RenderEnvelope(ParseOrDie(raw), false),
            "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
            "\"IMAP4rev1 WG mtg summary and minutes\" "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((NIL NIL \"imap\" \"cac.washington.edu\")) "
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
            "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
            "\"<B27397-0100000@cac.washington.edu>\")");
}

TEST(EnvelopeTest, MissingHeadersAreNil) {
  const std::string raw = "X-Foo: bar\r\n\r\nbody\r\n";
  EXPECT_EQ(RenderEnvelope(ParseOrDie(raw), false),
            "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(EnvelopeTest, EmptySubjectIsEmptyStringNotNil) {
  const std::string raw = "Subject:\r\nFrom: a@b.example\r\n\r\n";
  std::string env = RenderEnvelope(ParseOrDie(raw), false);
  EXPECT_EQ(env.substr(0, 9), "(NIL \"\" (");
}

TEST(EnvelopeTest, GroupsAndReplyTo) {
  const std::string raw =
      "From: \"Doe, Jane\" <jane@example.com>\r\n"
      "Reply-To: list@example.org\r\n"
      "To: Undisclosed recipients:;\r\n"
      "Cc: Team: ann@example.com, Bob <bob@example.com>;, carl@example.net\r\n"
      "In-Reply-To: <parent@example.com>\r\n"
      "\r\n";
  EXPECT_EQ(RenderEnvelope(ParseOrDie(raw), false),
            "(NIL NIL "
            "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
            "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
            "((NIL NIL \"list\" \"example.org\")) "
            "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) "
            "((NIL NIL \"Team\" NIL)(NIL NIL \"ann\" \"example.com\")"
            "(\"Bob\" NIL \"bob\" \"example.com\")(NIL NIL NIL NIL)"
            "(NIL NIL \"carl\" \"example.net\")) "
            "NIL \"<parent@example.com>\" NIL)");
}

TEST(EnvelopeTest, QuotesAndBackslashesAreEscaped) {
  const std::string raw =
      "Subject: say \"hi\" \\o/\r\n"
      "From: \"A \\\"Q\\\" B\" <q@example.com>\r\n\r\n";
  std::string env = RenderEnvelope(ParseOrDie(raw), false);
  EXPECT_NE(env.find("\"say \\\"hi\\\" \\\\o/\""), std::string::npos) << env;
  EXPECT_NE(env.find("((\"A \\\"Q\\\" B\" NIL \"q\" \"example.com\"))"),
            std::string::npos)
      << env;
}

TEST(EnvelopeTest, EncodedWordsArePassedThrough) {
  const std::string raw =
      "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n"
      "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.de>\r\n\r\n";
  std::string env = RenderEnvelope(ParseOrDie(raw), false);
  EXPECT_NE(env.find("\"=?ISO-8859-1?Q?Gr=FC=DFe?=\""), std::string::npos);
  EXPECT_NE(env.find("\"=?UTF-8?B?SsO8cmdlbg==?=\" NIL \"j\""),
            std::string::npos);
}

TEST(EnvelopeTest, EightBitHeadersUtf8Mode) {
  const std::string raw =
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e\r\n"
      "From: J\xc3\xbcrgen <j\xc3\xbcrgen@b\xc3\xbc"
      "cher.example>\r\n\r\n";
  std::string env = RenderEnvelope(ParseOrDie(raw), true);
  EXPECT_EQ(env,
            "(NIL \"Gr\xc3\xbc\xc3\x9f"
            "e\" "
            "((\"J\xc3\xbcrgen\" NIL \"j\xc3\xbcrgen\" "
            "\"b\xc3\xbc"
            "cher.example\")) "
            "((\"J\xc3\xbcrgen\" NIL \"j\xc3\xbcrgen\" "
            "\"b\xc3\xbc"
            "cher.example\")) "
            "((\"J\xc3\xbcrgen\" NIL \"j\xc3\xbcrgen\" "
            "\"b\xc3\xbc"
            "cher.example\")) NIL NIL NIL NIL NIL)");
}

TEST(EnvelopeTest, EightBitHeadersLegacyMode) {
  const std::string raw =
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e\r\n"
      "From: J\xc3\xbcrgen <j\xc3\xbcrgen@example.de>\r\n\r\n";
  std::string env = RenderEnvelope(ParseOrDie(raw), false);
  // Display text: RFC 2047 words; identifiers: raw bytes in a literal.
  EXPECT_EQ(env.substr(0, 31), "(NIL \"=?utf-8?b?R3LDvMOfZQ==?=\"");
  EXPECT_NE(env.find("((\"=?utf-8?b?SsO8cmdlbg==?=\" NIL {7}\r\nj\xc3\xbcrgen "
                     "\"example.de\"))"),
            std::string::npos)
      << env;
  for (size_t i = 0; i < env.size(); ++i) {
    // The only 8-bit bytes are inside literals.
    if (static_cast<unsigned char>(env[i]) >= 0x80) {
      EXPECT_NE(env.rfind("}\r\n", i), std::string::npos);
    }
  }
}

TEST(EnvelopeTest, Latin1JunkIsRepairedForUtf8Clients) {
  const std::string raw = "Subject: caf\xe9\r\n\r\n";
  EXPECT_EQ(RenderEnvelope(ParseOrDie(raw), true),
            "(NIL \"caf\xc3\xa9\" NIL NIL NIL NIL NIL NIL NIL NIL)");
  EXPECT_EQ(RenderEnvelope(ParseOrDie(raw), false),
            "(NIL \"=?utf-8?b?Y2Fmw6k=?=\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(EnvelopeTest, LongSubjectBecomesLiteral) {
  std::string subject(2000, 'x');
  const std::string raw = "Subject: " + subject + "\r\n\r\n";
  std::string env = RenderEnvelope(ParseOrDie(raw), false);
  EXPECT_EQ(env,
            "(NIL {2000}\r\n" + subject + " NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(EnvelopeTest, FoldedSubjectIsUnfolded) {
  const std::string raw = "Subject: one\r\n two\r\n\r\n";
  EXPECT_EQ(RenderEnvelope(ParseOrDie(raw), false),
            "(NIL \"one two\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(EncodeRfc2047Test, SplitsLongTextOnCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "\xc3\xa9";  // 80 bytes
  std::string enc = EncodeRfc2047(text);
  // 45-byte chunks can't split a 2-byte character: 44 + 36 bytes.
  size_t space = enc.find(' ');
  ASSERT_NE(space, std::string::npos);
  EXPECT_LE(space, 75u);
  EXPECT_LE(enc.size() - space - 1, 75u);
  EXPECT_EQ(enc.find(' ', space + 1), std::string::npos);
  EXPECT_EQ(mime::DecodeHeaderValue(enc), text);
  EXPECT_EQ(EncodeRfc2047("plain"), "plain");
  // Text that merely looks like an encoded word is protected too.
  EXPECT_EQ(mime::DecodeHeaderValue(EncodeRfc2047("=?x?q?y?=")), "=?x?q?y?=");
}

TEST(IsValidUtf8Test, Cases) {
  EXPECT_TRUE(IsValidUtf8("abc"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xe9"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
}

}  // namespace
}  // namespace correio::imap

namespace correio::imap {
namespace {

TEST(EnvelopeWireTest, NulAndLineBreaksNeverReachTheWire) {
  mime::Envelope e;
  e.subject = std::string("a\0b\rc\nd", 7);
  e.message_id = std::string("<x\0y@z>", 7);
  std::string out;
  AppendEnvelope(out, e, false);
  EXPECT_EQ(out, "(NIL \"abcd\" NIL NIL NIL NIL NIL NIL NIL \"<xy@z>\")");
  std::string lit;
  AppendIdNString(lit, std::string("\xe9\0", 2), false);
  EXPECT_EQ(lit, "{1}\r\n\xe9");
}

}  // namespace
}  // namespace correio::imap

namespace correio::imap {
namespace {

TEST(EnvelopeRouteTest, SourceRouteIsTheAdl) {
  mime::Envelope e;
  e.from.push_back(mime::Address{std::string("Old"), std::string("user"),
                                 std::string("host.example"),
                                 std::string("@a.example,@b.example")});
  std::string out;
  AppendEnvelope(out, e, false);
  EXPECT_EQ(out,
            "(NIL NIL ((\"Old\" \"@a.example,@b.example\" \"user\" "
            "\"host.example\")) NIL NIL NIL NIL NIL NIL NIL)");
}

}  // namespace
}  // namespace correio::imap
