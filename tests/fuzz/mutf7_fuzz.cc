// Modified UTF-7 (RFC 3501 §5.1.3; src/imap/proto/mutf7.h). The decoder
// refuses every non-canonical form, so whatever it accepts must re-encode
// to the same bytes; the encoder's output is printable US-ASCII and decodes
// back to its (valid UTF-8, NUL-free) input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "imap/proto/mutf7.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using correio::fuzz::IsUtf8;
  std::string_view in = correio::fuzz::AsView(data, size);

  if (auto decoded = correio::imap::DecodeMutf7(in)) {
    FUZZ_CHECK(IsUtf8(*decoded));
    FUZZ_CHECK(decoded->find('\0') == std::string::npos);
    FUZZ_CHECK(correio::imap::EncodeMutf7(*decoded) == in);
  }

  std::string encoded = correio::imap::EncodeMutf7(in);
  for (char c : encoded) {
    FUZZ_CHECK(c >= 0x20 && c <= 0x7e);
  }
  auto back = correio::imap::DecodeMutf7(encoded);
  if (IsUtf8(in) && in.find('\0') == std::string_view::npos) {
    FUZZ_CHECK(back.has_value() && *back == in);
  } else if (in.find('\0') == std::string_view::npos) {
    // Invalid UTF-8 became U+FFFD: still a valid encoding.
    FUZZ_CHECK(back.has_value());
  }
  return 0;
}
