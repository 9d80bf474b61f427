#include "smtp/client/reply.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace correio::smtp::client {
namespace {

std::vector<Reply> ParseAll(const std::vector<std::string_view>& pieces,
                            ReplyParser::Limits limits = {}) {
  ReplyParser p(limits);
  std::vector<Reply> out;
  for (auto piece : pieces) {
    auto st = p.Feed(piece);
    EXPECT_TRUE(st) << st.error().message();
    Reply r;
    while (p.Next(&r)) out.push_back(r);
  }
  return out;
}

const char kEhlo[] =
    "250-mx.example.net Hello\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 1000000\r\n"
    "250-8BITMIME\r\n"
    "250 DSN\r\n"
    "550 5.1.1 <x@y> No such user\r\n"
    "354\r\n";

void CheckEhloSequence(const std::vector<Reply>& replies) {
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].code, 250);
  ASSERT_EQ(replies[0].lines.size(), 5u);
  EXPECT_EQ(replies[0].lines[0], "mx.example.net Hello");
  EXPECT_EQ(replies[0].lines[2], "SIZE 1000000");
  EXPECT_EQ(replies[0].enhanced, "");
  EXPECT_EQ(replies[1].code, 550);
  EXPECT_EQ(replies[1].enhanced, "5.1.1");
  EXPECT_TRUE(replies[1].permanent());
  EXPECT_EQ(replies[1].ToString(), "550 5.1.1 <x@y> No such user");
  EXPECT_EQ(replies[2].code, 354);
  ASSERT_EQ(replies[2].lines.size(), 1u);
  EXPECT_EQ(replies[2].lines[0], "");
}

TEST(ReplyParserTest, WholeInput) { CheckEhloSequence(ParseAll({kEhlo})); }

TEST(ReplyParserTest, SplitAtEveryOffset) {
  std::string_view all(kEhlo);
  for (size_t i = 0; i <= all.size(); ++i) {
    SCOPED_TRACE(i);
    CheckEhloSequence(ParseAll({all.substr(0, i), all.substr(i)}));
  }
}

TEST(ReplyParserTest, OneByteAtATime) {
  std::string_view all(kEhlo);
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < all.size(); ++i) pieces.push_back(all.substr(i, 1));
  CheckEhloSequence(ParseAll(pieces));
}

TEST(ReplyParserTest, ToleratesBareLf) {
  auto r = ParseAll({"250-a\n250 b\n"});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].lines, (std::vector<std::string>{"a", "b"}));
}

TEST(ReplyParserTest, NoReplyUntilLastLine) {
  ReplyParser p;
  ASSERT_TRUE(p.Feed("250-first\r\n250-second\r\n"));
  EXPECT_FALSE(p.HasReply());
  EXPECT_TRUE(p.HasPartialData());
  ASSERT_TRUE(p.Feed("250 last\r\n"));
  EXPECT_TRUE(p.HasReply());
  Reply r;
  ASSERT_TRUE(p.Next(&r));
  EXPECT_FALSE(p.HasPartialData());
}

TEST(ReplyParserTest, RejectsMalformed) {
  for (std::string_view bad :
       {"25\r\n", "abc hello\r\n", "250x\r\n", "150 no\r\n", "260 bad\r\n",
        "250-one\r\n251 two\r\n"}) {
    SCOPED_TRACE(bad);
    ReplyParser p;
    auto st = p.Feed(bad);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalid);
    // Sticky: the connection is unusable.
    EXPECT_FALSE(p.Feed("250 ok\r\n"));
  }
}

TEST(ReplyParserTest, EndlessMultilineIsBounded) {
  ReplyParser p(ReplyParser::Limits{.max_line = 100, .max_lines = 10});
  Status st;
  int fed = 0;
  while (st && fed < 1000) {
    st = p.Feed("250-more\r\n");
    ++fed;
  }
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kTooBig);
  EXPECT_EQ(fed, 11);
}

TEST(ReplyParserTest, OverlongLineIsBounded) {
  ReplyParser p(ReplyParser::Limits{.max_line = 100, .max_lines = 10});
  auto st = p.Feed("250 " + std::string(60, 'x'));
  ASSERT_TRUE(st);
  st = p.Feed(std::string(60, 'x'));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kTooBig);
  // The same line in one piece with its CRLF.
  ReplyParser q(ReplyParser::Limits{.max_line = 100, .max_lines = 10});
  EXPECT_FALSE(q.Feed("250 " + std::string(120, 'x') + "\r\n"));
}

TEST(ReplyParserTest, EnhancedCodeMustMatchClass) {
  auto r = ParseAll({"450 5.1.1 mismatch\r\n", "250 2.0.0\r\n",
                     "550 5.1.10x no\r\n", "421 4.4.2 bye\r\n"});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].enhanced, "");
  EXPECT_EQ(r[1].enhanced, "2.0.0");
  EXPECT_EQ(r[2].enhanced, "");
  EXPECT_EQ(r[3].enhanced, "4.4.2");
}

TEST(ReplyParserTest, ToStringMasksControls) {
  auto r = ParseAll({"550-a\x01\r\n550 b\r\n"});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].ToString(), "550 a? / b");
}

TEST(XtextTest, Encodes) {
  EXPECT_EQ(XtextEncode("rfc822;a+b=c@x y"), "rfc822;a+2Bb+3Dc@x+20y");
  EXPECT_EQ(XtextEncode("\xc3\xa9"), "+C3+A9");
}

}  // namespace
}  // namespace correio::smtp::client
