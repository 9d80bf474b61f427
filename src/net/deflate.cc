#include "net/deflate.h"

#include <zlib.h>

#include <cstring>

namespace correio::net {

namespace {
constexpr int kSendWindowBits = 12;  // raw deflate: passed negated
constexpr int kSendMemLevel = 5;
constexpr int kLevel = 6;
}  // namespace

struct DeflateStream::Impl {
  z_stream out{};
  z_stream in{};
  bool out_ready = false, in_ready = false;
  std::string pending;   // compressed octets not yet inflated
  size_t consumed = 0;   // of `pending`
  bool more_out = false; // the last Inflate filled its buffer
  bool ended = false;
  ~Impl() {
    if (out_ready) deflateEnd(&out);
    if (in_ready) inflateEnd(&in);
  }
};

DeflateStream::DeflateStream(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
DeflateStream::~DeflateStream() = default;

Result<std::unique_ptr<DeflateStream>> DeflateStream::Create() {
  auto impl = std::make_unique<Impl>();
  if (deflateInit2(&impl->out, kLevel, Z_DEFLATED, -kSendWindowBits,
                   kSendMemLevel, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Fail(ErrorCode::kInternal, "deflateInit2 failed");
  }
  impl->out_ready = true;
  if (inflateInit2(&impl->in, -MAX_WBITS) != Z_OK) {
    return Fail(ErrorCode::kInternal, "inflateInit2 failed");
  }
  impl->in_ready = true;
  return std::unique_ptr<DeflateStream>(new DeflateStream(std::move(impl)));
}

Status DeflateStream::Compress(std::string_view in, std::string& out) {
  z_stream& z = impl_->out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  // A sync flush always has output (at least the empty stored block), so
  // loop until zlib leaves room in the buffer.
  for (;;) {
    size_t old = out.size();
    size_t room = deflateBound(&z, z.avail_in) + 16;
    out.resize(old + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = static_cast<uInt>(room);
    int rc = deflate(&z, Z_SYNC_FLUSH);
    out.resize(old + (room - z.avail_out));
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Fail(ErrorCode::kInternal, "deflate failed");
    }
    if (z.avail_out != 0 && z.avail_in == 0) return Status{};
  }
}

void DeflateStream::Feed(std::string_view compressed) {
  Impl& m = *impl_;
  if (m.consumed == m.pending.size()) {
    m.pending.assign(compressed);
    m.consumed = 0;
  } else {
    m.pending.erase(0, m.consumed);
    m.consumed = 0;
    m.pending.append(compressed);
  }
}

bool DeflateStream::has_input() const {
  return impl_->more_out || impl_->consumed < impl_->pending.size();
}

Result<size_t> DeflateStream::Inflate(char* out, size_t cap) {
  Impl& m = *impl_;
  if (m.ended) return Fail(ErrorCode::kNotFound, "compressed stream ended");
  z_stream& z = m.in;
  z.next_in = reinterpret_cast<Bytef*>(m.pending.data() + m.consumed);
  z.avail_in = static_cast<uInt>(m.pending.size() - m.consumed);
  z.next_out = reinterpret_cast<Bytef*>(out);
  z.avail_out = static_cast<uInt>(cap);
  int rc = inflate(&z, Z_SYNC_FLUSH);
  m.consumed = m.pending.size() - z.avail_in;
  if (m.consumed == m.pending.size()) {
    // Give a large burst's memory back; idle connections keep nothing.
    std::string().swap(m.pending);
    m.consumed = 0;
  }
  size_t produced = cap - z.avail_out;
  m.more_out = z.avail_out == 0;
  switch (rc) {
    case Z_OK:
      return produced;
    case Z_BUF_ERROR:  // no progress possible: more input needed
      m.more_out = false;
      return produced;
    case Z_STREAM_END:
      m.ended = true;
      m.more_out = false;
      return produced;
    default:
      return Fail(ErrorCode::kInvalid, "corrupt compressed data");
  }
}

}  // namespace correio::net
