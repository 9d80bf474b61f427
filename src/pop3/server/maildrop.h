// The POP3 maildrop: the INBOX snapshot a session takes at login (RFC 1939
// §4, ARCHITECTURE "POP3"), the policy settings that shape it, and the
// process-wide lock that gives one TRANSACTION per maildrop ([IN-USE]).
//
// Message numbers are 1-based positions in the snapshot and stay fixed for
// the session; mail delivered later shows in the next session. Nothing here
// touches the store: the session loads rows and applies the result.
//
// Thread-safety: a Maildrop belongs to one session. MaildropLock is
// thread-safe (a mutex around a set of account ids).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "store/types.h"

namespace correio::pop3 {

// What QUIT does with the messages marked by DELE (config pop3.delete_mode,
// account setting pop3_delete_mode).
enum class DeleteMode : uint8_t {
  kDelete,    // expunge (RFC 1939)
  kKeepSeen,  // keep in INBOX, set \Seen
  kArchive,   // move to the Archive mailbox (RFC 6154 \Archive)
};
std::optional<DeleteMode> ParseDeleteMode(std::string_view text);

struct Pop3Policy {
  DeleteMode delete_mode = DeleteMode::kDelete;
  bool download_once = false;
  bool mark_seen_on_retr = true;
};
// Server defaults from the config, overridden by the account's settings.
// An unknown delete mode in either falls back to the next level (config
// validation should have caught it; the session logs it).
Pop3Policy PolicyFor(const config::Pop3& config,
                     const store::AccountSettings& settings);

// RFC 2449 §6.7 EXPIRE value for a policy: "0" when download_once hides a
// message after one download, otherwise "NEVER" (we never remove mail the
// client did not delete).
std::string_view ExpireValue(const Pop3Policy& policy);

struct MaildropMessage {
  store::Uid uid = 0;
  uint64_t size = 0;  // octets as stored (CRLF line ends): STAT/LIST
  bool seen = false;
  bool deleted = false;    // DELE in this session
  bool retrieved = false;  // RETR completed in this session
};

// `recent:` logins (as large providers offer) list the last 30 days.
inline constexpr int64_t kRecentWindowSeconds = 30 * 86400;

// Chooses the messages of a maildrop from the INBOX rows (any order):
//  - since set (recent: login): every message with internal_date >= since,
//    whatever earlier sessions downloaded;
//  - otherwise every message whose UID is not in `downloaded` (the
//    download_once marks; pass an empty list when the mode is off).
// Returned in ascending UID order.
std::vector<MaildropMessage> SelectMessages(
    std::vector<store::MessageRow> rows,
    const std::vector<store::Uid>& downloaded, std::optional<int64_t> since);

class Maildrop {
 public:
  Maildrop() = default;
  Maildrop(store::MailboxId mailbox, uint32_t uid_validity,
           std::vector<MaildropMessage> messages)
      : mailbox_(mailbox),
        uid_validity_(uid_validity),
        messages_(std::move(messages)) {}

  store::MailboxId mailbox() const { return mailbox_; }
  // Messages in the snapshot, deleted ones included (message numbers).
  size_t size() const { return messages_.size(); }

  // The message numbered `number` unless out of range (0 included).
  // Deleted messages are returned too: callers check `deleted`.
  MaildropMessage* Find(uint64_t number);

  // STAT: messages not marked deleted and their total size.
  uint32_t Count() const;
  uint64_t Octets() const;

  // RFC 1939 §7 UIDL: "<uidvalidity>.<uid>". IMAP's (UIDVALIDITY, UID) pair
  // names a message for good, so the id is stable across sessions and
  // restarts and the same one IMAP shows; 1..70 octets of 0x21..0x7E.
  std::string UniqueId(const MaildropMessage& message) const;

  void ResetDeletions();  // RSET
  store::UidSet DeletedUids() const;
  // The messages later sessions must not list in download_once mode:
  // retrieved ones, and those kept in the INBOX by a non-expunging DELE.
  store::UidSet DownloadedUids(DeleteMode mode) const;

 private:
  store::MailboxId mailbox_ = 0;
  uint32_t uid_validity_ = 0;
  std::vector<MaildropMessage> messages_;
};

// Ascending UIDs -> ranges.
store::UidSet ToUidSet(const std::vector<store::Uid>& sorted_uids);

// One TRANSACTION state per maildrop in this process (RFC 1939 §8: the
// server should lock the maildrop). The lock is released when the
// MaildropLock is destroyed (session end, whatever the reason).
// Multi-node deployments need a shared lock (a store lease); see
// docs/pop3.md.
class MaildropLock {
 public:
  MaildropLock() = default;
  // Empty (held() false) when another session holds the account.
  static MaildropLock TryAcquire(store::AccountId account);
  MaildropLock(MaildropLock&& other) noexcept;
  MaildropLock& operator=(MaildropLock&& other) noexcept;
  MaildropLock(const MaildropLock&) = delete;
  MaildropLock& operator=(const MaildropLock&) = delete;
  ~MaildropLock() { Release(); }
  bool held() const { return held_; }
  void Release();
  // RFC 2449 §6.5 LOGIN-DELAY, with the lock held: 0 and the login is
  // recorded when the last one to this maildrop was at least
  // `min_interval_seconds` ago (or never, or the interval is 0); otherwise
  // the seconds still to wait, and nothing is recorded.
  int64_t StartLogin(uint32_t min_interval_seconds);

 private:
  explicit MaildropLock(store::AccountId account)
      : account_(account), held_(true) {}
  store::AccountId account_ = 0;
  bool held_ = false;
};

}  // namespace correio::pop3
