// Value types of the mail store. Plain structs, no backend types: the same
// values cross every backend (sqlite, memory, later postgres).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace correio::store {

using AccountId = int64_t;
using MailboxId = int64_t;
using MessageId = int64_t;  // store-wide id of one stored message row
using BlobId = int64_t;     // store-wide id of one body blob
using Uid = uint32_t;
using ModSeq = uint64_t;

struct Domain {
  std::string name;  // lowercase
};

// SCRAM-SHA-256 credentials (RFC 5802/7677), derived when a password is set
// so SCRAM works without the plaintext. Empty when only an imported hash is
// known (SCRAM is then unavailable for that account until the next passwd).
struct ScramCredentials {
  std::string salt;  // raw bytes
  uint32_t iterations = 0;
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes
  bool empty() const { return iterations == 0; }
};

// Per-account settings that protocols read. Defaults come from the server
// config; an unset optional means "use the server default".
struct AccountSettings {
  std::optional<std::string> pop3_delete_mode;  // delete | keep-seen | archive
  std::optional<bool> pop3_download_once;
};

struct Account {
  AccountId id = 0;
  std::string address;        // normalized, lowercase
  std::string password_hash;  // "$argon2id$..." or an imported crypt format
  ScramCredentials scram;
  // APOP (RFC 1939 §7) needs the password itself: MD5(timestamp + secret).
  // Kept only while pop3.apop is on (docs/pop3.md); empty otherwise.
  std::string apop_secret;
  uint64_t quota_bytes = 0;     // 0 = unlimited
  uint64_t quota_messages = 0;  // 0 = unlimited
  AccountSettings settings;
  int64_t created = 0;  // unix seconds
};

struct QuotaUsage {
  uint64_t bytes = 0;
  uint64_t messages = 0;
};

struct Alias {
  std::string source;  // "sales@example.org" or catch-all "@example.org"
  std::vector<std::string> targets;
};

// RFC 6154 special-use attributes.
enum class SpecialUse : uint8_t {
  kNone = 0,
  kAll,
  kArchive,
  kDrafts,
  kFlagged,
  kJunk,
  kSent,
  kTrash,
};
const char* SpecialUseAttribute(SpecialUse use);  // "\\Sent", "" for kNone

struct Mailbox {
  MailboxId id = 0;
  AccountId account = 0;
  std::string name;  // UTF-8, '/' separated, "INBOX" is always INBOX
  SpecialUse special_use = SpecialUse::kNone;
  bool subscribed = false;
  uint32_t uid_validity = 0;
  Uid uid_next = 1;
  ModSeq highest_modseq = 1;
};

struct MailboxStatus {
  uint32_t messages = 0;
  uint32_t unseen = 0;
  uint32_t deleted = 0;
  uint32_t recent = 0;  // always 0: \Recent is not kept (RFC 9051 dropped it)
  uint64_t size = 0;
};

// System flags as a bitmask; keywords are kept as strings beside them.
enum Flag : uint32_t {
  kFlagSeen = 1u << 0,
  kFlagAnswered = 1u << 1,
  kFlagFlagged = 1u << 2,
  kFlagDeleted = 1u << 3,
  kFlagDraft = 1u << 4,
};

struct Flags {
  uint32_t system = 0;
  std::vector<std::string> keywords;  // sorted, unique, as given in case
  bool operator==(const Flags&) const = default;
};

// One message in one mailbox.
struct MessageRow {
  MessageId id = 0;  // stable across MOVE within the store (OBJECTID EMAILID)
  MailboxId mailbox = 0;
  Uid uid = 0;
  ModSeq modseq = 0;
  Flags flags;
  int64_t internal_date = 0;  // unix seconds
  int64_t save_date = 0;      // unix seconds (RFC 8514)
  uint64_t size = 0;          // octets as stored (CRLF line ends)
  BlobId blob = 0;
};

// One message's flags and MODSEQ (change events, flag update results).
struct ViewEntry {
  Uid uid = 0;
  ModSeq modseq = 0;
  Flags flags;
};

// A mailbox and its messages as a session's view holds them, read in one
// snapshot: mailbox.uid_next and highest_modseq are those of exactly these
// entries. Sized for SELECT of 10^6 messages in under 10 MB: 10 octets a
// message, no allocation per message, keywords only for the messages that
// have any. An IMAP session keeps them narrower still
// (imap/server/view_entries.h).
struct MailboxView {
#pragma pack(push, 1)
  class Entry {
   public:
    // MODSEQ is kept in 40 bits (10^12 changes); beyond that it saturates,
    // which only makes CHANGEDSINCE and SEARCH MODSEQ include the message.
    static constexpr ModSeq kMaxModSeq = (ModSeq{1} << 40) - 1;

    Entry() = default;
    Entry(Uid u, uint32_t system_flags, ModSeq m)
        : system(static_cast<uint8_t>(system_flags)), uid_(u) {
      set_modseq(m);
    }
    // By value: the fields are packed (unaligned), so no reference to them
    // may be taken.
    Uid uid() const { return uid_; }
    ModSeq modseq() const {
      return static_cast<ModSeq>(modseq_lo_) |
             static_cast<ModSeq>(modseq_hi_) << 32;
    }
    void set_modseq(ModSeq m) {
      if (m > kMaxModSeq) m = kMaxModSeq;
      modseq_lo_ = static_cast<uint32_t>(m);
      modseq_hi_ = static_cast<uint8_t>(m >> 32);
    }

    uint8_t system = 0;  // Flag bits (all fit in 8)

    friend bool operator==(Entry a, Entry b) {
      return a.uid() == b.uid() && a.system == b.system &&
             a.modseq() == b.modseq();
    }

   private:
    Uid uid_ = 0;
    uint32_t modseq_lo_ = 0;
    uint8_t modseq_hi_ = 0;
  };
#pragma pack(pop)
  static_assert(sizeof(Entry) == 10);
  Mailbox mailbox;
  std::vector<Entry> entries;  // ascending uid
  std::vector<std::pair<Uid, std::vector<std::string>>> keywords;  // by uid
};

// What Store::ScanView reports before the rows, from the same snapshot, so
// a receiver can size and lay out its copy once: how many rows to make
// room for (a hint: SQLite reports the uid range, which is the count
// unless messages were expunged, up to 2^22, rather than count them in a
// pass of its own, 37 ms at 10^6; 0 when none follow), the lowest and highest
// uid (exact; 0 if none), and a range every row's MODSEQ lies in, which
// may be wider than theirs (SQLite reports 0 .. HIGHESTMODSEQ: the exact
// range would cost a second scan, 0.11 s at 10^6).
struct ViewBounds {
  size_t room = 0;
  Uid min_uid = 0, max_uid = 0;
  ModSeq min_modseq = 0, max_modseq = 0;
};

// What a message body is stored with: the raw bytes plus what was parsed
// from them once (mime/ summary, serialized; decoded search text).
struct NewBlob {
  std::string data;         // exact octets, CRLF line ends
  std::string summary;      // opaque to the store: serialized mime summary
  std::string search_text;  // decoded body text for the full-text index
  // Decoded header text (RFC 2047 words decoded) for the full-text index:
  // SEARCH TEXT looks in headers and body, SEARCH BODY only in the body
  // text (SearchBody()).
  std::string search_headers;
  // Set when the body text is octets of `data` as they stand (one text
  // part sent as UTF-8 without transfer encoding: most mail), search_text
  // then empty. The store keeps such text as a reference into the body
  // rather than a second copy until it is indexed.
  struct Slice {
    size_t offset = 0;
    size_t size = 0;
  };
  std::optional<Slice> search_text_in_data;

  // The decoded body text, wherever it is kept.
  std::string_view SearchBody() const {
    if (!search_text_in_data) return search_text;
    return std::string_view(data).substr(search_text_in_data->offset,
                                         search_text_in_data->size);
  }
};

struct BlobInfo {
  BlobId id = 0;
  uint64_t size = 0;
  std::string summary;
};

// One destination of a delivery or append.
struct DeliveryTarget {
  MailboxId mailbox = 0;
  Flags flags;
  int64_t internal_date = 0;  // unix seconds
};

// One message of a multi-message append (RFC 3502 MULTIAPPEND).
struct NewMessage {
  NewBlob blob;
  DeliveryTarget target;
};

struct Delivered {
  MailboxId mailbox = 0;
  Uid uid = 0;
  ModSeq modseq = 0;
  MessageId id = 0;
};

enum class FlagOp : uint8_t { kAdd, kRemove, kReplace };

struct FlagUpdate {
  FlagOp op = FlagOp::kAdd;
  Flags flags;
  // CONDSTORE (RFC 7162 §3.1.3): only messages whose modseq is <= this are
  // changed; the others are reported as not modified.
  std::optional<ModSeq> unchanged_since;
};

struct FlagResult {
  std::vector<ViewEntry> changed;  // new flags and modseq of each changed
  std::vector<Uid> not_modified;   // failed UNCHANGEDSINCE
};

struct CopyResult {
  uint32_t dest_uid_validity = 0;
  std::vector<Uid> source_uids;  // in the order copied
  std::vector<Uid> dest_uids;    // same length: COPYUID / APPENDUID data
};

struct ExpungeResult {
  std::vector<Uid> uids;
  ModSeq modseq = 0;
};

// Write-path counters of one open store (Store::Stats).
struct StoreStats {
  uint64_t write_calls = 0;    // write calls finished (ok or failed)
  uint64_t failed_calls = 0;   // of which failed
  uint64_t commits = 0;        // transactions committed (one fsync each)
  uint64_t largest_batch = 0;  // most write calls that shared one commit
  uint64_t checkpoints = 0;    // WAL checkpoints run beside the writer
  uint64_t index_wakes = 0;    // times the background indexer looked for work
  uint64_t queued = 0;         // write calls waiting for the writer now
  uint64_t running = 0;        // write calls in the batch being run now
};

// A UID set as ascending, non-overlapping closed ranges.
struct UidRange {
  Uid first = 0;
  Uid last = 0;
};
using UidSet = std::vector<UidRange>;

}  // namespace correio::store
