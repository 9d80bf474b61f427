// Test helpers for the mime tests (header only, not part of the library).
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "mime/message.h"

namespace correio::mime::testing {

inline std::string ReadTestFile(std::string_view name) {
  std::ifstream in(std::string(CORREIO_MIME_TESTDATA) + "/" + std::string(name),
                   std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string_view Body(std::string_view raw, const Part& p) {
  return raw.substr(p.body_start, p.body_end - p.body_start);
}
inline std::string_view Header(std::string_view raw, const Part& p) {
  return raw.substr(p.header_start, p.body_start - p.header_start);
}

inline const char* const kCorpus[] = {
    "simple.eml",
    "alternative_related.eml",
    "rfc822_attachment.eml",
    "encoded_words.eml",
    "rfc2231.eml",
    "qp_base64.eml",
    "broken_no_final_boundary.eml",
    "broken_boundary_never.eml",
    "broken_bad_base64.eml",
    "bare_lf.eml",
    "nul_bytes.eml",
    "header_no_colon.eml",
    "utf8_headers.eml",
};

}  // namespace correio::mime::testing
