#include "pop3/proto/reply.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace correio::pop3::proto {
namespace {

// Writes `message` through a MessageWriter split at `split` (npos: one byte
// at a time), stopping early once done() like the session does.
std::string Write(std::string_view message, size_t split,
                  std::optional<uint64_t> lines = std::nullopt) {
  MessageWriter w(lines);
  std::string out;
  if (split == std::string_view::npos) {
    for (char c : message) {
      if (w.done()) break;
      w.Feed(std::string_view(&c, 1), out);
    }
  } else {
    w.Feed(message.substr(0, split), out);
    if (!w.done()) w.Feed(message.substr(split), out);
  }
  w.Finish(out);
  return out;
}

void ExpectAllSplits(std::string_view message, std::string_view want,
                     std::optional<uint64_t> lines = std::nullopt) {
  for (size_t i = 0; i <= message.size(); ++i) {
    EXPECT_EQ(Write(message, i, lines), want) << "split at " << i;
  }
  EXPECT_EQ(Write(message, std::string_view::npos, lines), want);
}

TEST(Reply, StatusLines) {
  EXPECT_EQ(Ok("2 320"), "+OK 2 320\r\n");
  EXPECT_EQ(Ok(""), "+OK\r\n");
  EXPECT_EQ(Err(RespCode::kInUse, "Maildrop in use"),
            "-ERR [IN-USE] Maildrop in use\r\n");
  EXPECT_EQ(Err(RespCode::kSysTemp, "x"), "-ERR [SYS/TEMP] x\r\n");
  EXPECT_EQ(Err(RespCode::kAuth, "no"), "-ERR [AUTH] no\r\n");
  EXPECT_EQ(Err(RespCode::kNone, "bad\r\ninjected"), "-ERR bad  injected\r\n");
}

TEST(MessageWriter, DotStuffsAtEverySplit) {
  const std::string msg =
      "Subject: dots\r\n\r\n.leading\r\n..two\r\nmid.dle\r\n.\r\nend\r\n";
  const std::string want =
      "Subject: dots\r\n\r\n..leading\r\n...two\r\nmid.dle\r\n..\r\nend\r\n"
      ".\r\n";
  ExpectAllSplits(msg, want);
}

TEST(MessageWriter, CompletesLastLineAndFixesBareLf) {
  ExpectAllSplits("A: b\r\n\r\nno end", "A: b\r\n\r\nno end\r\n.\r\n");
  ExpectAllSplits("A: b\n\n.x\n", "A: b\r\n\r\n..x\r\n.\r\n");
  ExpectAllSplits("", ".\r\n");
}

TEST(MessageWriter, TopSendsHeaderBlankLineAndNLines) {
  const std::string msg = "From: a\r\nTo: b\r\n\r\n.one\r\ntwo\r\nthree\r\n";
  ExpectAllSplits(msg, "From: a\r\nTo: b\r\n\r\n.\r\n", 0);
  ExpectAllSplits(msg, "From: a\r\nTo: b\r\n\r\n..one\r\n.\r\n", 1);
  ExpectAllSplits(msg, "From: a\r\nTo: b\r\n\r\n..one\r\ntwo\r\n.\r\n", 2);
  ExpectAllSplits(msg, "From: a\r\nTo: b\r\n\r\n..one\r\ntwo\r\nthree\r\n.\r\n",
                  100);
  // No body at all: the whole header.
  ExpectAllSplits("From: a\r\n", "From: a\r\n.\r\n", 0);
}

TEST(MessageWriter, TopStopsEarly) {
  MessageWriter w(1);
  std::string out;
  w.Feed("H: v\r\n\r\nline1\r\n", out);
  EXPECT_TRUE(w.done());
  w.Feed("line2\r\n", out);  // ignored after the limit
  w.Finish(out);
  EXPECT_EQ(out, "H: v\r\n\r\nline1\r\n.\r\n");
}

TEST(MessageWriter, CrInsideALineIsNotABlankLine) {
  // "\r x\r\n" is not the header/body separator.
  ExpectAllSplits("A: b\r\n\rx\r\n\r\nbody\r\nmore\r\n",
                  "A: b\r\n\rx\r\n\r\nbody\r\n.\r\n", 1);
}

}  // namespace
}  // namespace correio::pop3::proto
