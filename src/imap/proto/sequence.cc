#include "imap/proto/sequence.h"

#include <algorithm>

namespace correio::imap {

std::vector<std::pair<uint32_t, uint32_t>> NormalizeRanges(
    const SequenceSet& set, uint32_t star) {
  std::vector<std::pair<uint32_t, uint32_t>> r;
  r.reserve(set.ranges.size());
  for (const auto& x : set.ranges) {
    uint32_t a = x.first == kStar ? star : x.first;
    uint32_t b = x.last == kStar ? star : x.last;
    if (a > b) std::swap(a, b);  // "4:2" is "2:4" (RFC 9051 §9)
    r.emplace_back(a, b);
  }
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& x : r) {
    if (!merged.empty() &&
        (merged.back().second == UINT32_MAX ||
         x.first <= merged.back().second + 1)) {
      merged.back().second = std::max(merged.back().second, x.second);
    } else {
      merged.push_back(x);
    }
  }
  return merged;
}

Result<std::vector<uint32_t>> ResolveSequenceSet(const SequenceSet& set,
                                                 uint32_t count) {
  for (const auto& x : set.ranges) {
    for (uint32_t v : {x.first, x.last}) {
      if (v == kStar ? count == 0 : (v == 0 || v > count)) {
        return Fail(ErrorCode::kInvalid, "Invalid message sequence number");
      }
    }
  }
  std::vector<uint32_t> out;
  for (const auto& [a, b] : NormalizeRanges(set, count)) {
    for (uint64_t i = a; i <= b; ++i) out.push_back(static_cast<uint32_t>(i - 1));
  }
  return out;
}

std::vector<uint32_t> ResolveUidSet(const SequenceSet& set,
                                    std::span<const uint32_t> uids) {
  std::vector<uint32_t> out;
  if (uids.empty()) return out;
  for (const auto& [a, b] : NormalizeRanges(set, uids.back())) {
    auto lo = std::lower_bound(uids.begin(), uids.end(), a);
    auto hi = std::upper_bound(uids.begin(), uids.end(), b);
    for (auto it = lo; it < hi; ++it) {
      out.push_back(static_cast<uint32_t>(it - uids.begin()));
    }
  }
  return out;
}

std::string FormatNumberSet(std::span<const uint32_t> sorted) {
  std::string out;
  size_t i = 0;
  while (i < sorted.size()) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(sorted[i]);
    if (j > i) {
      out += ':';
      out += std::to_string(sorted[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace correio::imap
