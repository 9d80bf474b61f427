#include "imap/server/view_entries.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace correio::imap {

namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A view's fingerprint is the sum of its entries' hashes, so that each
// change updates it in O(1). Order is not hashed: entries are sorted by
// uid and a uid appears once, so the set of entries is the array.
uint64_t EntryHash(const ViewEntries::Entry& e) {
  return Mix(Mix(uint64_t{e.uid()} << 8 | e.system) ^ e.modseq());
}

// Octets needed for values 0 .. v.
uint8_t WidthFor(uint64_t v) {
  uint8_t w = 0;
  while (v) {
    ++w;
    v >>= 8;
  }
  return w;
}

uint64_t LoadLe(const uint8_t* p, uint8_t width) {
  uint64_t v = 0;
  for (uint8_t k = 0; k < width; ++k) v |= uint64_t{p[k]} << (8 * k);
  return v;
}

void PutLe(uint8_t* p, uint8_t width, uint64_t v) {
  for (uint8_t k = 0; k < width; ++k) p[k] = static_cast<uint8_t>(v >> (8 * k));
}

// Widths are at most 5 (32-bit uids, MODSEQs saturated at 40 bits), so the
// shift is defined.
bool FitsIn(uint64_t v, uint64_t base, uint8_t width) {
  return v >= base && (v - base) >> (8 * width) == 0;
}

}  // namespace

bool ViewEntries::Layout::Fits(const Entry& e) const {
  return FitsIn(e.uid(), uid_base, uid_width) &&
         FitsIn(e.modseq(), modseq_base, modseq_width);
}

ViewEntries::Entry ViewEntries::Layout::Read(const uint8_t* p) const {
  return Entry(static_cast<store::Uid>(uid_base + LoadLe(p + 1, uid_width)),
               p[0], modseq_base + LoadLe(p + 1 + uid_width, modseq_width));
}

void ViewEntries::Layout::Write(uint8_t* p, const Entry& e) const {
  p[0] = e.system;
  PutLe(p + 1, uid_width, e.uid() - uid_base);
  PutLe(p + 1 + uid_width, modseq_width, e.modseq() - modseq_base);
}

ViewEntries::Layout ViewEntries::Layout::For(store::Uid uid_lo,
                                             store::Uid uid_hi,
                                             store::ModSeq ms_lo,
                                             store::ModSeq ms_hi) {
  // As Entry keeps them (MODSEQ saturated), and never an inverted range:
  // widths stay at most 5 whatever the caller says.
  ms_lo = std::min(ms_lo, Entry::kMaxModSeq);
  ms_hi = std::max(std::min(ms_hi, Entry::kMaxModSeq), ms_lo);
  uid_hi = std::max(uid_hi, uid_lo);
  return {uid_lo, ms_lo, WidthFor(uid_hi - uid_lo), WidthFor(ms_hi - ms_lo)};
}

template <class Get>
ViewEntries::Layout ViewEntries::Node::Narrowest(size_t n, Get get) {
  store::Uid uid_lo = 0, uid_hi = 0;
  store::ModSeq ms_lo = 0, ms_hi = 0;
  for (size_t i = 0; i < n; ++i) {
    Entry e = get(i);
    if (i == 0 || e.uid() < uid_lo) uid_lo = e.uid();
    if (i == 0 || e.uid() > uid_hi) uid_hi = e.uid();
    if (i == 0 || e.modseq() < ms_lo) ms_lo = e.modseq();
    if (i == 0 || e.modseq() > ms_hi) ms_hi = e.modseq();
  }
  return Layout::For(uid_lo, uid_hi, ms_lo, ms_hi);
}

template <class Get>
void ViewEntries::Node::EncodeAs(const Layout& l, size_t n, Get get) {
  std::vector<uint8_t> fresh(n * l.stride());
  for (size_t i = 0; i < n; ++i) l.Write(&fresh[i * l.stride()], get(i));
  bytes.swap(fresh);
  count = n;
  layout = l;
}

// Equal entries, whatever their encoding (two sessions that loaded the
// mailbox at different times may have other bases).
bool SameEntries(const ViewEntries::Node& a, const ViewEntries::Node& b) {
  if (a.count != b.count) return false;
  if (a.layout == b.layout) {
    return a.count == 0 || std::memcmp(a.bytes.data(), b.bytes.data(),
                                       a.count * a.stride()) == 0;
  }
  for (size_t i = 0; i < a.count; ++i) {
    if (a.At(i) != b.At(i)) return false;
  }
  return true;
}

// The arrays offered for sharing, by fingerprint and size. Weak: an array
// lives as long as some session holds it, and its last holder takes it out.
class OfferTable {
 public:
  using Node = ViewEntries::Node;
  // Never destroyed: sessions (and their arrays) may outlive static
  // destruction at exit.
  static OfferTable& Get() {
    static auto* table = new OfferTable;
    return *table;
  }
  static uint64_t Key(const Node& n) {
    return n.fingerprint ^ Mix(n.count + 0x9e3779b97f4a7c15ULL);
  }
  // Takes a live offered node out (under mu). Its slot is its own: a slot
  // changes hands only once its node has expired.
  void Withdraw(const Node& n) { offers.erase(Key(n)); }

  std::mutex mu;
  std::unordered_map<uint64_t, std::weak_ptr<Node>> offers;
};

ViewEntries::Node::~Node() {
  if (!offered) return;
  auto& t = OfferTable::Get();
  std::lock_guard lock(t.mu);
  auto it = t.offers.find(OfferTable::Key(*this));
  // Expired is this node (or another dead one); a live one took the slot
  // after this node's last holder let go, and stays.
  if (it != t.offers.end() && it->second.expired()) t.offers.erase(it);
}

ViewEntries::ViewEntries(std::vector<Entry> entries)
    : node_(std::make_shared<Node>()) {
  node_->EncodeNarrowest(entries.size(), [&](size_t i) { return entries[i]; });
}

ViewEntries::ViewEntries(const store::ViewBounds& bounds)
    : node_(std::make_shared<Node>()) {
  node_->layout = Layout::For(bounds.min_uid, bounds.max_uid, bounds.min_modseq,
                              bounds.max_modseq);
  node_->bytes.reserve(bounds.room * node_->stride());
}

void ViewEntries::Tighten() {
  if (!node_) return;
  // Room reserved for a uid range with more gaps than messages was never
  // touched, but it is address space (and commit charge where overcommit
  // is strict) for as long as the session stays: a copy of the entries,
  // less than half of it, gives it back. (Share() trims a small array.)
  const bool spare = node_->count > kMaxShared &&
                     node_->bytes.capacity() > 2 * node_->bytes.size();
  Narrow();
  if (spare) {
    MakePrivate();
    node_->bytes.shrink_to_fit();
  }
}

void ViewEntries::Narrow() {
  const Node* n = node_.get();
  const Layout l =
      Node::Narrowest(n->count, [n](size_t i) { return n->At(i); });
  if (l.stride() >= n->stride()) return;
  MakePrivate();
  Node& own = *node_;
  // In place, front to back: entry i's new octets end at (i+1) * the new
  // stride, at or before entry i+1's old ones begin, and each entry is
  // read before it is written. No second array, whatever the size.
  const Layout old = own.layout;
  uint8_t* p = own.bytes.data();
  for (size_t i = 0; i < own.count; ++i) {
    l.Write(p + i * l.stride(), old.Read(p + i * old.stride()));
  }
  own.layout = l;
  own.bytes.resize(own.count * l.stride());
  // The whole pages past the end go back to the system rather than the
  // array being copied smaller, which would hold it twice for a moment
  // (their contents are spare room; a page given back reads as zeros if
  // the array grows into it again). Share() trims a small array's tail.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto from =
      (reinterpret_cast<uintptr_t>(p) + own.bytes.size() + page - 1) &
      ~(page - 1);
  const auto to =
      (reinterpret_cast<uintptr_t>(p) + own.bytes.capacity()) & ~(page - 1);
  if (to > from) {
    madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
  }
}

size_t ViewEntries::Offered() {
  auto& t = OfferTable::Get();
  std::lock_guard lock(t.mu);
  return t.offers.size();
}

void ViewEntries::MakePrivate() {
  if (!node_) {
    node_ = std::make_shared<Node>();
    return;
  }
  if (node_.use_count() == 1) {
    // A copy handed to the blocking pool may just have been released:
    // see its reads finished before writing.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (!node_->offered) {
      node_->settled = false;
      return;
    }
    // Offered: another session could adopt it at any moment, but only
    // under the table's mutex. Withdrawn under it, it is ours alone.
    auto& t = OfferTable::Get();
    std::lock_guard lock(t.mu);
    if (node_.use_count() == 1) {
      t.Withdraw(*node_);
      node_->offered = false;
      node_->settled = false;
      return;
    }
  }
  auto copy = std::make_shared<Node>();
  const Node& n = *node_;
  copy->bytes.reserve((n.count + 16) * n.stride());
  copy->bytes.assign(n.bytes.begin(), n.bytes.begin() + n.count * n.stride());
  copy->count = n.count;
  copy->layout = n.layout;
  copy->fingerprint = node_->fingerprint;
  copy->hashed = node_->hashed;
  node_ = std::move(copy);
}

void ViewEntries::Set(size_t i, const Entry& e) {
  MakePrivate();
  Node& n = *node_;
  if (n.hashed) n.fingerprint += EntryHash(e) - EntryHash(n.At(i));
  if (n.layout.Fits(e)) return n.Put(i, e);
  n.EncodeNarrowest(n.count, [&](size_t k) { return k == i ? e : n.At(k); });
}

void ViewEntries::PushBack(const Entry& e) {
  MakePrivate();
  Node& n = *node_;
  if (n.hashed) n.fingerprint += EntryHash(e);
  if (!n.layout.Fits(e)) {
    const size_t old = n.count;
    return n.EncodeNarrowest(old + 1,
                             [&](size_t k) { return k < old ? n.At(k) : e; });
  }
  n.bytes.resize((n.count + 1) * n.stride());
  n.Put(n.count++, e);
}

void ViewEntries::EraseAt(const std::vector<uint32_t>& indexes) {
  if (indexes.empty()) return;
  MakePrivate();
  Node& n = *node_;
  // One pass, so that erasing k of n entries costs O(n), not O(n*k).
  const size_t stride = n.stride();
  size_t out = 0, next = 0;
  for (size_t i = 0; i < n.count; ++i) {
    if (next < indexes.size() && i == indexes[next]) {
      if (n.hashed) n.fingerprint -= EntryHash(n.At(i));
      ++next;
      continue;
    }
    if (out != i) {
      std::memcpy(n.bytes.data() + out * stride, n.bytes.data() + i * stride,
                  stride);
    }
    ++out;
  }
  n.count = out;
  n.bytes.resize(out * stride);
}

void ViewEntries::Share() {
  if (!node_ || node_->settled) return;
  Node& n = *node_;
  n.settled = true;
  if (n.offered || n.count == 0 || n.count > kMaxShared) return;
  if (!n.hashed) {
    for (size_t i = 0; i < n.count; ++i) n.fingerprint += EntryHash(n.At(i));
    n.hashed = true;
  }
  // Offered arrays are read by other threads from now on: trim first (if
  // no copy handed out still reads it). Only bulk appends and Tighten()
  // leave this much room (MakePrivate reserves 16).
  const size_t used = n.count * n.stride();
  if (n.bytes.capacity() > used + used / 8 + 16 * n.stride() &&
      node_.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);  // as MakePrivate
    n.bytes.shrink_to_fit();
  }
  std::shared_ptr<Node> found;
  {
    auto& t = OfferTable::Get();
    std::lock_guard lock(t.mu);
    auto [it, inserted] = t.offers.try_emplace(OfferTable::Key(n));
    if (!inserted) found = it->second.lock();
    if (!found) {
      it->second = node_;
      n.offered = true;
      return;
    }
  }
  // Held by us now, `found` cannot change (its holders copy before they
  // write), so it is compared outside the lock.
  if (SameEntries(*found, n)) node_ = std::move(found);
  // Otherwise the same fingerprint with different entries: stays private.
}

}  // namespace correio::imap
