#include "smtp/proto/reply.h"

#include <fmt/format.h>

namespace correio::smtp {

namespace {

// Replies are one line each: a CR or LF inside the text would start a
// reply line of its own.
std::string Clean(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\r' || c == '\n') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendLine(std::string& out, uint16_t code, char sep,
                std::string_view status, std::string_view text) {
  out += fmt::format("{:03d}{}", code, sep);
  if (!status.empty()) {
    out += status;
    if (!text.empty()) out.push_back(' ');
  }
  out += Clean(text);
  out += "\r\n";
}

}  // namespace

std::string FormatReply(uint16_t code, std::string_view status,
                        std::string_view text) {
  std::string out;
  AppendLine(out, code, ' ', status, text);
  return out;
}

std::string FormatReply(const Reply& reply) {
  return FormatReply(reply.code, reply.status, reply.text);
}

std::string FormatMultiline(uint16_t code, std::string_view status,
                            const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    AppendLine(out, code, i + 1 == lines.size() ? ' ' : '-', status, lines[i]);
  }
  return out;
}

}  // namespace correio::smtp
