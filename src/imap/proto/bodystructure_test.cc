#include "imap/proto/bodystructure.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "imap/proto/envelope.h"
#include "mime/message.h"

namespace correio::imap {
namespace {

mime::Summary ParseOrDie(std::string_view raw) {
  auto s = mime::Parse(raw);
  EXPECT_TRUE(s.has_value());
  return s.has_value() ? *s : mime::Summary{};
}

TEST(BodyStructureTest, PlainTextWithoutCharsetGetsDefault) {
  const std::string raw =
      "Subject: x\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n";
  mime::Summary s = ParseOrDie(raw);
  EXPECT_EQ(RenderBodyStructure(s, false, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
            "14 2)");
  EXPECT_EQ(RenderBodyStructure(s, true, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
            "14 2 NIL NIL NIL NIL)");
}

TEST(BodyStructureTest, TextWithOtherParamsStillGetsCharset) {
  const std::string raw =
      "Content-Type: text/plain; format=flowed\r\n\r\nhi\r\n";
  EXPECT_EQ(RenderBodyStructure(ParseOrDie(raw), false, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"FORMAT\" "
            "\"flowed\") NIL NIL \"7BIT\" 4 1)");
}

TEST(BodyStructureTest, NoContentTypeAtAll) {
  const std::string raw = "Subject: x\r\n\r\nline\r\n";
  EXPECT_EQ(RenderBodyStructure(ParseOrDie(raw), false, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" "
            "6 1)");
}

const char kAlternative[] =
    "From: a@example.com\r\n"
    "Subject: alt\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Gr=C3=BC=C3=9Fe\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "\r\n"
    "<p>Hi</p>\r\n"
    "<p>there</p>\r\n"
    "--b1--\r\n";

TEST(BodyStructureTest, MultipartAlternative) {
  mime::Summary s = ParseOrDie(kAlternative);
  EXPECT_EQ(RenderBodyStructure(s, false, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\") NIL NIL "
            "\"QUOTED-PRINTABLE\" 15 1)"
            "(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\") NIL NIL \"7BIT\" 23 2)"
            " \"ALTERNATIVE\")");
  EXPECT_EQ(RenderBodyStructure(s, true, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\") NIL NIL "
            "\"QUOTED-PRINTABLE\" 15 1 NIL NIL NIL NIL)"
            "(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\") NIL NIL \"7BIT\" 23 2 "
            "NIL NIL NIL NIL)"
            " \"ALTERNATIVE\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
}

const char kMixed[] =
    "From: Sender <s@example.com>\r\n"
    "To: r@example.org\r\n"
    "Subject: report\r\n"
    "Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n"
    "Content-Language: en, de\r\n"
    "\r\n"
    "--=_outer\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "Content-Language: en\r\n"
    "\r\n"
    "See attached.\r\n"
    "--=_outer\r\n"
    "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    "Content-ID: <part2@example.com>\r\n"
    "Content-Description: The report\r\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
    "Content-Location: http://example.com/report.pdf\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--=_outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Disposition: inline\r\n"
    "\r\n"
    "From: Inner <inner@example.net>\r\n"
    "Subject: inner\r\n"
    "Message-ID: <inner@example.net>\r\n"
    "\r\n"
    "inner body\r\n"
    "--=_outer--\r\n";

TEST(BodyStructureTest, MixedWithAttachmentAndMessage) {
  mime::Summary s = ParseOrDie(kMixed);
  const std::string inner_env =
      "(NIL \"inner\" ((\"Inner\" NIL \"inner\" \"example.net\")) "
      "((\"Inner\" NIL \"inner\" \"example.net\")) "
      "((\"Inner\" NIL \"inner\" \"example.net\")) NIL NIL NIL NIL "
      "\"<inner@example.net>\")";
  EXPECT_EQ(
      RenderBodyStructure(s, true, false),
      "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 1 "
      "NIL NIL \"en\" NIL)"
      "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") "
      "\"<part2@example.com>\" \"The report\" \"BASE64\" 12 "
      "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
      "(\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) NIL "
      "\"http://example.com/report.pdf\")"
      "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 94 " +
          inner_env +
          " (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" "
          "10 1 NIL NIL NIL NIL) 5 NIL (\"INLINE\" NIL) NIL NIL)"
          " \"MIXED\" (\"BOUNDARY\" \"=_outer\") NIL (\"en\" \"de\") NIL)");
  // BODY drops every extension field, also inside the message.
  EXPECT_EQ(
      RenderBodyStructure(s, false, false),
      "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 1)"
      "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") "
      "\"<part2@example.com>\" \"The report\" \"BASE64\" 12)"
      "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 94 " +
          inner_env +
          " (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" "
          "10 1) 5) \"MIXED\")");
}

TEST(BodyStructureTest, Rfc2231ParamsPerClientMode) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=XX\r\n"
      "\r\n"
      "--XX\r\n"
      "Content-Type: text/plain; charset=utf-8;\r\n"
      " name*0*=utf-8''%E2%82%AC%20rat;\r\n"
      " name*1=es.txt\r\n"
      "Content-Disposition: attachment;\r\n"
      " filename*=UTF-8''%E2%82%AC%20rates.txt\r\n"
      "\r\n"
      "x\r\n"
      "--XX--\r\n";
  mime::Summary s = ParseOrDie(raw);
  std::string legacy = RenderBodyStructure(s, true, false);
  EXPECT_NE(legacy.find("(\"CHARSET\" \"utf-8\" \"NAME*\" "
                        "\"utf-8''%E2%82%AC%20rates.txt\")"),
            std::string::npos)
      << legacy;
  EXPECT_NE(legacy.find("(\"ATTACHMENT\" (\"FILENAME*\" "
                        "\"utf-8''%E2%82%AC%20rates.txt\"))"),
            std::string::npos)
      << legacy;
  std::string utf8 = RenderBodyStructure(s, true, true);
  EXPECT_NE(utf8.find("(\"ATTACHMENT\" (\"FILENAME\" "
                      "\"\xe2\x82\xac rates.txt\"))"),
            std::string::npos)
      << utf8;
  for (char c : legacy) EXPECT_LT(static_cast<unsigned char>(c), 0x80);
}

TEST(BodyStructureTest, EncodedMessageRfc822IsOpaque) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=XX\r\n"
      "\r\n"
      "--XX\r\n"
      "Content-Type: message/rfc822\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "U3ViamVjdDogeA0KDQpoaQ0K\r\n"
      "--XX--\r\n";
  EXPECT_EQ(RenderBodyStructure(ParseOrDie(raw), false, false),
            "((\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 24) "
            "\"MIXED\")");
}

TEST(BodyStructureTest, NestedMultipartInsideMessage) {
  const std::string raw =
      "Content-Type: message/rfc822\r\n"
      "\r\n"
      "Subject: fwd\r\n"
      "Content-Type: multipart/related; boundary=r\r\n"
      "\r\n"
      "--r\r\n"
      "\r\n"
      "a\r\n"
      "--r\r\n"
      "Content-Type: image/png\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "iVBO\r\n"
      "--r--\r\n";
  mime::Summary s = ParseOrDie(raw);
  std::string body = RenderBodyStructure(s, false, false);
  EXPECT_EQ(body.substr(0, 39),
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" ");
  EXPECT_NE(
      body.find(" ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
                "\"7BIT\" 1 1)(\"IMAGE\" \"PNG\" NIL NIL NIL \"BASE64\" "
                "4) \"RELATED\") 12)"),
      std::string::npos)
      << body;
}

TEST(BodyStructureTest, MultipartWithoutBoundaryLinesHasOneEmptyPart) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=nope\r\n\r\nno parts here\r\n";
  EXPECT_EQ(RenderBodyStructure(ParseOrDie(raw), false, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" "
            "0 0) \"MIXED\")");
}

TEST(BodyStructureTest, EightBitDescriptionLegacyMode) {
  const std::string raw =
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Description: R\xc3\xa9sum\xc3\xa9\r\n\r\nx\r\n";
  mime::Summary s = ParseOrDie(raw);
  EXPECT_EQ(RenderBodyStructure(s, false, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL "
            "\"=?utf-8?b?UsOpc3Vtw6k=?=\" \"7BIT\" 3 1)");
  EXPECT_EQ(RenderBodyStructure(s, false, true),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL "
            "\"R\xc3\xa9sum\xc3\xa9\" \"7BIT\" 3 1)");
}

}  // namespace
}  // namespace correio::imap

// A strict checker for the RFC 9051 §9 body / envelope grammar, run over
// every message of the mime test corpus in all four output modes.
namespace correio::imap {
namespace {

class GrammarChecker {
 public:
  GrammarChecker(std::string_view s, bool extended, bool utf8)
      : s_(s), extended_(extended), utf8_(utf8) {}

  // Returns "" when `s` is exactly one valid body, else what went wrong.
  std::string CheckBody() {
    Body(0);
    if (err_.empty() && pos_ != s_.size()) Fail("trailing bytes");
    return err_;
  }
  std::string CheckEnvelope() {
    Envelope();
    if (err_.empty() && pos_ != s_.size()) Fail("trailing bytes");
    return err_;
  }

 private:
  void Fail(const std::string& what) {
    if (err_.empty()) err_ = what + " at " + std::to_string(pos_);
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void Expect(char c) {
    if (!Eat(c)) Fail(std::string("expected '") + c + "'");
  }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Nil() {
    if (s_.substr(pos_, 3) == "NIL") {
      pos_ += 3;
      return true;
    }
    return false;
  }
  // string = quoted / literal; returns its value.
  std::string String() {
    std::string v;
    if (Eat('"')) {
      while (pos_ < s_.size() && s_[pos_] != '"') {
        char c = s_[pos_++];
        if (c == '\\') {
          if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\\')) {
            Fail("bad escape");
            return v;
          }
          c = s_[pos_++];
        }
        auto u = static_cast<unsigned char>(c);
        if (u == 0 || c == '\r' || c == '\n') Fail("bad quoted char");
        if (u >= 0x80 && !utf8_) Fail("8-bit in quoted string");
        v += c;
      }
      Expect('"');
      return v;
    }
    if (Eat('{')) {
      size_t n = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        n = n * 10 + (s_[pos_++] - '0');
      }
      Expect('}');
      Expect('\r');
      Expect('\n');
      if (pos_ + n > s_.size()) {
        Fail("short literal");
        return v;
      }
      v = std::string(s_.substr(pos_, n));
      if (v.find('\0') != std::string::npos) Fail("NUL in literal");
      pos_ += n;
      return v;
    }
    Fail("expected string");
    return v;
  }
  void NString() {
    if (!Nil()) String();
  }
  uint64_t Number() {
    size_t start = pos_;
    uint64_t n = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      n = n * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start) Fail("expected number");
    return n;
  }
  void Sp() { Expect(' '); }
  void Params() {
    if (Nil()) return;
    Expect('(');
    String();
    Sp();
    String();
    while (Eat(' ')) {
      String();
      Sp();
      String();
    }
    Expect(')');
  }
  void Dsp() {
    if (Nil()) return;
    Expect('(');
    String();
    Sp();
    Params();
    Expect(')');
  }
  void Lang() {
    if (Eat('(')) {
      String();
      while (Eat(' ')) String();
      Expect(')');
    } else {
      NString();
    }
  }
  void AddressList() {
    if (Nil()) return;
    Expect('(');
    do {
      Expect('(');
      NString();
      Sp();
      NString();
      Sp();
      NString();
      Sp();
      NString();
      Expect(')');
    } while (err_.empty() && Peek('('));
    Expect(')');
  }
  void Envelope() {
    Expect('(');
    NString();  // date
    Sp();
    NString();  // subject
    for (int i = 0; i < 6; ++i) {
      Sp();
      AddressList();
    }
    Sp();
    NString();
    Sp();
    NString();
    Expect(')');
  }
  void Body(int depth) {
    if (depth > 200) return Fail("too deep");
    Expect('(');
    if (Peek('(')) {
      // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
      while (err_.empty() && Peek('(')) Body(depth + 1);
      Sp();
      String();
      if (extended_) {
        Sp();
        Params();
        Sp();
        Dsp();
        Sp();
        Lang();
        Sp();
        NString();
      }
      Expect(')');
      return;
    }
    std::string type = String();
    Sp();
    std::string subtype = String();
    Sp();
    Params();
    Sp();
    NString();  // id
    Sp();
    NString();  // description
    Sp();
    String();  // encoding
    Sp();
    Number();
    if (type == "MESSAGE" && (subtype == "RFC822" || subtype == "GLOBAL")) {
      Sp();
      Envelope();
      Sp();
      Body(depth + 1);
      Sp();
      Number();
    } else if (type == "TEXT") {
      Sp();
      Number();
    }
    if (extended_) {
      Sp();
      NString();  // md5
      Sp();
      Dsp();
      Sp();
      Lang();
      Sp();
      NString();  // location
    }
    Expect(')');
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool extended_;
  bool utf8_;
  std::string err_;
};

std::string ReadCorpusFile(const std::string& name) {
  std::string path(__FILE__);
  path = path.substr(0, path.rfind('/')) + "/../../mime/testdata/" + name;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(BodyStructureGrammarTest, CorpusRendersValidBodies) {
  const char* const kFiles[] = {
      "simple.eml",
      "alternative_related.eml",
      "rfc822_attachment.eml",
      "encoded_words.eml",
      "rfc2231.eml",
      "qp_base64.eml",
      "broken_no_final_boundary.eml",
      "broken_boundary_never.eml",
      "broken_bad_base64.eml",
      "bare_lf.eml",
      "nul_bytes.eml",
      "header_no_colon.eml",
      "utf8_headers.eml",
  };
  for (const char* f : kFiles) {
    std::string raw = ReadCorpusFile(f);
    ASSERT_FALSE(raw.empty()) << f;
    mime::Summary s = ParseOrDie(raw);
    for (bool extended : {false, true}) {
      for (bool utf8 : {false, true}) {
        std::string out = RenderBodyStructure(s, extended, utf8);
        EXPECT_EQ(GrammarChecker(out, extended, utf8).CheckBody(), "")
            << f << " extended=" << extended << " utf8=" << utf8 << "\n"
            << out;
      }
    }
    for (bool utf8 : {false, true}) {
      std::string env = RenderEnvelope(s, utf8);
      EXPECT_EQ(GrammarChecker(env, false, utf8).CheckEnvelope(), "")
          << f << " utf8=" << utf8 << "\n"
          << env;
    }
  }
}

TEST(BodyStructureGrammarTest, CheckerRejectsBrokenOutput) {
  // The checker itself must be able to fail.
  EXPECT_NE(GrammarChecker("(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3)", false,
                           false)
                .CheckBody(),
            "");  // text without lines
  EXPECT_NE(GrammarChecker("((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3 1))",
                           false, false)
                .CheckBody(),
            "");  // multipart without subtype
  EXPECT_NE(GrammarChecker("(\"A\" \"B\" NIL NIL \"caf\xc3\xa9\" \"7BIT\" 3)",
                           false, false)
                .CheckBody(),
            "");  // 8-bit in a quoted string for a legacy client
  EXPECT_EQ(GrammarChecker("(\"A\" \"B\" NIL NIL NIL \"7BIT\" 3)", false, false)
                .CheckBody(),
            "");
}

}  // namespace
}  // namespace correio::imap
