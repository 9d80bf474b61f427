// The messages of a selected mailbox as one session sees them (uid, system
// flags, MODSEQ; sequence number i+1 is entry i), encoded in as few octets
// as their range allows, and shared with every other session whose view
// holds exactly the same entries.
//
// The view is most of what an idle session costs beyond its TLS state: as
// plain 10-octet entries, 10 KB for a 1,000-message INBOX, more than a
// third of an idle IMAPS session's memory (bench/README.md). Encoded (see
// Layout below), such an INBOX takes 5 KB, a 10^6-message mailbox 7 MB.
//
// The sessions of one mailbox (a user's phone, laptop and tablet; the many
// IDLE connections of a provider's busiest mailboxes) hold the same entries
// almost all the time, since each applies the same changes from the
// ChangeHub, and then hold them once.
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

#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
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
  // Empty, laid out for entries within `bounds` and with room for
  // bounds.room of them, so that PushBack-ing them one by one as the store
  // reads them (Store::ScanView) writes each in place: the entries are
  // never held twice. Room beyond the entries (a uid range with gaps) is
  // never touched, so it is address space, not memory; Share() trims a
  // small array's. An entry outside the bounds is still kept, only
  // slower: the array is re-encoded, exactly sized, and grows from there.
  explicit ViewEntries(const store::ViewBounds& bounds);
  // Re-encodes in the narrowest layout when that is narrower than the
  // current one, in place: after building from bounds wider than the
  // entries (SQLite's MODSEQ range is 0 .. HIGHESTMODSEQ; a mailbox whose
  // messages were all flagged by one STORE, or moved by one MOVE, has one
  // MODSEQ for all of them and needs no MODSEQ octet at all). And gives
  // back the room of a uid range with more gaps than entries.
  void Tighten();
  // Copies share the array until either side changes it.

  // Entries are decoded on access, so they come by value.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using reference = Entry;
    using pointer = void;
    struct Arrow {  // for it->uid()
      Entry e;
      const Entry* operator->() const { return &e; }
    };

    const_iterator() = default;
    const_iterator(const ViewEntries* v, size_t i) : v_(v), i_(i) {}
    Entry operator*() const { return (*v_)[i_]; }
    Arrow operator->() const { return {**this}; }
    Entry operator[](difference_type n) const { return *(*this + n); }
    const_iterator& operator++() { return ++i_, *this; }
    const_iterator operator++(int) { return {v_, i_++}; }
    const_iterator& operator--() { return --i_, *this; }
    const_iterator operator--(int) { return {v_, i_--}; }
    const_iterator& operator+=(difference_type n) { return i_ += n, *this; }
    const_iterator& operator-=(difference_type n) { return i_ -= n, *this; }
    friend const_iterator operator+(const_iterator a, difference_type n) {
      return a += n;
    }
    friend const_iterator operator+(difference_type n, const_iterator a) {
      return a += n;
    }
    friend const_iterator operator-(const_iterator a, difference_type n) {
      return a -= n;
    }
    friend difference_type operator-(const_iterator a, const_iterator b) {
      return static_cast<difference_type>(a.i_) -
             static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const_iterator a, const_iterator b) {
      return a.i_ == b.i_;
    }
    friend auto operator<=>(const_iterator a, const_iterator b) {
      return a.i_ <=> b.i_;
    }

   private:
    const ViewEntries* v_ = nullptr;
    size_t i_ = 0;
  };

  size_t size() const { return node_ ? node_->count : 0; }
  bool empty() const { return size() == 0; }
  Entry operator[](size_t i) const { return node_->At(i); }
  Entry front() const { return (*this)[0]; }
  Entry back() const { return (*this)[size() - 1]; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size()}; }

  void Set(size_t i, const Entry& e);
  void PushBack(const Entry& e);
  // Removes the entries at `indexes` (0-based, ascending, no repeats).
  void EraseAt(const std::vector<uint32_t>& indexes);

  // Adopts an equal array another session offered, or offers this one.
  // Cheap when nothing changed since the last call.
  void Share();

  // Whether both hold the very same array (tests, diagnostics).
  bool SameArrayAs(const ViewEntries& o) const { return node_ == o.node_; }
  // Which array this is: the same value until the array is copied or
  // swapped for a shared one (tests, diagnostics).
  const void* ArrayId() const { return node_.get(); }
  // The octets the entries take, without the array's spare room (tests,
  // diagnostics).
  size_t EncodedSize() const {
    return node_ ? node_->count * node_->stride() : 0;
  }
  // The octets the array has room for (tests, diagnostics).
  size_t ReservedSize() const { return node_ ? node_->bytes.capacity() : 0; }
  // How many arrays are offered in the process (tests, diagnostics).
  static size_t Offered();

 private:
  // The entries, encoded. Entry i is stride() octets at i * stride():
  // its system flags, then uid - uid_base in uid_width octets, then
  // MODSEQ - modseq_base in modseq_width octets, little-endian. The bases
  // and widths (the Layout) are the array's own, each just wide enough for
  // its range when encoded or tightened (an array built from the store's
  // bounds, or one whose entries were erased, may be wider until then), so
  // a 1,000-message INBOX with UIDs and MODSEQs within 65,536 of each
  // other takes 5 octets a message instead of 10, and a 10^6-message
  // mailbox 7. A change that does not fit re-encodes the array with wider
  // fields; widths grow by a factor of 256 each time, so that is rare.
  struct Layout {
    // The narrowest for uids in [uid_lo, uid_hi] and MODSEQs in [ms_lo,
    // ms_hi] (MODSEQs saturated as Entry keeps them; an inverted range
    // taken as empty).
    static Layout For(store::Uid uid_lo, store::Uid uid_hi, store::ModSeq ms_lo,
                      store::ModSeq ms_hi);
    store::Uid uid_base = 0;
    store::ModSeq modseq_base = 0;
    uint8_t uid_width = 0;
    uint8_t modseq_width = 0;
    size_t stride() const { return 1u + uid_width + modseq_width; }
    bool Fits(const Entry& e) const;
    Entry Read(const uint8_t* p) const;
    void Write(uint8_t* p, const Entry& e) const;  // e must fit
    bool operator==(const Layout&) const = default;
  };
  struct Node {
    std::vector<uint8_t> bytes;
    size_t count = 0;
    Layout layout;
    size_t stride() const { return layout.stride(); }
    Entry At(size_t i) const { return layout.Read(&bytes[i * stride()]); }
    void Put(size_t i, const Entry& e) {
      layout.Write(&bytes[i * stride()], e);
    }
    // The layout with the narrowest fields for entries get(0) .. get(n-1).
    template <class Get>
    static Layout Narrowest(size_t n, Get get);
    // Encodes entries get(0) .. get(n-1) afresh in layout `l` (they must
    // fit), or in the narrowest.
    template <class Get>
    void EncodeAs(const Layout& l, size_t n, Get get);
    template <class Get>
    void EncodeNarrowest(size_t n, Get get) {
      EncodeAs(Narrowest(n, get), n, get);
    }

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
  friend bool SameEntries(const Node& a, const Node& b);
  // Makes node_ an array only this object holds, copying if need be.
  void MakePrivate();
  // Tighten()'s re-encoding in the narrowest layout, in place.
  void Narrow();

  std::shared_ptr<Node> node_;
};

}  // namespace correio::imap
