#include "base/error.h"

namespace correio {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kTemp: return "Temp";
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kExists: return "Exists";
    case ErrorCode::kPerm: return "Perm";
    case ErrorCode::kOverQuota: return "OverQuota";
    case ErrorCode::kNoSpace: return "NoSpace";
    case ErrorCode::kInUse: return "InUse";
    case ErrorCode::kTooBig: return "TooBig";
    case ErrorCode::kInvalid: return "Invalid";
    case ErrorCode::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Error::ToString() const {
  std::string s(ErrorCodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

}  // namespace correio
