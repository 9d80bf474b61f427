// Typed IMAP commands (STYLE 3: parse, then execute).
//
// ParseCommand() (parser.h) turns the bytes of one complete command (its
// lines and literals, as assembled by CommandAssembler) into a Command;
// handlers in imap/server only ever see these structs. Mailbox names are
// kept as they came over the wire (modified UTF-7 or UTF-8): the session
// decodes them, since that depends on whether UTF8=ACCEPT is enabled.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace correio::imap {

// '*' in a sequence set (RFC 9051 §9 seq-number).
inline constexpr uint32_t kStar = UINT32_MAX;

// One element of a sequence set as written: "5", "2:4", "7:*", "*:3".
struct SeqRange {
  uint32_t first = 0;
  uint32_t last = 0;
  bool operator==(const SeqRange&) const = default;
};

struct SequenceSet {
  std::vector<SeqRange> ranges;
  // "$": the saved search result (RFC 5182 SEARCHRES).
  bool saved = false;
  bool operator==(const SequenceSet&) const = default;
};

// RFC 9051 §6.4.4 search keys. A list of keys is an AND (kAnd).
struct SearchKey {
  enum class Kind : uint8_t {
    kAnd,  // children, all must match
    kAll,
    kAnswered,
    kBcc,
    kBefore,
    kBody,
    kCc,
    kDeleted,
    kDraft,
    kFlagged,
    kFrom,
    kHeader,  // field + value
    kKeyword,
    kLarger,
    kNew,
    kNot,  // one child
    kOld,
    kOn,
    kOr,  // two children
    kRecent,
    kSeen,
    kSentBefore,
    kSentOn,
    kSentSince,
    kSince,
    kSmaller,
    kSubject,
    kText,
    kTo,
    kUid,     // set
    kSeqSet,  // set
    kUnanswered,
    kUndeleted,
    kUndraft,
    kUnflagged,
    kUnkeyword,
    kUnseen,
    kOlder,    // RFC 5032 WITHIN: number = seconds
    kYounger,  // RFC 5032
    kModSeq,   // RFC 7162 (number)
    kSaveDateBefore,  // RFC 8514
    kSaveDateOn,
    kSaveDateSince,
    kSaveDateSupported,
    kEmailId,   // RFC 8474
    kThreadId,  // RFC 8474
  };
  Kind kind = Kind::kAll;
  std::string field;  // kHeader: the field name
  std::string value;  // strings, keywords
  uint64_t number = 0;  // sizes, seconds, modseq
  int64_t date = 0;     // dates: unix seconds of 00:00 UTC of that day
  SequenceSet set;
  std::vector<SearchKey> children;
};

// A BODY[...] / BINARY[...] section spec (RFC 9051 §6.4.5).
struct SectionSpec {
  enum class Kind : uint8_t {
    kWhole,
    kHeader,
    kHeaderFields,
    kHeaderFieldsNot,
    kText,
    kMime
  };
  std::vector<uint32_t> part;  // "1.2.3"; empty = the whole message
  Kind kind = Kind::kWhole;
  std::vector<std::string> fields;  // HEADER.FIELDS (...)
  bool operator==(const SectionSpec&) const = default;
};

struct FetchItem {
  enum class Kind : uint8_t {
    kEnvelope,
    kFlags,
    kInternalDate,
    kRfc822,         // = BODY[]
    kRfc822Header,   // = BODY.PEEK[HEADER]
    kRfc822Size,
    kRfc822Text,     // = BODY[TEXT]
    kBody,           // BODY: the structure without extension data
    kBodyStructure,
    kUid,
    kBodySection,    // BODY[section]<partial> / BODY.PEEK[...]
    kBinary,         // BINARY[part]<partial> (RFC 3516)
    kBinarySize,
    kModSeq,         // RFC 7162
    kSaveDate,       // RFC 8514
    kPreview,        // RFC 8970
    kEmailId,        // RFC 8474
    kThreadId,
  };
  Kind kind = Kind::kFlags;
  bool peek = false;
  SectionSpec section;
  // <origin.count>
  std::optional<std::pair<uint32_t, uint32_t>> partial;
  bool operator==(const FetchItem&) const = default;
};

enum class StoreOp : uint8_t { kAdd, kRemove, kReplace };

struct NoArgs {};

struct LoginArgs {
  std::string user;
  std::string password;
};

struct AuthenticateArgs {
  std::string mechanism;  // uppercased
  // SASL-IR (RFC 4959): the base64 text as sent; "=" is an empty response.
  std::optional<std::string> initial_response;
};

struct IdArgs {
  // nullopt: "ID NIL".
  std::optional<std::vector<std::pair<std::string, std::optional<std::string>>>>
      params;
};

struct EnableArgs {
  std::vector<std::string> capabilities;  // uppercased
};

// SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids
// [(seq-set uid-set)]])), RFC 7162 §3.2.5.
struct QresyncParams {
  uint32_t uid_validity = 0;
  uint64_t modseq = 0;
  std::optional<SequenceSet> known_uids;
  // The sequence-match data is parsed and not used: the expunge log is
  // complete, so VANISHED (EARLIER) is exact without it.
  std::optional<SequenceSet> match_seqs, match_uids;
};

struct SelectArgs {
  std::string mailbox;
  bool condstore = false;  // (CONDSTORE) select parameter, RFC 7162 §3.1.8
  std::optional<QresyncParams> qresync;
};

struct MailboxArgs {  // DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT
  std::string mailbox;
};

struct CreateArgs {
  std::string mailbox;
  std::vector<std::string> special_use;  // (USE (\Drafts)), RFC 6154 §3
};

struct RenameArgs {
  std::string from;
  std::string to;
};

struct ListArgs {
  bool lsub = false;
  bool extended = false;  // any LIST-EXTENDED syntax was used
  std::vector<std::string> selection;  // uppercased: SUBSCRIBED, REMOTE, ...
  std::string reference;
  std::vector<std::string> patterns;
  // RETURN options, uppercased: SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS.
  std::vector<std::string> return_options;
  std::vector<std::string> status_items;  // RETURN (STATUS (...))
};

struct StatusArgs {
  std::string mailbox;
  std::vector<std::string> items;  // uppercased
};

struct AppendMessage {
  std::vector<std::string> flags;
  std::optional<int64_t> internal_date;  // unix seconds
  std::string data;
  bool binary = false;  // sent as literal8 (RFC 3516)
};

struct AppendArgs {
  std::string mailbox;
  std::vector<AppendMessage> messages;  // > 1: MULTIAPPEND (RFC 3502)
};

struct FetchArgs {
  SequenceSet set;
  std::vector<FetchItem> items;
  std::optional<uint64_t> changed_since;  // RFC 7162
  bool vanished = false;
};

struct StoreArgs {
  SequenceSet set;
  StoreOp op = StoreOp::kAdd;
  bool silent = false;
  std::vector<std::string> flags;
  std::optional<uint64_t> unchanged_since;
};

struct CopyArgs {  // COPY and MOVE
  SequenceSet set;
  std::string mailbox;
};

struct SearchArgs {
  std::optional<std::string> charset;
  bool has_return = false;  // RETURN (...) given: ESEARCH response
  std::vector<std::string> return_options;  // MIN MAX COUNT ALL SAVE
  SearchKey key;  // kAnd of the given keys
};

struct SortArgKey {
  enum class Kind : uint8_t {
    kArrival,
    kCc,
    kDate,
    kFrom,
    kSize,
    kSubject,
    kTo,
    kDisplayFrom,  // RFC 5957
    kDisplayTo,
  };
  Kind kind = Kind::kArrival;
  bool reverse = false;
};

struct SortArgs {
  std::vector<SortArgKey> keys;
  std::string charset;
  bool has_return = false;  // ESORT (RFC 5267)
  std::vector<std::string> return_options;
  SearchKey key;
};

struct ThreadArgs {
  std::string algorithm;  // uppercased
  std::string charset;
  SearchKey key;
};

struct UidExpungeArgs {
  SequenceSet set;
};

struct QuotaArgs {  // GETQUOTA
  std::string root;
};

// NOTIFY (RFC 5465 §8). Events as bits; unknown event names are kept in
// `unknown` so the server can answer NO [BADEVENT].
enum NotifyEvent : uint32_t {
  kEvMessageNew = 1 << 0,
  kEvMessageExpunge = 1 << 1,
  kEvFlagChange = 1 << 2,
  kEvAnnotationChange = 1 << 3,
  kEvMailboxName = 1 << 4,
  kEvSubscriptionChange = 1 << 5,
  kEvMailboxMetadataChange = 1 << 6,
  kEvServerMetadataChange = 1 << 7,
};

struct NotifyGroup {
  enum class Filter : uint8_t {
    kSelected,
    kSelectedDelayed,
    kInboxes,
    kPersonal,
    kSubscribed,
    kSubtree,    // mailboxes and everything below them
    kMailboxes,  // exactly these
  };
  Filter filter = Filter::kSelected;
  std::vector<std::string> mailboxes;  // kSubtree, kMailboxes (wire form)
  uint32_t events = 0;                 // NotifyEvent bits; 0: NONE
  std::vector<FetchItem> new_fetch;    // MessageNew (fetch-att ...)
  std::vector<std::string> unknown;    // event names not in NotifyEvent
};

struct NotifyArgs {
  bool none = false;    // NOTIFY NONE
  bool status = false;  // NOTIFY SET STATUS
  std::vector<NotifyGroup> groups;
};

struct CompressArgs {
  std::string mechanism;
};

using CommandArgs =
    std::variant<NoArgs, LoginArgs, AuthenticateArgs, IdArgs, EnableArgs,
                 SelectArgs, MailboxArgs, CreateArgs, RenameArgs, ListArgs,
                 StatusArgs, AppendArgs, FetchArgs, StoreArgs, CopyArgs,
                 SearchArgs, SortArgs, ThreadArgs, UidExpungeArgs, QuotaArgs,
                 CompressArgs, NotifyArgs>;

struct Command {
  std::string tag;
  std::string name;  // uppercased; "FETCH" for "UID FETCH" (uid = true)
  bool uid = false;
  CommandArgs args;
};

}  // namespace correio::imap
