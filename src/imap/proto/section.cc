#include "imap/proto/section.h"

#include <cstring>

#include "base/strings.h"

namespace correio::imap {
namespace {

std::string_view HeaderOf(std::string_view raw, const mime::Part& p) {
  if (p.body_start > raw.size() || p.header_start > p.body_start) return {};
  return raw.substr(p.header_start, p.body_start - p.header_start);
}

std::string_view BodyOf(std::string_view raw, const mime::Part& p) {
  if (p.body_end > raw.size() || p.body_start > p.body_end) return {};
  return raw.substr(p.body_start, p.body_end - p.body_start);
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

}  // namespace

const mime::Part* FindPart(const mime::Summary& s,
                           const std::vector<uint32_t>& part) {
  if (part.empty()) return nullptr;
  // `cur` is the entity whose subparts the next number selects. At the
  // top it is the message itself, which counts as a message: a
  // non-multipart message has one part, 1 (RFC 9051 §6.4.5).
  const mime::Part* cur = &s.root;
  bool as_message = true;
  for (uint32_t n : part) {
    if (n == 0) return nullptr;
    const mime::Part* entity = nullptr;
    if (as_message) {
      entity = cur;
    } else if (cur->is_multipart()) {
      entity = cur;
    } else if (cur->is_message() && cur->children.size() == 1) {
      entity = &cur->children[0];
    } else {
      return nullptr;  // a leaf has no subparts
    }
    if (entity->is_multipart()) {
      if (n > entity->children.size()) return nullptr;
      cur = &entity->children[n - 1];
    } else {
      if (n != 1) return nullptr;
      cur = entity;
    }
    as_message = false;
  }
  return cur;
}

std::string FilterHeaderFields(std::string_view header,
                               const std::vector<std::string>& fields,
                               bool exclude) {
  std::string out;
  size_t pos = 0;
  bool keep = false;  // whether the field being walked is copied
  while (pos < header.size()) {
    size_t nl = header.find('\n', pos);
    size_t next = nl == std::string_view::npos ? header.size() : nl + 1;
    std::string_view line = header.substr(pos, next - pos);
    std::string_view content = line;
    while (!content.empty() &&
           (content.back() == '\n' || content.back() == '\r')) {
      content.remove_suffix(1);
    }
    if (content.empty()) break;  // the blank line ending the header
    if (IsWsp(line[0])) {
      // Continuation of the previous field (RFC 5322 §2.2.3).
    } else {
      size_t colon = content.find(':');
      if (colon == std::string_view::npos) {
        keep = false;  // not a field at all
      } else {
        std::string_view name = content.substr(0, colon);
        while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);
        bool match = false;
        for (const std::string& f : fields) {
          if (EqualsIgnoreCase(name, f)) {
            match = true;
            break;
          }
        }
        keep = match != exclude && !name.empty();
      }
    }
    if (keep) {
      out.append(content);
      out += "\r\n";
    }
    pos = next;
  }
  out += "\r\n";
  return out;
}

std::string ExtractSection(std::string_view raw, const mime::Summary& s,
                           const Section& section) {
  using Kind = Section::Kind;
  const mime::Part* entity = nullptr;  // whose header/body HEADER/TEXT use
  if (section.part.empty()) {
    switch (section.kind) {
      case Kind::kWhole:
        return std::string(raw);
      case Kind::kMime:
        return {};  // RFC 9051 §6.4.5: MIME needs a part number
      default:
        entity = &s.root;
        break;
    }
  } else {
    const mime::Part* p = FindPart(s, section.part);
    if (p == nullptr) return {};
    switch (section.kind) {
      case Kind::kWhole:
        return std::string(BodyOf(raw, *p));
      case Kind::kMime:
        return std::string(HeaderOf(raw, *p));
      default:
        if (!p->is_message() || p->children.size() != 1) return {};
        entity = &p->children[0];
        break;
    }
  }
  switch (section.kind) {
    case Kind::kHeader:
      return std::string(HeaderOf(raw, *entity));
    case Kind::kText:
      return std::string(BodyOf(raw, *entity));
    case Kind::kHeaderFields:
      return FilterHeaderFields(HeaderOf(raw, *entity), section.fields, false);
    case Kind::kHeaderFieldsNot:
      return FilterHeaderFields(HeaderOf(raw, *entity), section.fields, true);
    default:
      return {};
  }
}

Result<std::string> ExtractBinary(std::string_view raw, const mime::Summary& s,
                                  const std::vector<uint32_t>& part) {
  if (part.empty()) return std::string(raw);
  const mime::Part* p = FindPart(s, part);
  if (p == nullptr) return std::string();
  std::string_view body = BodyOf(raw, *p);
  if (p->is_multipart() || p->is_message()) return std::string(body);
  return mime::DecodeTransfer(body, p->encoding);
}

}  // namespace correio::imap
