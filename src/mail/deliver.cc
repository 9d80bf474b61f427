#include "mail/deliver.h"

#include <algorithm>
#include <set>

#include "base/strings.h"
#include "mime/message.h"

namespace correio::mail {

namespace {

// Where a decoded `text` stands as it is in `raw`: at the start of one of
// the first kSliceLeaves leaf parts' bodies. ExtractSearchText finds the
// common case itself (one text part without transfer encoding, in UTF-8
// or ASCII: SearchText::body_in_raw); this catches decoding that changed
// nothing, as quoted-printable with nothing to decode, and a plain text
// longer than the index takes, cut at its cap. The whole text is
// compared, so a slice found is exact; the bound keeps a message of many
// parts from costing a comparison per part.
constexpr int kSliceLeaves = 4;
std::optional<store::NewBlob::Slice> FindTextInData(std::string_view raw,
                                                    const mime::Part& part,
                                                    std::string_view text,
                                                    int& leaves_left) {
  if (!part.children.empty()) {
    for (const mime::Part& c : part.children) {
      if (leaves_left <= 0) break;
      if (auto s = FindTextInData(raw, c, text, leaves_left)) return s;
    }
    return std::nullopt;
  }
  --leaves_left;
  if (part.body_start <= raw.size() &&
      raw.substr(part.body_start).starts_with(text)) {
    return store::NewBlob::Slice{part.body_start, text.size()};
  }
  return std::nullopt;
}

}  // namespace

Result<store::NewBlob> PrepareBlob(std::string data) {
  auto summary = mime::Parse(data);
  if (!summary) return Fail(summary.error());
  store::NewBlob blob;
  auto text = mime::ExtractSearchText(data, *summary);
  blob.summary = mime::Serialize(*summary);
  if (text.body_in_raw) {
    if (text.body_in_raw->size > 0) {  // else there is no text to index
      blob.search_text_in_data = store::NewBlob::Slice{text.body_in_raw->offset,
                                                       text.body_in_raw->size};
    }
  } else if (!text.decoded_body.empty()) {
    // A decoded text can still be octets of the message (quoted-printable
    // with nothing to decode, say).
    int leaves = kSliceLeaves;
    blob.search_text_in_data =
        FindTextInData(data, summary->root, text.decoded_body, leaves);
    if (!blob.search_text_in_data) {
      blob.search_text = std::move(text.decoded_body);
    }
  }
  blob.search_headers = std::move(text.headers);
  blob.data = std::move(data);
  return blob;
}

namespace {

struct Walk {
  store::Store& store;
  Resolution out;
  std::set<store::AccountId> seen_accounts;
  std::set<std::string> seen_addresses;
};

Status ResolveInto(Walk& w, const std::string& address, int depth,
                   bool top) {
  if (!w.seen_addresses.insert(address).second) return {};  // a cycle
  auto parts = SplitAddress(address);
  if (!parts) {
    if (top) return Fail(ErrorCode::kInvalid, "malformed address");
    return {};
  }
  auto local_domain = w.store.HasDomain(parts->domain);
  if (!local_domain) return Fail(local_domain.error());
  if (!*local_domain) {
    if (top) return Fail(ErrorCode::kPerm, "domain is not local");
    w.out.remote.push_back(address);
    return {};
  }
  auto account = w.store.GetAccount(address);
  if (account) {
    if (w.seen_accounts.insert(account->id).second) {
      w.out.local.push_back(*account);
    }
    return {};
  }
  if (account.error().code() != ErrorCode::kNotFound) {
    return Fail(account.error());
  }
  auto alias = w.store.GetAlias(address);
  if (!alias && alias.error().code() == ErrorCode::kNotFound) {
    alias = w.store.GetAlias("@" + parts->domain);
  }
  if (!alias) {
    if (alias.error().code() == ErrorCode::kNotFound) {
      if (top) return Fail(ErrorCode::kNotFound, "no such user");
      return {};  // a dangling alias target delivers nowhere
    }
    return Fail(alias.error());
  }
  if (depth >= kMaxAliasDepth) return {};
  for (const auto& target : alias->targets) {
    if (auto st = ResolveInto(w, NormalizeAddress(target), depth + 1, false);
        !st) {
      return st;
    }
  }
  if (top && w.out.local.empty() && w.out.remote.empty()) {
    return Fail(ErrorCode::kNotFound, "alias leads nowhere");
  }
  return {};
}

}  // namespace

Result<Resolution> ResolveRecipient(store::Store& store,
                                    std::string_view address) {
  Walk w{store, {}, {}, {}};
  if (auto st = ResolveInto(w, NormalizeAddress(address), 0, true); !st) {
    return Fail(st.error());
  }
  return std::move(w.out);
}

Result<bool> OwnsAddress(store::Store& store, const store::Account& account,
                         std::string_view address) {
  std::string normalized = NormalizeAddress(address);
  if (normalized == account.address) return true;
  auto alias = store.GetAlias(normalized);
  if (!alias) {
    if (alias.error().code() == ErrorCode::kNotFound) return false;
    return Fail(alias.error());
  }
  for (const auto& target : alias->targets) {
    if (NormalizeAddress(target) == account.address) return true;
  }
  return false;
}

Result<std::vector<store::Delivered>> DeliverToInboxes(
    store::Store& store, const store::NewBlob& blob,
    const std::vector<store::AccountId>& accounts, int64_t internal_date,
    uint64_t origin) {
  auto targets = store::InboxTargets(store, accounts, internal_date);
  if (!targets) return Fail(targets.error());
  if (targets->empty()) return std::vector<store::Delivered>{};
  return store.Deliver(blob, *targets, origin);
}

std::string ReturnPathHeader(std::string_view sender) {
  std::string h = "Return-Path: <";
  h += sender;
  h += ">\r\n";
  return h;
}

}  // namespace correio::mail
