// The messages of a selected mailbox as one session sees them (uid, system
// flags, MODSEQ; sequence number i+1 is entry i), shared with every other
// session whose view holds exactly the same entries.
//
// The sessions of one mailbox (a user's phone, laptop and tablet; the many
// IDLE connections of a provider's busiest mailboxes) hold the same entries
// almost all the time, since each applies the same changes from the
// ChangeHub. Without sharing, each session kept its own array: 10 octets a
// message, 10 KB per session for a 1,000-message INBOX, more than a third of
// an idle IMAPS session's memory (bench/README.md).
//
// Copy-on-write. A change made while the array is shared goes to a private
// copy; Share(), called at each point where the session is consistent
// again (the end of a command, each IDLE update), swaps that copy for an
// equal array another session already offered, or offers it. Equality is
// by content: a fingerprint kept up to date with each change finds the
// candidate, then the entries are compared. Never by a version or a
// MODSEQ: a session may still hold expunged messages it is not yet allowed
// to announce (RFC 9051 §7.5.1), and its view then really differs.
//
// Arrays of more than kMaxShared entries are never shared: each session
// would copy its whole array at every change, which for a 10^6-message
// mailbox costs more CPU than the memory saved is worth.
//
// One ViewEntries belongs to one session (its thread); the arrays behind
// it are immutable while shared, so sessions on other io threads, and
// copies handed to the blocking pool, read them without locks. The offer
// table has one mutex, taken only by Share() and by a change to an
// offered array that no one else holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "store/types.h"

namespace correio::imap {

class ViewEntries {
 public:
  using Entry = store::MailboxView::Entry;
  static constexpr size_t kMaxShared = size_t{1} << 16;

  ViewEntries() = default;
  explicit ViewEntries(std::vector<Entry> entries);
  // Copies share the array until either side changes it.

  size_t size() const { return node_ ? node_->entries.size() : 0; }
  bool empty() const { return size() == 0; }
  const Entry& operator[](size_t i) const { return node_->entries[i]; }
  const Entry& front() const { return node_->entries.front(); }
  const Entry& back() const { return node_->entries.back(); }
  const Entry* begin() const { return node_ ? node_->entries.data() : nullptr; }
  const Entry* end() const { return begin() + size(); }

  void Set(size_t i, const Entry& e);
  void PushBack(const Entry& e);
  // Removes the entries at `indexes` (0-based, ascending, no repeats).
  void EraseAt(const std::vector<uint32_t>& indexes);

  // Adopts an equal array another session offered, or offers this one.
  // Cheap when nothing changed since the last call.
  void Share();

  // Whether both hold the very same array (tests, diagnostics).
  bool SameArrayAs(const ViewEntries& o) const { return node_ == o.node_; }
  // How many arrays are offered in the process (tests, diagnostics).
  static size_t Offered();

 private:
  struct Node {
    std::vector<Entry> entries;
    // The sum of EntryHash over entries (view_entries.cc), once Share()
    // has computed it (arrays too big to share never pay for it).
    uint64_t fingerprint = 0;
    bool hashed = false;
    // In the offer table. Changed only by the one ViewEntries that holds
    // the node alone (use_count 1), under the table's mutex.
    bool offered = false;
    // Share() has nothing to do until the next change (offered, or not
    // shareable: its size, or a fingerprint collision). Offered implies
    // settled, so no one writes to a node other sessions may hold.
    bool settled = false;
    ~Node();
  };
  friend class OfferTable;
  // Makes node_ an array only this object holds, copying if need be.
  void MakePrivate();

  std::shared_ptr<Node> node_;
};

}  // namespace correio::imap
