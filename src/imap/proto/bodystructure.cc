#include "imap/proto/bodystructure.h"

#include <cstdio>

#include "base/strings.h"
#include "imap/proto/envelope.h"

namespace correio::imap {
namespace {

bool Has8Bit(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// RFC 2231 §4 attribute-char: what may stay unescaped in an extended value.
bool IsAttributeChar(unsigned char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  return std::string_view("*'%()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) ==
         std::string_view::npos;
}

std::string PercentEncode(std::string_view s) {
  std::string out = "utf-8''";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsAttributeChar(c)) {
      out += ch;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

void AppendString(std::string& out, std::string_view s, bool utf8) {
  AppendWireString(out, s, utf8);
}

void AppendParam(std::string& out, const mime::Param& p, bool utf8) {
  std::string name = AsciiUppercase(p.name);
  if (Has8Bit(p.value) && !utf8) {
    AppendString(out, name + "*", false);
    out += ' ';
    AppendString(out, PercentEncode(p.value), false);
    return;
  }
  AppendString(out, name, utf8);
  out += ' ';
  if (Has8Bit(p.value) && !IsValidUtf8(p.value)) {
    // mime promises UTF-8 here; never let a broken value through raw.
    AppendString(out, PercentEncode(p.value), utf8);
  } else {
    AppendString(out, p.value, utf8);
  }
}

// body-fld-param: "(" string SP string *(SP string SP string) ")" / nil
void AppendParams(std::string& out, const std::vector<mime::Param>& params,
                  bool default_charset, bool utf8) {
  bool first = true;
  auto sep = [&] {
    out += first ? "(" : " ";
    first = false;
  };
  if (default_charset) {
    sep();
    out += "\"CHARSET\" \"US-ASCII\"";
  }
  for (const mime::Param& p : params) {
    sep();
    AppendParam(out, p, utf8);
  }
  out += first ? "NIL" : ")";
}

bool HasParam(const std::vector<mime::Param>& params, std::string_view name) {
  for (const mime::Param& p : params) {
    if (p.name == name) return true;
  }
  return false;
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc, shared by both kinds.
void AppendDspLangLoc(std::string& out, const mime::Part& p, bool utf8) {
  out += ' ';
  if (p.disposition) {
    out += '(';
    AppendString(out, AsciiUppercase(*p.disposition), utf8);
    out += ' ';
    AppendParams(out, p.disposition_params, false, utf8);
    out += ')';
  } else {
    out += "NIL";
  }
  out += ' ';
  if (p.languages.empty()) {
    out += "NIL";
  } else if (p.languages.size() == 1) {
    AppendIdNString(out, p.languages[0], utf8);
  } else {
    out += '(';
    for (size_t i = 0; i < p.languages.size(); ++i) {
      if (i) out += ' ';
      AppendIdNString(out, p.languages[i], utf8);
    }
    out += ')';
  }
  out += ' ';
  AppendIdNString(out, p.content_location, utf8);
}

void AppendEncoding(std::string& out, const std::string& encoding, bool utf8) {
  if (encoding.empty()) {
    out += "\"7BIT\"";
  } else {
    AppendString(out, AsciiUppercase(encoding), utf8);
  }
}

void AppendMultipart(std::string& out, const mime::Part& p, bool extended,
                     bool utf8) {
  out += '(';
  for (const mime::Part& c : p.children) {
    AppendBodyStructure(out, c, extended, utf8);
  }
  out += ' ';
  AppendString(out, AsciiUppercase(p.subtype), utf8);
  if (extended) {
    out += ' ';
    AppendParams(out, p.params, false, utf8);
    AppendDspLangLoc(out, p, utf8);
  }
  out += ')';
}

void AppendSinglePart(std::string& out, const mime::Part& p, bool extended,
                      bool utf8) {
  bool message = p.is_message() && p.children.size() == 1;
  bool unparsed_message = !message && p.type == "message" &&
                          (p.subtype == "rfc822" || p.subtype == "global");
  bool text = p.type == "text";
  out += '(';
  // media type
  if (unparsed_message) {
    out += "\"APPLICATION\" \"OCTET-STREAM\"";
  } else {
    AppendString(out, AsciiUppercase(p.type), utf8);
    out += ' ';
    AppendString(out, AsciiUppercase(p.subtype), utf8);
  }
  // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
  //               body-fld-enc SP body-fld-octets
  out += ' ';
  AppendParams(out, p.params, text && !HasParam(p.params, "charset"), utf8);
  out += ' ';
  AppendIdNString(out, p.content_id, utf8);
  out += ' ';
  AppendTextNString(out, p.content_description, utf8);
  out += ' ';
  AppendEncoding(out, p.encoding, utf8);
  out += ' ';
  out += std::to_string(p.body_size());
  if (message) {
    // body-type-msg: ... SP envelope SP body SP body-fld-lines
    out += ' ';
    AppendEnvelope(out, *p.message_envelope, utf8);
    out += ' ';
    AppendBodyStructure(out, p.children[0], extended, utf8);
    out += ' ';
    out += std::to_string(p.lines);
  } else if (text) {
    out += ' ';
    out += std::to_string(p.lines);
  }
  if (extended) {
    // body-ext-1part = body-fld-md5 SP body-fld-dsp SP body-fld-lang SP
    //                  body-fld-loc
    out += ' ';
    AppendIdNString(out, p.content_md5, utf8);
    AppendDspLangLoc(out, p, utf8);
  }
  out += ')';
}

}  // namespace

void AppendBodyStructure(std::string& out, const mime::Part& part,
                         bool extended, bool utf8) {
  if (part.is_multipart() && !part.children.empty()) {
    AppendMultipart(out, part, extended, utf8);
  } else {
    AppendSinglePart(out, part, extended, utf8);
  }
}

std::string RenderBodyStructure(const mime::Summary& s, bool extended,
                                bool utf8) {
  std::string out;
  AppendBodyStructure(out, s.root, extended, utf8);
  return out;
}

}  // namespace correio::imap
