#include "imap/proto/section.h"

#include <gtest/gtest.h>

#include <string>

#include "mime/message.h"

namespace correio::imap {
namespace {

using Kind = Section::Kind;

mime::Summary ParseOrDie(std::string_view raw) {
  auto s = mime::Parse(raw);
  EXPECT_TRUE(s.has_value());
  return s.has_value() ? *s : mime::Summary{};
}

Section Sec(std::vector<uint32_t> part, Kind kind = Kind::kWhole,
            std::vector<std::string> fields = {}) {
  Section s;
  s.part = std::move(part);
  s.kind = kind;
  s.fields = std::move(fields);
  return s;
}

// The RFC 9051 §6.4.5 example tree, shrunk:
//   HEADER     ([RFC-2822] header of the message)
//   TEXT       ([RFC-2822] text body of the message) MULTIPART/MIXED
//   1          TEXT/PLAIN
//   2          APPLICATION/OCTET-STREAM
//   3          MESSAGE/RFC822
//   3.HEADER   ([RFC-2822] header of the message)
//   3.TEXT     ([RFC-2822] text body of the message) MULTIPART/MIXED
//   3.1        TEXT/PLAIN
//   3.2        APPLICATION/OCTET-STREAM
//   4          MULTIPART/MIXED
//   4.1        IMAGE/GIF
//   4.2        MESSAGE/RFC822
//   4.2.HEADER ([RFC-2822] header of the message)
//   4.2.TEXT   ([RFC-2822] text body of the message) TEXT/PLAIN
//   4.2.1      TEXT/PLAIN (the body of a non-multipart message)
const char kTree[] =
    "From: top@example.com\r\n"
    "Subject: tree\r\n"
    "Content-Type: multipart/mixed; boundary=\"o\"\r\n"
    "\r\n"
    "--o\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "part one\r\n"
    "--o\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAw==\r\n"
    "--o\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: three\r\n"
    "Content-Type: multipart/mixed; boundary=\"t\"\r\n"
    "\r\n"
    "--t\r\n"
    "\r\n"
    "three one\r\n"
    "--t\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "three two\r\n"
    "--t--\r\n"
    "--o\r\n"
    "Content-Type: multipart/mixed; boundary=\"f\"\r\n"
    "\r\n"
    "--f\r\n"
    "Content-Type: image/gif\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "R0lGODlh\r\n"
    "--f\r\n"
    "Content-Type: message/rfc822\r\n"
    "X-Part-Header: 4.2\r\n"
    "\r\n"
    "Subject: four two\r\n"
    "X-Inner: yes\r\n"
    "\r\n"
    "four two body\r\n"
    "--f--\r\n"
    "--o--\r\n";

class SectionTest : public ::testing::Test {
 protected:
  std::string raw_ = kTree;
  mime::Summary s_ = ParseOrDie(raw_);
  std::string Get(const Section& sec) { return ExtractSection(raw_, s_, sec); }
};

TEST_F(SectionTest, WholeHeaderText) {
  EXPECT_EQ(Get(Sec({})), raw_);
  EXPECT_EQ(Get(Sec({}, Kind::kHeader)),
            "From: top@example.com\r\nSubject: tree\r\n"
            "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n");
  std::string text = Get(Sec({}, Kind::kText));
  EXPECT_EQ(text.substr(0, 5), "--o\r\n");
  EXPECT_EQ(Get(Sec({}, Kind::kHeader)) + text, raw_);
  EXPECT_EQ(Get(Sec({}, Kind::kMime)), "");
}

TEST_F(SectionTest, NumberedParts) {
  EXPECT_EQ(Get(Sec({1})), "part one");
  EXPECT_EQ(Get(Sec({1}, Kind::kMime)), "Content-Type: text/plain\r\n\r\n");
  EXPECT_EQ(Get(Sec({2})), "AAECAw==");
  EXPECT_EQ(Get(Sec({3}, Kind::kHeader)),
            "Subject: three\r\n"
            "Content-Type: multipart/mixed; boundary=\"t\"\r\n\r\n");
  EXPECT_EQ(Get(Sec({3})).substr(0, 16), "Subject: three\r\n");
  EXPECT_EQ(Get(Sec({3}, Kind::kText)).substr(0, 5), "--t\r\n");
  EXPECT_EQ(Get(Sec({3, 1})), "three one");
  EXPECT_EQ(Get(Sec({3, 1}, Kind::kMime)), "\r\n");
  EXPECT_EQ(Get(Sec({3, 2})), "three two");
  EXPECT_EQ(Get(Sec({4, 1})), "R0lGODlh");
  EXPECT_EQ(Get(Sec({4, 2}, Kind::kMime)),
            "Content-Type: message/rfc822\r\nX-Part-Header: 4.2\r\n\r\n");
  EXPECT_EQ(Get(Sec({4, 2}, Kind::kHeader)),
            "Subject: four two\r\nX-Inner: yes\r\n\r\n");
  EXPECT_EQ(Get(Sec({4, 2}, Kind::kText)), "four two body");
  // 4.2.1: the body of the non-multipart encapsulated message.
  EXPECT_EQ(Get(Sec({4, 2, 1})), "four two body");
}

TEST_F(SectionTest, NonexistentPartsAreEmpty) {
  EXPECT_EQ(Get(Sec({5})), "");
  EXPECT_EQ(Get(Sec({0})), "");
  EXPECT_EQ(Get(Sec({1, 1})), "");     // a leaf has no subparts
  EXPECT_EQ(Get(Sec({4, 2, 2})), "");  // single-part message has only 1
  EXPECT_EQ(Get(Sec({3, 3})), "");
  EXPECT_EQ(Get(Sec({4, 2, 1, 1})), "");
  // HEADER/TEXT are only defined for message/rfc822 parts.
  EXPECT_EQ(Get(Sec({1}, Kind::kHeader)), "");
  EXPECT_EQ(Get(Sec({4}, Kind::kText)), "");
  EXPECT_EQ(FindPart(s_, {}), nullptr);
}

TEST_F(SectionTest, HeaderFields) {
  EXPECT_EQ(Get(Sec({}, Kind::kHeaderFields, {"SUBJECT", "from"})),
            "From: top@example.com\r\nSubject: tree\r\n\r\n");
  EXPECT_EQ(Get(Sec({}, Kind::kHeaderFieldsNot, {"Subject", "FROM"})),
            "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n");
  EXPECT_EQ(Get(Sec({}, Kind::kHeaderFields, {"X-Missing"})), "\r\n");
  EXPECT_EQ(Get(Sec({4, 2}, Kind::kHeaderFields, {"x-inner"})),
            "X-Inner: yes\r\n\r\n");
  EXPECT_EQ(Get(Sec({1}, Kind::kHeaderFields, {"content-type"})), "");
}

TEST(HeaderFieldsTest, KeepsFoldingOrderAndDuplicates) {
  const std::string raw =
      "Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "To: one@example.com,\r\n  two@example.com\r\n"
      "received : from c\r\n"
      "this line has no colon\r\n"
      " continuation of the junk line\r\n"
      "Subject: s\r\n"
      "\r\n"
      "Received: in the body\r\n";
  mime::Summary s = ParseOrDie(raw);
  EXPECT_EQ(ExtractSection(raw, s, Sec({}, Kind::kHeaderFields, {"received"})),
            "Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            "received : from c\r\n\r\n");
  EXPECT_EQ(
      ExtractSection(raw, s, Sec({}, Kind::kHeaderFieldsNot, {"received"})),
      "To: one@example.com,\r\n  two@example.com\r\nSubject: s\r\n\r\n");
  // Prefixes don't match: "Subj" is not "Subject".
  EXPECT_EQ(ExtractSection(raw, s, Sec({}, Kind::kHeaderFields, {"subj"})),
            "\r\n");
}

TEST(HeaderFieldsTest, BareLfLinesComeOutAsCrlf) {
  EXPECT_EQ(FilterHeaderFields("A: 1\nB: 2\n c\n\nbody", {"b"}, false),
            "B: 2\r\n c\r\n\r\n");
}

TEST(SinglePartTest, PartOneIsTheBody) {
  const std::string raw =
      "Subject: s\r\nContent-Type: text/plain\r\n\r\nhi\r\n";
  mime::Summary s = ParseOrDie(raw);
  EXPECT_EQ(ExtractSection(raw, s, Sec({1})), "hi\r\n");
  EXPECT_EQ(ExtractSection(raw, s, Sec({1}, Kind::kMime)),
            "Subject: s\r\nContent-Type: text/plain\r\n\r\n");
  EXPECT_EQ(ExtractSection(raw, s, Sec({2})), "");
  EXPECT_EQ(ExtractSection(raw, s, Sec({1, 1})), "");
}

TEST(BinaryTest, DecodesLeaves) {
  const std::string raw = kTree;
  mime::Summary s = ParseOrDie(raw);
  auto two = ExtractBinary(raw, s, {2});
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(*two, std::string("\x00\x01\x02\x03", 4));
  auto gif = ExtractBinary(raw, s, {4, 1});
  ASSERT_TRUE(gif.has_value());
  EXPECT_EQ(*gif, "GIF89a");
  EXPECT_EQ(ExtractBinary(raw, s, {1}).value_or("?"), "part one");
  EXPECT_EQ(ExtractBinary(raw, s, {}).value_or("?"), raw);
  EXPECT_EQ(ExtractBinary(raw, s, {9}).value_or("?"), "");
  // A message/rfc822 part has no encoding of its own: returned as is.
  EXPECT_EQ(ExtractBinary(raw, s, {4, 2}).value_or("?"),
            ExtractSection(raw, s, Sec({4, 2})));
}

TEST(BinaryTest, QuotedPrintableAndUnknownEncodings) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "caf=C3=A9 =\r\nsoft\r\n"
      "--b\r\n"
      "Content-Transfer-Encoding: x-uuencode\r\n\r\n"
      "begin 644 x\r\n"
      "--b\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n"
      "!!!not base64!!!\r\n"
      "--b--\r\n";
  mime::Summary s = ParseOrDie(raw);
  EXPECT_EQ(ExtractBinary(raw, s, {1}).value_or("?"), "caf\xc3\xa9 soft");
  auto unknown = ExtractBinary(raw, s, {2});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalid);
  auto bad = ExtractBinary(raw, s, {3});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalid);
}

}  // namespace
}  // namespace correio::imap

namespace correio::imap {
namespace {

void CheckAllParts(std::string_view raw, const mime::Summary& s,
                   std::vector<uint32_t>& path, int depth) {
  for (uint32_t n = 1; n <= 5; ++n) {
    path.push_back(n);
    const mime::Part* p = FindPart(s, path);
    if (p != nullptr) {
      // MIME header and body are adjacent bytes of the raw message.
      std::string mime = ExtractSection(raw, s, Sec(path, Kind::kMime));
      std::string body = ExtractSection(raw, s, Sec(path));
      EXPECT_EQ(mime + body,
                raw.substr(p->header_start, p->body_end - p->header_start));
      for (Kind k : {Kind::kHeader, Kind::kText, Kind::kHeaderFields,
                     Kind::kHeaderFieldsNot}) {
        std::string part = ExtractSection(raw, s, Sec(path, k, {"subject"}));
        if (k == Kind::kHeader || k == Kind::kText) {
          EXPECT_EQ(part.empty() || raw.find(part) != std::string_view::npos,
                    true);
        }
      }
      (void)ExtractBinary(raw, s, path);
      if (depth < 4) CheckAllParts(raw, s, path, depth + 1);
    } else {
      EXPECT_EQ(ExtractSection(raw, s, Sec(path)), "");
    }
    path.pop_back();
  }
}

// Every prefix of a nested message (what a truncated upload or a broken
// sender produces) parses to a tree whose sections are all consistent.
TEST(SectionPrefixTest, EveryTruncationIsConsistent) {
  const std::string full = kTree;
  for (size_t len = 0; len <= full.size(); ++len) {
    std::string raw = full.substr(0, len);
    mime::Summary s = ParseOrDie(raw);
    std::vector<uint32_t> path;
    CheckAllParts(raw, s, path, 0);
    EXPECT_EQ(ExtractSection(raw, s, Sec({}, Kind::kHeader)) +
                  ExtractSection(raw, s, Sec({}, Kind::kText)),
              raw);
  }
}

}  // namespace
}  // namespace correio::imap
