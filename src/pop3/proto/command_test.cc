#include "pop3/proto/command.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace correio::pop3::proto {
namespace {

// Feeds `input` in two pieces split at `split` (or one byte at a time when
// split is npos) and returns every line / error marker popped.
std::vector<std::string> Split(std::string_view input, size_t split,
                               size_t max_line = 64) {
  LineReader reader(max_line);
  std::vector<std::string> out;
  auto drain = [&] {
    for (;;) {
      LineReader::Next next = reader.Pop();
      if (next.status == LineReader::Status::kNeedMore) return;
      out.push_back(next.status == LineReader::Status::kLine
                        ? next.line
                        : std::string("<TOOLONG>"));
    }
  };
  if (split == std::string_view::npos) {
    for (char c : input) {
      reader.Feed(std::string_view(&c, 1));
      drain();
    }
  } else {
    reader.Feed(input.substr(0, split));
    drain();
    reader.Feed(input.substr(split));
    drain();
  }
  return out;
}

TEST(LineReader, SplitsAtEveryOffsetAndByteByByte) {
  const std::string input =
      "USER alice@example.org\r\nPASS a b c\r\nSTAT\nLIST 1\r\n\r\nRETR 2\r\n"
      "partial";
  const std::vector<std::string> want = {
      "USER alice@example.org", "PASS a b c", "STAT", "LIST 1", "", "RETR 2"};
  for (size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(Split(input, i), want) << "split at " << i;
  }
  EXPECT_EQ(Split(input, std::string_view::npos), want);
}

TEST(LineReader, OverlongLineIsReportedOnceAndReadingGoesOn) {
  std::string input = "NOOP\r\n" + std::string(200, 'x') + "\r\nSTAT\r\n";
  const std::vector<std::string> want = {"NOOP", "<TOOLONG>", "STAT"};
  for (size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(Split(input, i, 64), want) << "split at " << i;
  }
  EXPECT_EQ(Split(input, std::string_view::npos, 64), want);
}

TEST(LineReader, LimitCountsTheLineEnd) {
  // max_line 8: "1234567\n" (8 octets with LF) fits, "12345678\n" does not.
  EXPECT_EQ(Split("1234567\n", 3, 8), std::vector<std::string>{"1234567"});
  EXPECT_EQ(Split("12345678\nA\n", 3, 8),
            (std::vector<std::string>{"<TOOLONG>", "A"}));
  EXPECT_EQ(Split("123456\r\n", 3, 8), std::vector<std::string>{"123456"});
  EXPECT_EQ(Split("1234567\r\n", 3, 8), std::vector<std::string>{"<TOOLONG>"});
}

TEST(LineReader, MemoryStaysBoundedWithoutLineEnd) {
  LineReader reader(64);
  std::string junk(1000, 'y');
  for (int i = 0; i < 100; ++i) {
    reader.Feed(junk);
    EXPECT_EQ(reader.Pop().status, LineReader::Status::kNeedMore);
    EXPECT_LE(reader.buffered(), 64u);
  }
  reader.Feed("tail\r\nNOOP\r\n");
  EXPECT_EQ(reader.Pop().status, LineReader::Status::kTooLong);
  auto next = reader.Pop();
  EXPECT_EQ(next.status, LineReader::Status::kLine);
  EXPECT_EQ(next.line, "NOOP");
}

TEST(LineReader, ResetDropsPipelinedInput) {
  LineReader reader(64);
  reader.Feed("STLS\r\nUSER mallory\r\n");
  auto first = reader.Pop();
  EXPECT_EQ(first.line, "STLS");
  reader.Reset();
  EXPECT_EQ(reader.Pop().status, LineReader::Status::kNeedMore);
  EXPECT_EQ(reader.buffered(), 0u);
}

Command Parse(std::string_view line) {
  auto cmd = ParseCommand(line);
  EXPECT_TRUE(cmd) << line << ": " << cmd.error().message();
  return cmd ? *cmd : Command{};
}

std::string ParseError(std::string_view line) {
  auto cmd = ParseCommand(line);
  EXPECT_FALSE(cmd) << line;
  return cmd ? "" : cmd.error().message();
}

TEST(ParseCommand, EveryVerbCaseInsensitive) {
  for (const auto& spec : kCommands) {
    std::string line(spec.name);
    for (auto& c : line) c = static_cast<char>(c | 0x20);
    switch (spec.args) {
      case Args::kNumber:
        line += " 1";
        break;
      case Args::kNumberAndLines:
        line += " 1 0";
        break;
      case Args::kName:
      case Args::kRest:
        line += " x";
        break;
      case Args::kNameAndDigest:
        line += " x c4c9334bac560ecc979e58001b3e22fb";
        break;
      default:
        break;
    }
    EXPECT_EQ(Parse(line).verb, spec.verb) << line;
    EXPECT_EQ(SpecOf(spec.verb).name, spec.name);
  }
}

TEST(ParseCommand, Arguments) {
  Command list = Parse("LIST");
  EXPECT_FALSE(list.number);
  EXPECT_EQ(Parse("LIST 7").number, 7u);
  EXPECT_EQ(Parse("uidl 4294967295").number, 4294967295u);
  Command top = Parse("TOP 3 10");
  EXPECT_EQ(top.number, 3u);
  EXPECT_EQ(top.lines, 10u);
  EXPECT_EQ(Parse("TOP 3 18446744073709551615").lines, 18446744073709551615ull);
  EXPECT_EQ(Parse("USER alice@example.org").text, "alice@example.org");
  // RFC 1939 §7: a password may contain spaces; it is taken verbatim.
  EXPECT_EQ(Parse("PASS  two words ").text, " two words ");
  Command auth = Parse("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(auth.text, "PLAIN");
  EXPECT_EQ(auth.initial_response, "AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(Parse("AUTH PLAIN =").initial_response, "=");
  EXPECT_FALSE(Parse("AUTH SCRAM-SHA-256").initial_response);
  EXPECT_EQ(Parse("AUTH").text, "");
  EXPECT_EQ(Parse("DELE 0").number, 0u);  // the session says "no such message"
  // RFC 1939 §7's example; the digest is lowercased for comparison.
  Command apop = Parse("APOP mrose C4C9334BAC560ECC979E58001B3E22FB");
  EXPECT_EQ(apop.verb, Verb::kApop);
  EXPECT_EQ(apop.text, "mrose");
  EXPECT_EQ(apop.digest, "c4c9334bac560ecc979e58001b3e22fb");
}

TEST(ParseCommand, Errors) {
  EXPECT_EQ(ParseError("FOO"), "Unknown command");
  EXPECT_EQ(ParseError(""), "Unknown command");
  EXPECT_EQ(ParseError("APOP alice 0123456789abcdef"), "Invalid digest");
  EXPECT_EQ(ParseError("APOP alice c4c9334bac560ecc979e58001b3e22fg"),
            "Invalid digest");
  EXPECT_EQ(ParseError("APOP alice"), "Missing argument");
  EXPECT_EQ(ParseError("RETR"), "Missing argument");
  EXPECT_EQ(ParseError("PASS"), "Missing argument");
  EXPECT_EQ(ParseError("USER"), "Missing argument");
  EXPECT_EQ(ParseError("STAT 1"), "Too many arguments");
  EXPECT_EQ(ParseError("USER a b"), "Too many arguments");
  EXPECT_EQ(ParseError("RETR 4294967296"), "Invalid message number");
  EXPECT_EQ(ParseError("RETR 99999999999999999999999"),
            "Invalid message number");
  EXPECT_EQ(ParseError("RETR -1"), "Invalid message number");
  EXPECT_EQ(ParseError("RETR +1"), "Invalid message number");
  EXPECT_EQ(ParseError("RETR 1x"), "Invalid message number");
  EXPECT_EQ(ParseError("TOP 1"), "Missing argument");
  EXPECT_EQ(ParseError("TOP 1 x"), "Invalid number of lines");
  EXPECT_EQ(ParseError("AUTH PLAIN a b"), "Too many arguments");
  EXPECT_EQ(ParseError("LIST 1 2"), "Too many arguments");
}

}  // namespace
}  // namespace correio::pop3::proto
