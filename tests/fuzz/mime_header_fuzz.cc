// The header and body helpers of src/mime/message.h on their own:
// DecodeHeaderValue (RFC 2047), DecodeTransfer (RFC 2045 §6 base64,
// quoted-printable), ParseDate/ParseDateTime (RFC 5322 §3.3, §4.3),
// FindHeaders/UnfoldHeaderValue and ConvertToUtf8.
//
// Input: the first line picks a charset for ConvertToUtf8; everything is
// fed to every helper.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "mime/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace mime = correio::mime;
  using correio::fuzz::IsUtf8;
  std::string_view in = correio::fuzz::AsView(data, size);

  std::string decoded = mime::DecodeHeaderValue(in);
  FUZZ_CHECK(IsUtf8(decoded));

  for (std::string_view enc : {"base64", "BASE64", "quoted-printable", "7bit",
                               "8bit", "binary", "", "x-uuencode"}) {
    auto out = mime::DecodeTransfer(in, enc);
    if (!out) continue;
    // Decoding never grows base64 or quoted-printable; identity encodings
    // return the input.
    FUZZ_CHECK(out->size() <= in.size());
    if (enc == "7bit" || enc == "8bit" || enc == "binary" || enc.empty()) {
      FUZZ_CHECK(*out == in);
    }
  }

  auto dt = mime::ParseDateTime(in);
  auto d = mime::ParseDate(in);
  FUZZ_CHECK(dt.has_value() == d.has_value());
  if (dt) {
    FUZZ_CHECK(dt->unix_seconds == *d);
    // RFC 5322 §3.3: zone is +/-hhmm, so at most 99:59 away.
    FUZZ_CHECK(dt->tz_offset_minutes > -100 * 60 &&
               dt->tz_offset_minutes < 100 * 60);
  }

  for (std::string_view value : mime::FindHeaders(in, "subject")) {
    // Views into the input.
    FUZZ_CHECK(value.data() >= in.data() &&
               value.data() + value.size() <= in.data() + in.size());
    std::string unfolded = mime::UnfoldHeaderValue(value);
    FUZZ_CHECK(unfolded.find_first_of("\r\n") == std::string::npos);
  }
  for (const std::string& v : mime::FindUnfoldedHeaders(in, "to")) {
    FUZZ_CHECK(v.find_first_of("\r\n") == std::string::npos);
  }

  size_t nl = in.find('\n');
  std::string_view charset = in.substr(0, nl == in.npos ? 0 : nl);
  std::string_view text = nl == in.npos ? in : in.substr(nl + 1);
  FUZZ_CHECK(IsUtf8(mime::ConvertToUtf8(text, charset.substr(0, 64))));
  FUZZ_CHECK(IsUtf8(mime::ConvertToUtf8(text, "utf-8")));
  if (IsUtf8(text)) FUZZ_CHECK(mime::ConvertToUtf8(text, "utf-8") == text);
  return 0;
}
