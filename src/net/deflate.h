// Raw DEFLATE (RFC 1951) for a whole connection, as IMAP COMPRESS=DEFLATE
// (RFC 4978) uses it: one compressor for what we send, one decompressor for
// what we receive, each keeping its dictionary for the connection's life.
//
// zlib does the work (the Debian-packaged reference implementation); this
// wrapper only owns the two z_streams and their buffers so that zlib.h stays
// out of net/connection.h.
//
// Memory: the compressor uses a 2^12 window and memLevel 5 (about 40 KB,
// a quarter of zlib's default, ratio within a few percent on mail text);
// the decompressor must accept the client's window (up to 32 KB) and
// allocates it on first use. Thread-compatible.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace correio::net {

class DeflateStream {
 public:
  static Result<std::unique_ptr<DeflateStream>> Create();
  ~DeflateStream();
  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;

  // Compresses `in` and appends it to `out`, ending with a sync flush so
  // the peer can decode everything sent so far.
  Status Compress(std::string_view in, std::string& out);

  // Compressed octets received from the peer, to be inflated.
  void Feed(std::string_view compressed);
  // True while Inflate may produce output without more input.
  bool has_input() const;
  // Inflates into [out, out+cap); returns the number of octets written (0:
  // more input is needed). kInvalid when the peer's stream is corrupt,
  // kNotFound when it ended (a final block).
  Result<size_t> Inflate(char* out, size_t cap);

 private:
  struct Impl;
  explicit DeflateStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace correio::net
