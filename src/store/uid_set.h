// Helpers on UidSet shared by the store backends (internal to store/).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "store/types.h"

namespace correio::store {

inline bool UidSetContains(const UidSet& set, Uid uid) {
  for (const auto& r : set) {
    if (uid >= r.first && uid <= r.last) return true;
  }
  return false;
}

// Keywords are kept sorted and unique (types.h Flags).
inline std::vector<std::string> NormalizeKeywords(
    std::vector<std::string> keywords) {
  std::sort(keywords.begin(), keywords.end());
  keywords.erase(std::unique(keywords.begin(), keywords.end()), keywords.end());
  keywords.erase(std::remove(keywords.begin(), keywords.end(), std::string()),
                 keywords.end());
  return keywords;
}

// The flags a message has after `op` with `given` (already normalized).
inline Flags ApplyFlagOp(const Flags& old, FlagOp op, const Flags& given) {
  Flags out;
  switch (op) {
    case FlagOp::kAdd: {
      out.system = old.system | given.system;
      out.keywords = old.keywords;
      out.keywords.insert(out.keywords.end(), given.keywords.begin(),
                          given.keywords.end());
      out.keywords = NormalizeKeywords(std::move(out.keywords));
      break;
    }
    case FlagOp::kRemove: {
      out.system = old.system & ~given.system;
      for (const auto& k : old.keywords) {
        if (!std::binary_search(given.keywords.begin(), given.keywords.end(),
                                k)) {
          out.keywords.push_back(k);
        }
      }
      break;
    }
    case FlagOp::kReplace:
      out = given;
      break;
  }
  return out;
}

}  // namespace correio::store
