#include "pop3/proto/command.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

#include "base/strings.h"

namespace correio::pop3::proto {

void LineReader::Feed(std::string_view data) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data);
}

LineReader::Next LineReader::Pop() {
  for (;;) {
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    size_t lf = rest.find('\n');
    if (discarding_) {
      if (lf == std::string_view::npos) {
        buf_.clear();
        pos_ = 0;
        return {};
      }
      pos_ += lf + 1;
      discarding_ = false;
      return {Status::kTooLong, {}};
    }
    if (lf == std::string_view::npos) {
      if (rest.size() >= max_line_) {
        // No line end within the limit: drop what we have and the rest of
        // the line as it arrives, so memory stays bounded.
        discarding_ = true;
        buf_.clear();
        pos_ = 0;
        continue;
      }
      return {};
    }
    pos_ += lf + 1;
    if (lf + 1 > max_line_) return {Status::kTooLong, {}};
    std::string_view line = rest.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return {Status::kLine, std::string(line)};
  }
}

void LineReader::Reset() {
  std::string().swap(buf_);
  pos_ = 0;
  discarding_ = false;
}

const CommandSpec& SpecOf(Verb verb) {
  for (const auto& spec : kCommands) {
    if (spec.verb == verb) return spec;
  }
  return kCommands[0];  // unreachable: every Verb has a row
}

namespace {

// Words separated by one or more spaces (RFC 1939 §3 says one; clients and
// people typing at a terminal sometimes send more).
std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

Result<uint32_t> MessageNumber(std::string_view word) {
  // RFC 1939 §3: msg is a decimal number; ours are 32-bit (RFC 2449 §4
  // limits arguments to 40 octets, but nothing past 2^32-1 can exist).
  std::optional<uint64_t> n = ParseUint64(word);
  if (!n || *n > std::numeric_limits<uint32_t>::max()) {
    return Fail(ErrorCode::kInvalid, "Invalid message number");
  }
  return static_cast<uint32_t>(*n);
}

}  // namespace

Result<Command> ParseCommand(std::string_view line) {
  size_t sp = line.find(' ');
  std::string_view keyword = line.substr(0, sp);
  std::string_view rest =
      sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  const CommandSpec* spec = nullptr;
  for (const auto& s : kCommands) {
    if (EqualsIgnoreCase(keyword, s.name)) {
      spec = &s;
      break;
    }
  }
  if (spec == nullptr) return Fail(ErrorCode::kInvalid, "Unknown command");
  Command cmd;
  cmd.verb = spec->verb;
  if (spec->args == Args::kRest) {
    // RFC 1939 §7 PASS: the argument may contain spaces; take it verbatim.
    if (rest.empty()) return Fail(ErrorCode::kInvalid, "Missing argument");
    cmd.text = std::string(rest);
    return cmd;
  }
  std::vector<std::string_view> words = Words(rest);
  auto count = [&](size_t min, size_t max) -> Status {
    if (words.size() < min) {
      return Fail(ErrorCode::kInvalid, "Missing argument");
    }
    if (words.size() > max) {
      return Fail(ErrorCode::kInvalid, "Too many arguments");
    }
    return {};
  };
  switch (spec->args) {
    case Args::kNone:
      if (auto st = count(0, 0); !st) return Fail(st.error());
      break;
    case Args::kOptionalNumber:
    case Args::kNumber: {
      size_t min = spec->args == Args::kNumber ? 1 : 0;
      if (auto st = count(min, 1); !st) return Fail(st.error());
      if (!words.empty()) {
        auto n = MessageNumber(words[0]);
        if (!n) return Fail(n.error());
        cmd.number = *n;
      }
      break;
    }
    case Args::kNumberAndLines: {
      if (auto st = count(2, 2); !st) return Fail(st.error());
      auto n = MessageNumber(words[0]);
      if (!n) return Fail(n.error());
      cmd.number = *n;
      std::optional<uint64_t> lines = ParseUint64(words[1]);
      if (!lines) return Fail(ErrorCode::kInvalid, "Invalid number of lines");
      cmd.lines = *lines;
      break;
    }
    case Args::kName:
      if (auto st = count(1, 1); !st) return Fail(st.error());
      cmd.text = std::string(words[0]);
      break;
    case Args::kNameAndDigest: {
      if (auto st = count(2, 2); !st) return Fail(st.error());
      std::string_view digest = words[1];
      bool hex = digest.size() == 32 &&
                 std::all_of(digest.begin(), digest.end(), [](char c) {
                   return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                 });
      if (!hex) return Fail(ErrorCode::kInvalid, "Invalid digest");
      cmd.text = std::string(words[0]);
      cmd.digest = AsciiLowercase(digest);
      break;
    }
    case Args::kMechanism:
      // RFC 5034 §4: AUTH mechanism [initial-response].
      if (auto st = count(0, 2); !st) return Fail(st.error());
      if (!words.empty()) cmd.text = std::string(words[0]);
      if (words.size() == 2) cmd.initial_response = std::string(words[1]);
      break;
    case Args::kRest:
      break;  // handled above
  }
  return cmd;
}

}  // namespace correio::pop3::proto
