// Small string helpers used by every protocol. No allocation unless the
// result needs it; no locale dependence (mail protocols are ASCII-cased).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace correio {

char AsciiLower(char c);
std::string AsciiLowercase(std::string_view s);
std::string AsciiUppercase(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);
std::string_view TrimWhitespace(std::string_view s);
std::vector<std::string_view> SplitString(std::string_view s, char sep);

// Parses a decimal unsigned number that must fit in 64 bits (no sign, no
// spaces, no leading '+'). Returns nullopt on any overflow or junk.
std::optional<uint64_t> ParseUint64(std::string_view s);

// "10M", "2G", "512k", "1048576" -> bytes (binary multiples).
std::optional<uint64_t> ParseSize(std::string_view s);
std::string FormatSize(uint64_t bytes);

// Base64 (RFC 4648) without line breaks. Decode rejects bad input.
std::string Base64Encode(std::string_view data);
std::optional<std::string> Base64Decode(std::string_view text);

std::string HexEncode(std::string_view data);

// Splits "local@domain" at the last '@'. Domain is lowercased; the local
// part is returned as given. nullopt when there is no '@' or a side is empty.
struct AddressParts {
  std::string local;
  std::string domain;
};
std::optional<AddressParts> SplitAddress(std::string_view address);
// Canonical form used as a key: the whole address lowercased. RFC 5321
// §2.4 lets a local part be case-sensitive, but Postfix and Dovecot fold
// case for lookups and users expect Bob@ and bob@ to be one mailbox.
std::string NormalizeAddress(std::string_view address);

// Constant-time comparison of equal-length secrets (length may leak).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace correio
