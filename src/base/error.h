// correio::Error and Result<T>: how every module reports failure.
//
// Functions that can fail return Result<T> (std::expected<T, Error>). An Error
// carries a category, which each protocol maps to its own reply in exactly one
// place (NO [OVERQUOTA], 452 4.2.2, -ERR [IN-USE]), and a message for the log.
// The message may hold internal detail: never send it to a client verbatim.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace correio {

enum class ErrorCode {
  kTemp,       // transient: retry later (busy, I/O hiccup)
  kNotFound,   // the thing named does not exist
  kExists,     // the thing to create already exists
  kPerm,       // permanent refusal (policy, permissions)
  kOverQuota,  // the account's quota would be exceeded
  kNoSpace,    // the server's disk is full: retry later (not the user's quota)
  kInUse,      // locked by another session
  kTooBig,     // a size limit was exceeded
  kInvalid,    // malformed input
  kInternal,   // a bug or a broken store: log loudly
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: no such mailbox" — for logs and admin tools.
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// return Fail(ErrorCode::kNotFound, "no such mailbox");
inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> Fail(Error error) {
  return std::unexpected<Error>(std::move(error));
}

}  // namespace correio
