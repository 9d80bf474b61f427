// RFC 5256 base subject extraction and the THREAD algorithms
// ORDEREDSUBJECT and REFERENCES, plus the THREAD response format.
//
// No I/O: the caller gathers per-message data (from the stored summaries)
// into ThreadMessage values and renders the result.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message.h"

namespace correio::imap {

// RFC 5256 §2.1 base subject of an already RFC 2047-decoded subject:
// whitespace runs collapsed, "(fwd)" trailers, "Re:"/"Fw:"/"Fwd:" leaders,
// "[blob]" prefixes and "[fwd: ...]" wrappers removed. Case is kept;
// compare base subjects case-insensitively (i;ascii-casemap, RFC 5256 §3
// asks for the I18NLEVEL=1 comparator, of which ASCII folding is the part
// that matters for these prefixes).
std::string BaseSubject(std::string_view decoded_subject);

// Addition: the base subject and whether extraction found a reply or
// forward marker (steps 2, 3 or 6 removed "Re:", "Fwd:", "(fwd)" or
// "[fwd:...]"), which REFERENCES step 5 needs.
struct BaseSubjectInfo {
  std::string subject;
  bool is_reply_or_forward = false;
};
BaseSubjectInfo ExtractBaseSubject(std::string_view decoded_subject);

struct ThreadMessage {
  uint32_t id;             // sequence number or UID: what THREAD prints;
                           // also the tie-break order (RFC 5256 §3)
  std::string message_id;  // Message-ID, "<...>" (brackets optional)
  // References msg-ids in order; when the message has no References, the
  // first msg-id of In-Reply-To (RFC 5256 §3 REFERENCES step 1.A).
  std::vector<std::string> references;
  std::string base_subject;  // BaseSubject() of the decoded Subject
  int64_t date;              // sent date (Date:, else internal date), UTC
  // Addition: ExtractBaseSubject().is_reply_or_forward. Defaults to false,
  // which only changes how same-subject roots are grouped.
  bool subject_is_reply = false;
};

struct ThreadNode {
  uint32_t id = 0;  // 0: a dummy (a missing parent kept to hold siblings)
  std::vector<ThreadNode> children;
};

// RFC 5256 §3 ORDEREDSUBJECT: messages grouped by base subject; each
// thread is its first message (by date, then id) with the others as its
// children; threads ordered by their first message.
std::vector<ThreadNode> ThreadOrderedSubject(std::vector<ThreadMessage> msgs);

// RFC 5256 §3 REFERENCES (the jwz algorithm). Loops in References are
// ignored link by link, duplicate and missing Message-IDs make the message
// unreferenceable, so any input terminates in O(n log n + total refs).
std::vector<ThreadNode> ThreadReferences(std::vector<ThreadMessage> msgs);

// RFC 5256 §4 thread-list: "(1 2 (3)(4 5))(6)"; a dummy root with several
// children is "((3)(5))". Empty input gives "".
std::string RenderThreads(const std::vector<ThreadNode>& roots);

// ---- Additions: gathering the inputs and SORT (RFC 5256 §3, RFC 5957) ----

// msg-ids ("<...>") of a References or In-Reply-To value, in order,
// brackets kept; junk between them (comments, phrases) is skipped.
std::vector<std::string> ParseMsgIds(std::string_view header_value);

// The RFC 5256 §2.2 sent date: Date: when it parses, else `internal_date`.
int64_t SentDate(const mime::Summary& s, int64_t internal_date);

// ThreadMessage from a summary. `references_header` is the unfolded
// References value (nullopt when absent: In-Reply-To's first msg-id is then
// used, RFC 5256 §3 REFERENCES step 1.A). The subject is RFC 2047-decoded
// before BaseSubject.
ThreadMessage MakeThreadMessage(
    uint32_t id, const mime::Summary& s,
    const std::optional<std::string>& references_header, int64_t internal_date);

enum class SortKey {
  kArrival,      // INTERNALDATE
  kCc,           // addr-mailbox of the first Cc address
  kDate,         // sent date
  kFrom,         // addr-mailbox of the first From address
  kSize,         // RFC822.SIZE
  kSubject,      // base subject
  kTo,           // addr-mailbox of the first To address
  kDisplayFrom,  // RFC 5957: decoded display name, else addr-spec
  kDisplayTo,
};
struct SortCriterion {
  SortKey key;
  bool reverse = false;
};
struct SortMessage {
  uint32_t id = 0;  // sequence number or UID; final tie-break (RFC 5256 §3)
  int64_t arrival = 0;
  int64_t date = 0;
  uint64_t size = 0;
  std::string subject, from, to, cc, display_from, display_to;
};
SortMessage MakeSortMessage(uint32_t id, const mime::Summary& s,
                            int64_t internal_date, uint64_t size);
// The ids in SORT order. Strings compare with i;ascii-casemap (a-z mapped
// to A-Z, then octets), RFC 5256 §2.1's default collation; equal keys fall
// through to the next criterion and finally to id order.
std::vector<uint32_t> SortMessages(std::vector<SortMessage> msgs,
                                   const std::vector<SortCriterion>& criteria);

}  // namespace correio::imap
