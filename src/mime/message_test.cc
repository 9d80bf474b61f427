// Parse() against the corpus in testdata/: exact offsets, envelope fields,
// parameters, line counts, preview, search text.
#include "mime/message.h"

#include <gtest/gtest.h>

#include "mime/mime_test_util.h"

namespace correio::mime {
namespace {

using testing::Body;
using testing::Header;
using testing::ReadTestFile;

Summary MustParse(std::string_view raw) {
  auto s = Parse(raw);
  EXPECT_TRUE(s.has_value());
  return s.has_value() ? std::move(*s) : Summary{};
}

Address Addr(std::optional<std::string> name, std::optional<std::string> mbox,
             std::optional<std::string> host) {
  return Address{std::move(name), std::move(mbox), std::move(host)};
}

TEST(MimeParse, SimpleTextPlain) {
  std::string raw = ReadTestFile("simple.eml");
  ASSERT_FALSE(raw.empty());
  Summary s = MustParse(raw);
  const Part& r = s.root;
  EXPECT_EQ(r.header_start, 0u);
  EXPECT_EQ(r.body_end, raw.size());
  EXPECT_EQ(Body(raw, r), "Hi Bob,\r\n\r\nThis is a simple message.\r\n");
  EXPECT_TRUE(Header(raw, r).starts_with("Return-Path:"));
  EXPECT_TRUE(Header(raw, r).ends_with("charset=us-ascii\r\n\r\n"));
  EXPECT_EQ(r.type, "text");
  EXPECT_EQ(r.subtype, "plain");
  ASSERT_EQ(r.params.size(), 1u);
  EXPECT_EQ(r.params[0], (Param{"charset", "us-ascii"}));
  EXPECT_EQ(r.lines, 3u);
  EXPECT_EQ(r.body_size(), 38u);
  EXPECT_TRUE(r.children.empty());
  EXPECT_EQ(s.part_count, 1u);
  EXPECT_FALSE(s.truncated);
  EXPECT_FALSE(s.has_8bit_headers);
  EXPECT_FALSE(s.has_nul);

  const Envelope& e = s.envelope;
  EXPECT_EQ(e.date, "Mon, 7 Feb 1994 21:52:25 -0800 (PST)");
  EXPECT_EQ(e.subject, "Hello world");  // unfolded, RFC 5322 §2.2.3
  EXPECT_EQ(e.message_id, "<1234@example.org>");
  EXPECT_EQ(e.in_reply_to, "<0999@example.com>");
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_EQ(e.from[0], Addr("Alice Example", "alice", "example.org"));
  // RFC 9051 §7.5.2: Sender and Reply-To default to From.
  EXPECT_EQ(e.sender, e.from);
  EXPECT_EQ(e.reply_to, e.from);
  ASSERT_EQ(e.to.size(), 2u);
  EXPECT_EQ(e.to[0], Addr("Bob, the Builder", "bob", "example.com"));
  EXPECT_EQ(e.to[1], Addr("Carol C.", "carol", "example.net"));
  // Groups: start marker (host NIL), members, end marker (all NIL).
  ASSERT_EQ(e.cc.size(), 6u);
  EXPECT_EQ(e.cc[0], Addr(std::nullopt, "Friends", std::nullopt));
  EXPECT_EQ(e.cc[1], Addr(std::nullopt, "dave", "example.com"));
  EXPECT_EQ(e.cc[2], Addr("Eve E.", "eve", "example.com"));
  EXPECT_EQ(e.cc[3], Addr(std::nullopt, std::nullopt, std::nullopt));
  EXPECT_EQ(e.cc[4],
            Addr(std::nullopt, "undisclosed-recipients", std::nullopt));
  EXPECT_EQ(e.cc[5], Addr(std::nullopt, std::nullopt, std::nullopt));
  EXPECT_TRUE(e.bcc.empty());
  EXPECT_EQ(s.preview, "Hi Bob, This is a simple message.");

  EXPECT_EQ(ParseDate(*e.date), 760686745);
}

TEST(MimeParse, AlternativeWithRelatedImages) {
  std::string raw = ReadTestFile("alternative_related.eml");
  Summary s = MustParse(raw);
  const Part& r = s.root;
  EXPECT_EQ(r.type, "multipart");
  EXPECT_EQ(r.subtype, "alternative");
  EXPECT_EQ(*r.FindParam("boundary"), "ALT");
  EXPECT_TRUE(Body(raw, r).starts_with("This is a multi-part"));
  EXPECT_TRUE(Body(raw, r).ends_with("--ALT--\r\nepilogue\r\n"));
  ASSERT_EQ(r.children.size(), 2u);
  EXPECT_EQ(s.part_count, 5u);

  const Part& text = r.children[0];
  EXPECT_EQ(Body(raw, text), "Caf=C3=A9 deals this week=\r\n only.");
  EXPECT_EQ(Header(raw, text),
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
  EXPECT_EQ(text.encoding, "quoted-printable");
  EXPECT_EQ(text.lines, 2u);

  const Part& related = r.children[1];
  EXPECT_EQ(related.subtype, "related");
  EXPECT_EQ(*related.FindParam("type"), "text/html");
  EXPECT_TRUE(Body(raw, related).starts_with("--REL\r\n"));
  EXPECT_TRUE(Body(raw, related).ends_with("\r\n--REL--\r\n"));
  ASSERT_EQ(related.children.size(), 2u);
  const Part& html = related.children[0];
  EXPECT_EQ(html.subtype, "html");
  EXPECT_EQ(html.encoding, "base64");
  EXPECT_EQ(html.lines, 1u);
  auto decoded = DecodeTransfer(Body(raw, html), html.encoding);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->starts_with("<html><head><style>"));

  const Part& img = related.children[1];
  EXPECT_EQ(img.type, "image");
  EXPECT_EQ(img.subtype, "png");
  EXPECT_EQ(Body(raw, img), "iVBORw0KGgo=");
  EXPECT_EQ(img.content_id, "<logo@shop>");
  EXPECT_EQ(img.disposition, "inline");
  ASSERT_EQ(img.disposition_params.size(), 1u);
  EXPECT_EQ(img.disposition_params[0], (Param{"filename", "logo.png"}));
  EXPECT_EQ(*img.FindParam("name"), "logo.png");
  EXPECT_EQ(img.lines, 0u);  // not text: no line count
  EXPECT_EQ(img.body_size(), 12u);

  EXPECT_EQ(s.envelope.subject, "=?UTF-8?B?U3DDpGNpYWwgb2ZmZXI=?=");
  EXPECT_EQ(DecodeHeaderValue(*s.envelope.subject), "Späcial offer");
  EXPECT_EQ(s.preview, "Café deals this week only.");

  SearchText st = ExtractSearchText(raw, s);
  EXPECT_NE(st.headers.find("Subject: Späcial offer\n"), std::string::npos);
  EXPECT_NE(st.Body(raw).find("Café deals this week only."), std::string::npos);
  // HTML: tags and <style> dropped, entities decoded.
  EXPECT_NE(st.Body(raw).find("Café deals & more"), std::string::npos);
  EXPECT_EQ(st.Body(raw).find("color: red"), std::string::npos);
  EXPECT_EQ(st.Body(raw).find("<b>"), std::string::npos);
  EXPECT_EQ(st.Body(raw).find("iVBOR"), std::string::npos);  // image skipped
}

TEST(MimeParse, MessageRfc822AttachmentWithOwnMultipart) {
  std::string raw = ReadTestFile("rfc822_attachment.eml");
  Summary s = MustParse(raw);
  ASSERT_EQ(s.root.children.size(), 2u);
  EXPECT_EQ(Body(raw, s.root.children[0]), "See the attached message.");
  const Part& msg = s.root.children[1];
  EXPECT_EQ(msg.type, "message");
  EXPECT_EQ(msg.subtype, "rfc822");
  EXPECT_TRUE(msg.is_message());
  EXPECT_EQ(msg.content_description, "forwarded message");
  EXPECT_EQ(msg.disposition, "attachment");
  EXPECT_TRUE(
      Body(raw, msg).starts_with("From: Reporter <rep@example.com>\r\n"));
  EXPECT_TRUE(Body(raw, msg).ends_with("</p>\r\n--inner--"));
  EXPECT_EQ(msg.lines, 17u);
  ASSERT_TRUE(msg.message_envelope.has_value());
  const Envelope& inner_env = *msg.message_envelope;
  EXPECT_EQ(inner_env.subject, "Quarterly report");
  EXPECT_EQ(inner_env.message_id, "<q3@example.com>");
  EXPECT_EQ(inner_env.date, "Tue, 01 Aug 2023 18:00:00 -0400");
  ASSERT_EQ(inner_env.from.size(), 1u);
  EXPECT_EQ(inner_env.from[0], Addr("Reporter", "rep", "example.com"));

  ASSERT_EQ(msg.children.size(), 1u);
  const Part& inner = msg.children[0];
  EXPECT_EQ(inner.header_start, msg.body_start);
  EXPECT_EQ(inner.body_end, msg.body_end);
  EXPECT_EQ(inner.subtype, "alternative");
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(Body(raw, inner.children[0]), "Revenue went up.");
  EXPECT_EQ(Body(raw, inner.children[1]), "<p>Revenue went <i>up</i>.</p>");
  EXPECT_EQ(inner.children[1].lines, 1u);
  EXPECT_EQ(s.part_count, 6u);

  // The outer envelope is the outer message's.
  EXPECT_EQ(s.envelope.subject, "Fwd: Quarterly report");
  EXPECT_EQ(s.preview, "See the attached message.");

  SearchText st = ExtractSearchText(raw, s);
  EXPECT_NE(st.Body(raw).find("See the attached message."), std::string::npos);
  EXPECT_NE(st.Body(raw).find("Subject: Quarterly report"), std::string::npos);
  EXPECT_NE(st.Body(raw).find("Revenue went up."), std::string::npos);
  EXPECT_EQ(st.headers.find("Reporter"), std::string::npos);
}

TEST(MimeParse, EncodedWordsInSeveralCharsets) {
  std::string raw = ReadTestFile("encoded_words.eml");
  Summary s = MustParse(raw);
  std::string_view hdr = Header(raw, s.root);
  // ENVELOPE keeps the raw form; the client decodes.
  EXPECT_TRUE(s.envelope.subject->starts_with("=?UTF-8?B?"));
  EXPECT_EQ(DecodeHeaderValue(*s.envelope.subject), "日本語の件名 and café");
  ASSERT_EQ(s.envelope.from.size(), 1u);
  EXPECT_EQ(s.envelope.from[0].name, "=?ISO-8859-1?Q?Andr=E9?= Pirard");
  EXPECT_EQ(s.envelope.from[0].mailbox, "PIRARD");
  EXPECT_EQ(s.envelope.from[0].host, "vm1.ulg.ac.be");
  EXPECT_EQ(DecodeHeaderValue(*s.envelope.from[0].name), "André Pirard");
  EXPECT_EQ(DecodeHeaderValue(*s.envelope.to[0].name), "テスト");

  auto one = [&](std::string_view name) {
    auto v = FindHeaders(hdr, name);
    EXPECT_EQ(v.size(), 1u) << name;
    return v.empty() ? std::string() : DecodeHeaderValue(v[0]);
  };
  EXPECT_EQ(one("x-latin1"), "Grüße");
  EXPECT_EQ(one("X-CP1252"), "\u201cquoted\u201d \u20ac");
  EXPECT_EQ(one("X-Jp"), "といる");

  SearchText st = ExtractSearchText(raw, s);
  EXPECT_NE(st.headers.find("Subject: 日本語の件名 and café\n"),
            std::string::npos);
  EXPECT_NE(st.headers.find("From: André Pirard <PIRARD@vm1.ulg.ac.be>"),
            std::string::npos);
  EXPECT_NE(st.headers.find("X-Jp: といる\n"), std::string::npos);
  EXPECT_EQ(st.Body(raw), "plain body\r\n");
}

TEST(MimeParse, Rfc2231ContinuationsAndCharsets) {
  std::string raw = ReadTestFile("rfc2231.eml");
  Summary s = MustParse(raw);
  ASSERT_EQ(s.root.children.size(), 2u);
  const Part& att = s.root.children[1];
  EXPECT_EQ(att.type, "application");
  EXPECT_EQ(att.subtype, "pdf");
  ASSERT_NE(att.FindParam("name"), nullptr);
  EXPECT_EQ(*att.FindParam("name"), "€ rates for 2024.pdf");
  EXPECT_EQ(att.disposition, "attachment");
  ASSERT_EQ(att.disposition_params.size(), 1u);
  EXPECT_EQ(att.disposition_params[0].name, "filename");
  EXPECT_EQ(att.disposition_params[0].value, "Résumé été.pdf");
  EXPECT_EQ(att.languages, (std::vector<std::string>{"fr", "en-GB"}));
  EXPECT_EQ(att.content_location, "http://example.com/rates.pdf");
  EXPECT_EQ(att.content_md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
  EXPECT_EQ(Body(raw, att), "JVBERi0xLjQK");
  EXPECT_EQ(*DecodeTransfer(Body(raw, att), att.encoding), "%PDF-1.4\n");
  // Content-Type without charset: no default charset is invented when the
  // header is present and valid.
  EXPECT_TRUE(s.root.children[0].params.empty());
  EXPECT_FALSE(s.root.children[0].content_id.has_value());
}

TEST(MimeParse, QuotedPrintableAndBase64Bodies) {
  std::string raw = ReadTestFile("qp_base64.eml");
  Summary s = MustParse(raw);
  ASSERT_EQ(s.root.children.size(), 2u);
  const Part& qp = s.root.children[0];
  EXPECT_EQ(Body(raw, qp),
            "Voil=E0 un texte tr=E8s long qui est coup=E9 par une =\r\n"
            "fin de ligne douce.");
  EXPECT_EQ(*qp.FindParam("charset"), "iso-8859-1");
  auto dec = DecodeTransfer(Body(raw, qp), qp.encoding);
  ASSERT_TRUE(dec.has_value());
  EXPECT_EQ(*dec,
            "Voil\xe0 un texte tr\xe8s long qui est coup\xe9 par une fin de "
            "ligne douce.");
  EXPECT_EQ(
      ConvertToUtf8(*dec, "iso-8859-1"),
      "Voilà un texte très long qui est coupé par une fin de ligne douce.");
  EXPECT_EQ(
      s.preview,
      "Voilà un texte très long qui est coupé par une fin de ligne douce.");

  const Part& b64 = s.root.children[1];
  EXPECT_EQ(b64.lines, 2u);  // wrapped at 76 characters
  auto dec2 = DecodeTransfer(Body(raw, b64), "BASE64");
  ASSERT_TRUE(dec2.has_value());
  EXPECT_TRUE(dec2->starts_with("Zürich 東京 encoded"));
  SearchText st = ExtractSearchText(raw, s);
  EXPECT_NE(st.Body(raw).find("coupé par une fin"), std::string::npos);
  EXPECT_NE(st.Body(raw).find("Zürich 東京 encoded in base64"),
            std::string::npos);
}

TEST(MimeParse, MissingFinalBoundary) {
  std::string raw = ReadTestFile("broken_no_final_boundary.eml");
  Summary s = MustParse(raw);
  ASSERT_EQ(s.root.children.size(), 2u);
  EXPECT_EQ(Body(raw, s.root.children[0]), "first part");
  // The last part runs to the end of the message.
  EXPECT_EQ(Body(raw, s.root.children[1]), "second part\r\n");
  EXPECT_EQ(s.root.children[1].body_end, raw.size());
}

TEST(MimeParse, BoundaryNeverAppears) {
  std::string raw = ReadTestFile("broken_boundary_never.eml");
  Summary s = MustParse(raw);
  EXPECT_EQ(s.root.type, "multipart");
  EXPECT_EQ(Body(raw, s.root), "just some text\r\nwith no boundary at all\r\n");
  ASSERT_EQ(s.root.children.size(), 1u);  // synthetic empty text/plain
  const Part& c = s.root.children[0];
  EXPECT_EQ(c.type, "text");
  EXPECT_EQ(c.body_size(), 0u);
  EXPECT_EQ(c.header_start, raw.size());
  EXPECT_EQ(s.preview, "");
}

TEST(MimeParse, BadBase64) {
  std::string raw = ReadTestFile("broken_bad_base64.eml");
  Summary s = MustParse(raw);
  EXPECT_EQ(s.root.encoding, "base64");
  // BINARY must refuse (strict) ...
  auto strict = DecodeTransfer(Body(raw, s.root), s.root.encoding);
  ASSERT_FALSE(strict.has_value());
  EXPECT_EQ(strict.error().code(), ErrorCode::kInvalid);
  // ... while search and preview skip the junk.
  EXPECT_EQ(s.preview, "Hello world");
  EXPECT_EQ(ExtractSearchText(raw, s).Body(raw), "Hello world");
}

// The body text is left where it stands in the message, not copied, only
// when it is those octets unchanged; anything decoding would change is
// decoded, as before.
TEST(MimeSearchText, BodyIsLeftInTheMessageOnlyWhenDecodingChangesNothing) {
  struct Case {
    const char* why;
    std::string raw;
    bool in_raw;
    std::string body;
  };
  const std::string utf8 =
      "Gr\xC3\xBC\xC3\x9F"
      "e\r\n";
  const Case cases[] = {
      {"no MIME headers", "Subject: a\r\n\r\nplain body\r\n", true,
       "plain body\r\n"},
      {"UTF-8, 8bit",
       "Content-Type: text/plain; charset=\"UTF-8\"\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n" +
           utf8,
       true, utf8},
      {"beside an attachment",
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
       "Content-Type: text/plain\r\n\r\ntext\r\n--b\r\n"
       "Content-Type: application/pdf\r\n\r\n%PDF-1\r\n--b--\r\n",
       true, "text"},
      {"quoted-printable",
       "Content-Transfer-Encoding: Quoted-Printable\r\n\r\ncaf=C3=A9\r\n",
       false, "caf\xC3\xA9\r\n"},
      // Octets that are valid UTF-8 too, but the charset says Latin-1.
      {"Latin-1",
       "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xC3\xBC\r\n",
       false, "Gr\xC3\x83\xC2\xBC\r\n"},
      {"over the cap",
       "Subject: a\r\n\r\n" + std::string(kMaxSearchBodyBytes + 10, 'x'), false,
       std::string(kMaxSearchBodyBytes, 'x')},
      {"HTML", "Content-Type: text/html\r\n\r\n<b>bold</b>\r\n", false,
       "bold\r\n"},
      {"invalid UTF-8", "Subject: a\r\n\r\nbad \xC3 octet\r\n", false,
       "bad \xEF\xBF\xBD octet\r\n"},
      {"two text parts",
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
       "Content-Type: text/plain\r\n\r\none\r\n--b\r\n"
       "Content-Type: text/plain\r\n\r\ntwo\r\n--b--\r\n",
       false, "one\ntwo"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Summary s = MustParse(c.raw);
    SearchText st = ExtractSearchText(c.raw, s);
    EXPECT_EQ(st.body_in_raw.has_value(), c.in_raw);
    EXPECT_EQ(st.Body(c.raw), c.body);
    if (st.body_in_raw) {
      EXPECT_TRUE(st.decoded_body.empty());
    }
  }
}

TEST(MimeParse, BareLineFeeds) {
  std::string raw = ReadTestFile("bare_lf.eml");
  ASSERT_EQ(raw.find('\r'), std::string::npos);
  Summary s = MustParse(raw);
  EXPECT_EQ(s.envelope.subject, "bare LF");
  ASSERT_EQ(s.root.children.size(), 2u);
  EXPECT_EQ(Body(raw, s.root.children[0]), "one\ntwo");
  EXPECT_EQ(Header(raw, s.root.children[0]), "Content-Type: text/plain\n\n");
  EXPECT_EQ(s.root.children[0].lines, 2u);
  EXPECT_EQ(Body(raw, s.root.children[1]), "three");
}

TEST(MimeParse, NulBytes) {
  std::string raw = ReadTestFile("nul_bytes.eml");
  ASSERT_NE(raw.find('\0'), std::string::npos);
  Summary s = MustParse(raw);
  EXPECT_TRUE(s.has_nul);
  EXPECT_EQ(s.envelope.subject, std::string("a\0b", 3));
  EXPECT_EQ(Body(raw, s.root), std::string("before\0after\r\n", 14));
  EXPECT_EQ(s.preview, "before after");
}

TEST(MimeParse, HeaderLineWithoutColon) {
  std::string raw = ReadTestFile("header_no_colon.eml");
  Summary s = MustParse(raw);
  EXPECT_EQ(s.envelope.subject, "still parsed");
  EXPECT_EQ(Body(raw, s.root), "body text\r\n");
}

TEST(MimeParse, EightBitUtf8Headers) {
  std::string raw = ReadTestFile("utf8_headers.eml");
  Summary s = MustParse(raw);
  EXPECT_TRUE(s.has_8bit_headers);
  EXPECT_EQ(s.envelope.subject, "Grüße aus Köln");
  EXPECT_EQ(s.envelope.from[0], Addr("Jürgen Müller", "j", "example.de"));
  EXPECT_EQ(s.envelope.to[0], Addr(std::nullopt, "kö", "example.de"));
  EXPECT_EQ(DecodeHeaderValue(*s.envelope.subject), "Grüße aus Köln");
  EXPECT_EQ(s.preview, "Schöne Grüße");
}

TEST(MimeParse, DigestChildrenDefaultToRfc822) {
  std::string raw =
      "Content-Type: multipart/digest; boundary=d\r\n\r\n"
      "--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n"
      "--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n--d--\r\n";
  Summary s = MustParse(raw);
  ASSERT_EQ(s.root.children.size(), 2u);
  EXPECT_EQ(s.root.children[0].type, "message");
  EXPECT_EQ(s.root.children[0].subtype, "rfc822");
  ASSERT_TRUE(s.root.children[0].message_envelope.has_value());
  EXPECT_EQ(s.root.children[0].message_envelope->subject, "one");
  EXPECT_EQ(Body(raw, s.root.children[0].children[0]), "first");
  EXPECT_EQ(s.root.children[1].type, "text");
}

TEST(MimeParse, EncodedMessageRfc822IsALeaf) {
  // RFC 2046 §5.2.1 forbids it; the bytes are not a message, so no child
  // and no envelope: IMAP writes a basic body.
  Summary s = MustParse(
      "Content-Type: message/rfc822\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n"
      "U3ViamVjdDogeA0KDQp4\r\n");
  EXPECT_EQ(s.root.type, "message");
  EXPECT_EQ(s.root.subtype, "rfc822");
  EXPECT_FALSE(s.root.is_message());
  EXPECT_TRUE(s.root.children.empty());
  EXPECT_EQ(Deserialize(Serialize(s)).value(), s);
}

TEST(MimeParse, InvalidContentTypeIsTextPlain) {
  Summary s = MustParse("Content-Type: garbage\r\n\r\nx");
  EXPECT_EQ(s.root.type, "text");
  EXPECT_EQ(s.root.subtype, "plain");
  EXPECT_EQ(*s.root.FindParam("charset"), "us-ascii");
  Summary t = MustParse("Content-Type: Multipart/Mixed\r\n\r\nx");
  EXPECT_TRUE(t.root.opaque);  // no boundary: no structure
  EXPECT_EQ(t.root.type, "application");
  EXPECT_EQ(t.root.subtype, "octet-stream");
}

TEST(MimeParse, EmptyAndHeaderOnlyMessages) {
  Summary e = MustParse("");
  EXPECT_EQ(e.root.body_start, 0u);
  EXPECT_EQ(e.root.body_end, 0u);
  EXPECT_FALSE(e.envelope.subject.has_value());
  Summary h = MustParse("Subject: x\r\n");
  EXPECT_EQ(h.root.body_start, h.root.body_end);
  EXPECT_EQ(h.envelope.subject, "x");
  Summary b = MustParse("\r\nbody only");
  EXPECT_EQ(b.root.body_start, 2u);
  EXPECT_EQ(b.root.lines, 1u);
}

TEST(MimeParse, EveryCorpusFileRoundTrips) {
  for (const char* name : testing::kCorpus) {
    std::string raw = ReadTestFile(name);
    ASSERT_FALSE(raw.empty()) << name;
    Summary s = MustParse(raw);
    auto back = Deserialize(Serialize(s));
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, s) << name;
    // The fast path FETCH of header fields uses reads the same offsets.
    auto root = DeserializeRootOffsets(Serialize(s));
    ASSERT_TRUE(root.has_value()) << name;
    EXPECT_EQ(root->root.header_start, s.root.header_start) << name;
    EXPECT_EQ(root->root.body_start, s.root.body_start) << name;
    EXPECT_EQ(root->root.body_end, s.root.body_end) << name;
    EXPECT_FALSE(
        DeserializeRootOffsets(Serialize(s).substr(0, 3)).has_value())
        << name;
  }
}

}  // namespace
}  // namespace correio::mime
