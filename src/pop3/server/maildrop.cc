#include "pop3/server/maildrop.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "base/strings.h"

namespace correio::pop3 {

std::optional<DeleteMode> ParseDeleteMode(std::string_view text) {
  if (EqualsIgnoreCase(text, "delete")) return DeleteMode::kDelete;
  if (EqualsIgnoreCase(text, "keep-seen")) return DeleteMode::kKeepSeen;
  if (EqualsIgnoreCase(text, "archive")) return DeleteMode::kArchive;
  return std::nullopt;
}

Pop3Policy PolicyFor(const config::Pop3& config,
                     const store::AccountSettings& settings) {
  Pop3Policy policy;
  policy.delete_mode =
      ParseDeleteMode(config.delete_mode).value_or(DeleteMode::kDelete);
  if (settings.pop3_delete_mode) {
    if (auto mode = ParseDeleteMode(*settings.pop3_delete_mode)) {
      policy.delete_mode = *mode;
    }
  }
  policy.download_once =
      settings.pop3_download_once.value_or(config.download_once);
  policy.mark_seen_on_retr = config.mark_seen_on_retr;
  return policy;
}

std::string_view ExpireValue(const Pop3Policy& policy) {
  return policy.download_once ? "0" : "NEVER";
}

std::vector<MaildropMessage> SelectMessages(
    std::vector<store::MessageRow> rows,
    const std::vector<store::Uid>& downloaded, std::optional<int64_t> since) {
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.uid < b.uid; });
  std::unordered_set<store::Uid> hidden;
  if (!since) hidden.insert(downloaded.begin(), downloaded.end());
  std::vector<MaildropMessage> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    if (since ? row.internal_date < *since : hidden.contains(row.uid)) {
      continue;
    }
    MaildropMessage m;
    m.uid = row.uid;
    m.size = row.size;
    m.seen = (row.flags.system & store::kFlagSeen) != 0;
    out.push_back(m);
  }
  return out;
}

MaildropMessage* Maildrop::Find(uint64_t number) {
  if (number == 0 || number > messages_.size()) return nullptr;
  return &messages_[number - 1];
}

uint32_t Maildrop::Count() const {
  uint32_t n = 0;
  for (const auto& m : messages_) n += m.deleted ? 0 : 1;
  return n;
}

uint64_t Maildrop::Octets() const {
  uint64_t n = 0;
  for (const auto& m : messages_) n += m.deleted ? 0 : m.size;
  return n;
}

std::string Maildrop::UniqueId(const MaildropMessage& message) const {
  return std::to_string(uid_validity_) + "." + std::to_string(message.uid);
}

void Maildrop::ResetDeletions() {
  for (auto& m : messages_) m.deleted = false;
}

store::UidSet Maildrop::DeletedUids() const {
  std::vector<store::Uid> uids;
  for (const auto& m : messages_) {
    if (m.deleted) uids.push_back(m.uid);
  }
  return ToUidSet(uids);
}

store::UidSet Maildrop::DownloadedUids(DeleteMode mode) const {
  std::vector<store::Uid> uids;
  for (const auto& m : messages_) {
    bool kept_deleted = m.deleted && mode != DeleteMode::kDelete;
    bool kept_retrieved = m.retrieved && !m.deleted;
    if (kept_deleted || kept_retrieved) uids.push_back(m.uid);
  }
  return ToUidSet(uids);
}

store::UidSet ToUidSet(const std::vector<store::Uid>& sorted_uids) {
  store::UidSet set;
  for (store::Uid uid : sorted_uids) {
    if (!set.empty() && set.back().last + 1 == uid) {
      set.back().last = uid;
    } else {
      set.push_back({uid, uid});
    }
  }
  return set;
}

namespace {

std::mutex& LockMutex() {
  static std::mutex mu;
  return mu;
}
std::unordered_set<store::AccountId>& LockedAccounts() {
  static std::unordered_set<store::AccountId> locked;
  return locked;
}
// Last login per account (steady clock seconds), for LOGIN-DELAY. One
// entry per account that logged in since start: bounded by the accounts.
std::unordered_map<store::AccountId, int64_t>& LastLogins() {
  static std::unordered_map<store::AccountId, int64_t> last;
  return last;
}

}  // namespace

MaildropLock MaildropLock::TryAcquire(store::AccountId account) {
  std::lock_guard lock(LockMutex());
  if (!LockedAccounts().insert(account).second) return MaildropLock();
  return MaildropLock(account);
}

MaildropLock::MaildropLock(MaildropLock&& other) noexcept {
  *this = std::move(other);
}

MaildropLock& MaildropLock::operator=(MaildropLock&& other) noexcept {
  if (this != &other) {
    Release();
    account_ = other.account_;
    held_ = other.held_;
    other.held_ = false;
  }
  return *this;
}

int64_t MaildropLock::StartLogin(uint32_t min_interval_seconds) {
  if (!held_ || min_interval_seconds == 0) return 0;
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  std::lock_guard lock(LockMutex());
  auto [it, fresh] = LastLogins().try_emplace(account_, now);
  if (fresh) return 0;
  int64_t ready = it->second + min_interval_seconds;
  if (now < ready) return ready - now;
  it->second = now;
  return 0;
}

void MaildropLock::Release() {
  if (!held_) return;
  std::lock_guard lock(LockMutex());
  LockedAccounts().erase(account_);
  held_ = false;
}

}  // namespace correio::pop3
