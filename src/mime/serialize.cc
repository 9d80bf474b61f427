// Summary <-> bytes. Varints (LEB128) and length-prefixed strings after a
// version byte. The data comes from our own store, but Deserialize treats it
// as untrusted: every length is checked against what is left, nesting is
// capped, and offsets must nest inside their parent.
#include <algorithm>

#include "mime/message.h"

namespace correio::mime {
namespace {

constexpr uint64_t kMaxOffset = uint64_t{1} << 40;
constexpr int kMaxDecodeDepth = 512;

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      U8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    U8(static_cast<uint8_t>(v));
  }
  void Str(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  void OptStr(const std::optional<std::string>& s) {
    U8(s ? 1 : 0);
    if (s) Str(*s);
  }
  void Params(const std::vector<Param>& ps) {
    Varint(ps.size());
    for (const Param& p : ps) {
      Str(p.name);
      Str(p.value);
    }
  }
  void Addresses(const std::vector<Address>& as) {
    Varint(as.size());
    for (const Address& a : as) {
      OptStr(a.name);
      OptStr(a.mailbox);
      OptStr(a.host);
      OptStr(a.route);
    }
  }
  void Env(const Envelope& e) {
    OptStr(e.date);
    OptStr(e.subject);
    Addresses(e.from);
    Addresses(e.sender);
    Addresses(e.reply_to);
    Addresses(e.to);
    Addresses(e.cc);
    Addresses(e.bcc);
    OptStr(e.in_reply_to);
    OptStr(e.message_id);
  }
  void PartOut(const Part& p) {
    Varint(p.header_start);
    Varint(p.body_start);
    Varint(p.body_end);
    Str(p.type);
    Str(p.subtype);
    Params(p.params);
    OptStr(p.content_id);
    OptStr(p.content_description);
    Str(p.encoding);
    OptStr(p.content_md5);
    OptStr(p.disposition);
    Params(p.disposition_params);
    Varint(p.languages.size());
    for (const auto& l : p.languages) Str(l);
    OptStr(p.content_location);
    Varint(p.lines);
    U8((p.opaque ? 1 : 0) | (p.message_envelope ? 2 : 0));
    if (p.message_envelope) Env(*p.message_envelope);
    Varint(p.children.size());
    for (const Part& c : p.children) PartOut(c);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool AtEnd() const { return pos_ == in_.size(); }
  size_t left() const { return in_.size() - pos_; }

  uint8_t U8() {
    if (!ok_ || pos_ >= in_.size()) return Bad(), 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = U8();
      if (!ok_) return 0;
      if (shift == 63 && b > 1) return Bad(), 0;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Bad(), 0;
  }
  // A count of items each taking at least `min_bytes`: bounded by what is
  // left, so garbage cannot make us reserve gigabytes.
  size_t Count(size_t min_bytes) {
    uint64_t n = Varint();
    if (!ok_ || n > left() / min_bytes) return Bad(), 0;
    return static_cast<size_t>(n);
  }
  std::string Str() {
    uint64_t n = Varint();
    if (!ok_ || n > left()) return Bad(), std::string();
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::optional<std::string> OptStr() {
    uint8_t tag = U8();
    if (tag == 0) return std::nullopt;
    if (tag != 1) return Bad(), std::nullopt;
    return Str();
  }
  std::vector<Param> Params() {
    std::vector<Param> ps(Count(2));
    for (Param& p : ps) {
      p.name = Str();
      p.value = Str();
    }
    return ps;
  }
  std::vector<Address> Addresses() {
    std::vector<Address> as(Count(4));
    for (Address& a : as) {
      a.name = OptStr();
      a.mailbox = OptStr();
      a.host = OptStr();
      a.route = OptStr();
    }
    return as;
  }
  void SkipStr() {
    uint64_t n = Varint();
    if (!ok_ || n > left()) return Bad();
    pos_ += n;
  }
  void SkipOptStr() {
    uint8_t tag = U8();
    if (tag == 1) return SkipStr();
    if (tag != 0) Bad();
  }
  void SkipEnv() {
    SkipOptStr();  // date
    SkipOptStr();  // subject
    for (int list = 0; list < 6 && ok_; ++list) {  // from .. bcc
      size_t n = Count(4);
      for (size_t i = 0; i < n && ok_; ++i) {
        for (int f = 0; f < 4; ++f) SkipOptStr();
      }
    }
    SkipOptStr();  // in_reply_to
    SkipOptStr();  // message_id
  }
  Envelope Env() {
    Envelope e;
    e.date = OptStr();
    e.subject = OptStr();
    e.from = Addresses();
    e.sender = Addresses();
    e.reply_to = Addresses();
    e.to = Addresses();
    e.cc = Addresses();
    e.bcc = Addresses();
    e.in_reply_to = OptStr();
    e.message_id = OptStr();
    return e;
  }
  void PartIn(Part& p, int depth) {
    if (depth > kMaxDecodeDepth) return Bad();
    p.header_start = Varint();
    p.body_start = Varint();
    p.body_end = Varint();
    if (!(p.header_start <= p.body_start && p.body_start <= p.body_end &&
          p.body_end <= kMaxOffset)) {
      return Bad();
    }
    p.type = Str();
    p.subtype = Str();
    p.params = Params();
    p.content_id = OptStr();
    p.content_description = OptStr();
    p.encoding = Str();
    p.content_md5 = OptStr();
    p.disposition = OptStr();
    p.disposition_params = Params();
    p.languages.resize(Count(1));
    for (auto& l : p.languages) l = Str();
    p.content_location = OptStr();
    p.lines = Varint();
    uint8_t flags = U8();
    if (flags > 3) return Bad();
    p.opaque = flags & 1;
    if (flags == 3) return Bad();  // MakeOpaque drops the envelope
    if (flags & 2) p.message_envelope = Env();
    p.children.resize(Count(4));
    // The shape Parse() guarantees and IMAP relies on (RFC 9051 §7.5.2
    // body-type-mpart needs 1*body; message/rfc822 has exactly one).
    if (p.is_message()     ? p.children.size() != 1
        : p.is_multipart() ? p.children.empty()
                           : !p.children.empty()) {
      return Bad();
    }
    ++parts_;
    // Siblings in order, each inside the parent's body.
    uint64_t prev_end = p.body_start;
    for (Part& c : p.children) {
      if (!ok_) return;
      PartIn(c, depth + 1);
      if (c.header_start < prev_end || c.body_end > p.body_end) {
        return Bad();
      }
      prev_end = c.body_end;
    }
  }
  uint64_t parts() const { return parts_; }

 private:
  void Bad() { ok_ = false; }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
  uint64_t parts_ = 0;
};

}  // namespace

std::string Serialize(const Summary& s) {
  Writer w;
  w.U8(kSummaryFormatVersion);
  w.U8((s.has_8bit_headers ? 1 : 0) | (s.has_nul ? 2 : 0) |
       (s.truncated ? 4 : 0));
  w.Varint(s.part_count);
  w.Str(s.preview);
  w.Env(s.envelope);
  w.PartOut(s.root);
  return w.Take();
}

Result<Summary> DeserializeRootOffsets(std::string_view data) {
  Reader r(data);
  if (r.U8() != kSummaryFormatVersion || !r.ok()) {
    return Fail(ErrorCode::kInternal, "mime summary: unknown format version");
  }
  (void)r.U8();      // flags
  (void)r.Varint();  // part count
  r.SkipStr();       // preview
  r.SkipEnv();
  Summary s;
  s.root.header_start = r.Varint();
  s.root.body_start = r.Varint();
  s.root.body_end = r.Varint();
  if (!r.ok() || s.root.header_start > s.root.body_start ||
      s.root.body_start > s.root.body_end) {
    return Fail(ErrorCode::kInternal, "mime summary: corrupt data");
  }
  return s;
}

Result<Summary> Deserialize(std::string_view data) {
  Reader r(data);
  if (r.U8() != kSummaryFormatVersion || !r.ok()) {
    return Fail(ErrorCode::kInternal, "mime summary: unknown format version");
  }
  Summary s;
  uint8_t flags = r.U8();
  if (flags > 7) {
    return Fail(ErrorCode::kInternal, "mime summary: bad flags");
  }
  s.has_8bit_headers = flags & 1;
  s.has_nul = flags & 2;
  s.truncated = flags & 4;
  uint64_t parts = r.Varint();
  if (parts > UINT32_MAX) {
    return Fail(ErrorCode::kInternal, "mime summary: bad part count");
  }
  s.part_count = static_cast<uint32_t>(parts);
  s.preview = r.Str();
  s.envelope = r.Env();
  r.PartIn(s.root, 0);
  if (!r.ok() || !r.AtEnd() || r.parts() != s.part_count) {
    return Fail(ErrorCode::kInternal, "mime summary: corrupt data");
  }
  return s;
}

}  // namespace correio::mime
