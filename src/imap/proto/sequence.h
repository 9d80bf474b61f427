// Sequence-set arithmetic against a mailbox view (RFC 9051 §9 sequence-set,
// §6.4.8 UID semantics). Pure functions over the view's ascending UIDs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "imap/proto/command.h"

namespace correio::imap {

// Message sequence numbers -> ascending, unique 0-based indexes into a view
// of `count` messages. '*' is the last message. kInvalid when a number is 0
// or beyond `count` (RFC 9051 §9: "*" in an empty mailbox is invalid too).
Result<std::vector<uint32_t>> ResolveSequenceSet(const SequenceSet& set,
                                                 uint32_t count);

// UIDs -> ascending 0-based indexes of the messages of `uids` (ascending)
// whose UID is in the set. '*' is the largest UID in the view; "n:*" with n
// above it still names the last message (RFC 9051 §6.4.8). UIDs that are
// not in the view are ignored (never an error).
std::vector<uint32_t> ResolveUidSet(const SequenceSet& set,
                                    std::span<const uint32_t> uids);

// Ascending numbers -> the compact form "1:3,5,7:9" (empty for none).
std::string FormatNumberSet(std::span<const uint32_t> sorted);

// A SequenceSet of UIDs as ascending, merged closed ranges (for the store),
// '*' taken as `star`.
std::vector<std::pair<uint32_t, uint32_t>> NormalizeRanges(
    const SequenceSet& set, uint32_t star);

}  // namespace correio::imap
