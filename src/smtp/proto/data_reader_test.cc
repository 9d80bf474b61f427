// DATA and BDAT readers: every input is also fed split at every offset and
// one octet at a time (STYLE 23); the smuggling endings must never end a
// message early.
#include "smtp/proto/data_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace correio::smtp {
namespace {

struct Outcome {
  bool done = false;
  size_t consumed = 0;
  std::string message;
  bool bare_lf = false, bare_cr = false, too_big = false, too_long = false;
  bool operator==(const Outcome&) const = default;
};

Outcome Run(const std::vector<std::string_view>& pieces,
            uint64_t max_size = 1 << 20, uint64_t max_line = 1000) {
  DataReader r(max_size, max_line);
  Outcome o;
  for (auto p : pieces) {
    if (r.done()) break;
    o.consumed += r.Feed(p);
  }
  o.done = r.done();
  o.message = r.message();
  o.bare_lf = r.bare_lf();
  o.bare_cr = r.bare_cr();
  o.too_big = r.too_big();
  o.too_long = r.line_too_long();
  return o;
}

// Feeds `in` whole, split at every offset, and byte by byte; all must agree.
Outcome RunAllSplits(std::string_view in, uint64_t max_size = 1 << 20,
                     uint64_t max_line = 1000) {
  Outcome whole = Run({in}, max_size, max_line);
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    Outcome split =
        Run({in.substr(0, cut), in.substr(cut)}, max_size, max_line);
    EXPECT_EQ(split, whole) << "split at " << cut;
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
  EXPECT_EQ(Run(bytes, max_size, max_line), whole) << "byte by byte";
  return whole;
}

TEST(DataReaderTest, SimpleMessageEndsAtCrlfDotCrlf) {
  std::string in = "Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n";
  auto o = RunAllSplits(in);
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.message, "Subject: hi\r\n\r\nbody\r\n");
  // Pipelined input after the end stays with the caller.
  EXPECT_EQ(o.consumed, in.size() - 6);
  EXPECT_FALSE(o.bare_lf || o.bare_cr || o.too_big || o.too_long);
}

TEST(DataReaderTest, EmptyMessage) {
  auto o = RunAllSplits(".\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.message, "");
  EXPECT_EQ(o.consumed, 3u);
}

TEST(DataReaderTest, DotUnstuffingIsExact) {
  auto o = RunAllSplits("..\r\n...x\r\n.y\r\na.b\r\n .\r\n.\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.message, ".\r\n..x\r\ny\r\na.b\r\n .\r\n");
}

TEST(DataReaderTest, NotDoneWithoutTerminator) {
  auto o = RunAllSplits("a\r\n.\r");
  EXPECT_FALSE(o.done);
  o = RunAllSplits("a\r\n..\r\n");
  EXPECT_FALSE(o.done);
}

// Each smuggling vector: the bogus end is not an end, the flag is set, and
// the real CRLF.CRLF still ends the (rejected) message, so nothing behind
// the bogus end is read as commands.
TEST(DataReaderTest, SmugglingEndingsAreNotEnds) {
  struct Case {
    std::string in;
    bool lf, cr;
  };
  const std::vector<Case> cases = {
      {"a\n.\nMAIL FROM:<x@y>\r\n.\r\n", true, false},
      {"a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", true, false},
      {"a\r.\rMAIL FROM:<x@y>\r\n.\r\n", false, true},
      {"a\r\n.\rMAIL FROM:<x@y>\r\n.\r\n", false, true},
      {"a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n", true, false},
      {"a\r.\r\nMAIL FROM:<x@y>\r\n.\r\n", false, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto o = RunAllSplits(c.in);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, c.in.size());  // the real end is the last 5 octets
    EXPECT_EQ(o.bare_lf, c.lf);
    EXPECT_EQ(o.bare_cr, c.cr);
  }
}

TEST(DataReaderTest, CarriageReturnBeforeCrlfIsBareCr) {
  // "\r\r\n": the first CR is bare; the line still ends at CRLF, and the
  // CRLF.CRLF that follows is a real end (the message is then refused).
  auto o = RunAllSplits("x\r\r\n.\r\nrest\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.consumed, 7u);
  EXPECT_TRUE(o.bare_cr);
  EXPECT_FALSE(o.bare_lf);
}

TEST(DataReaderTest, NulIsDataNotAnEnd) {
  std::string in("a\r\n.\0\r\nb\r\n.\r\n", 13);
  auto o = RunAllSplits(in);
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.consumed, in.size());
  EXPECT_EQ(o.message, std::string("a\r\n\0\r\nb\r\n", 9));
}

TEST(DataReaderTest, SizeLimitKeepsReadingToTheEnd) {
  std::string in = std::string(50, 'x') + "\r\n" + "tail\r\n.\r\nNOOP\r\n";
  auto o = RunAllSplits(in, /*max_size=*/20);
  EXPECT_TRUE(o.done);
  EXPECT_TRUE(o.too_big);
  EXPECT_EQ(o.message, "");
  EXPECT_EQ(o.consumed, in.size() - 6);
  // Exactly at the limit is fine.
  o = RunAllSplits("12345678\r\n.\r\n", /*max_size=*/10);
  EXPECT_FALSE(o.too_big);
  EXPECT_EQ(o.message, "12345678\r\n");
}

TEST(DataReaderTest, LineLengthLimit) {
  // 8 octets + CRLF = 10 fits a limit of 10; 11 does not.
  auto o = RunAllSplits("12345678\r\n.\r\n", 1 << 20, /*max_line=*/10);
  EXPECT_FALSE(o.too_long);
  o = RunAllSplits("123456789\r\n.\r\n", 1 << 20, /*max_line=*/10);
  EXPECT_TRUE(o.too_long);
  EXPECT_TRUE(o.done);
  // A line far longer than the message limit is an overlong line, not a
  // too-big message: what is past the line limit is not kept or counted.
  o = RunAllSplits(std::string(3000, 'x') + "\r\nrest\r\n.\r\n",
                   /*max_size=*/200, /*max_line=*/100);
  EXPECT_TRUE(o.too_long);
  EXPECT_FALSE(o.too_big);
  EXPECT_TRUE(o.done);
  EXPECT_LE(o.message.size(), 200u);
}

// Random messages of CRLF lines (dots, dot-only lines, empty lines, long
// runs) against an independent oracle: lines up to the first "." line,
// each with one leading dot removed. Fed whole, in random pieces and byte
// by byte (the reader takes runs inside a line in one step).
TEST(DataReaderTest, RandomLinesMatchTheOracle) {
  std::mt19937 rng(42);
  const std::vector<std::string> kinds = {"", ".", "..", ".x", "plain text",
                                          std::string(3000, 'a'), "a.b",
                                          " .", "x\t\x01\xff"};
  for (int round = 0; round < 300; ++round) {
    std::string in, expected;
    bool ended = false;
    size_t lines = rng() % 12;
    for (size_t l = 0; l < lines; ++l) {
      std::string line = kinds[rng() % kinds.size()];
      in += line + "\r\n";
      if (ended) continue;
      if (line == ".") {
        ended = true;
        continue;
      }
      expected += (line.starts_with('.') ? line.substr(1) : line) + "\r\n";
    }
    if (!ended) {
      in += ".\r\n";
      ended = true;
    }
    in += "QUIT\r\n";
    Outcome whole = smtp::Run({std::string_view(in)}, 1 << 20, 4000);
    ASSERT_TRUE(whole.done);
    EXPECT_EQ(whole.message, expected) << "round " << round;
    EXPECT_FALSE(whole.bare_cr || whole.bare_lf || whole.too_long);
    std::vector<std::string_view> pieces;
    for (size_t at = 0; at < in.size();) {
      size_t n = 1 + rng() % 700;
      pieces.push_back(std::string_view(in).substr(at, n));
      at += n;
    }
    EXPECT_EQ(smtp::Run(pieces, 1 << 20, 4000), whole) << "round " << round;
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < in.size(); ++i) {
      bytes.push_back(std::string_view(in).substr(i, 1));
    }
    EXPECT_EQ(smtp::Run(bytes, 1 << 20, 4000), whole) << "round " << round;
  }
}

TEST(ChunkAccumulatorTest, CrlfAcrossChunksIsFine) {
  ChunkAccumulator c(1000);
  c.Feed("a\r");
  c.Feed("\nb\r\n");
  c.Finish();
  EXPECT_FALSE(c.bare_cr());
  EXPECT_FALSE(c.bare_lf());
  EXPECT_EQ(c.message(), "a\r\nb\r\n");
  EXPECT_EQ(c.size(), 6u);
}

TEST(ChunkAccumulatorTest, BareEndsAtEveryOffset) {
  const std::vector<std::pair<std::string, std::pair<bool, bool>>> cases = {
      {"a\nb\r\n", {true, false}}, {"a\rb\r\n", {false, true}},
      {"a\r\nb\r", {false, true}}, {"a\r\n.\r\n", {false, false}},
      {"\n", {true, false}},
  };
  for (const auto& [in, want] : cases) {
    for (size_t cut = 0; cut <= in.size(); ++cut) {
      ChunkAccumulator c(1000);
      c.Feed(std::string_view(in).substr(0, cut));
      c.Feed(std::string_view(in).substr(cut));
      c.Finish();
      EXPECT_EQ(c.bare_lf(), want.first) << in << " cut " << cut;
      EXPECT_EQ(c.bare_cr(), want.second) << in << " cut " << cut;
      EXPECT_EQ(c.message(), in);
    }
  }
}

TEST(ChunkAccumulatorTest, SizeLimit) {
  ChunkAccumulator c(5);
  c.Feed("abc");
  EXPECT_FALSE(c.too_big());
  c.Feed("def");
  EXPECT_TRUE(c.too_big());
  EXPECT_EQ(c.size(), 6u);
  EXPECT_EQ(c.message(), "");
}

}  // namespace
}  // namespace correio::smtp
