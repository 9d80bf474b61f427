#include "imap/server/view_entries.h"

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

bool SameEntries(const std::vector<ViewEntries::Entry>& a,
                 const std::vector<ViewEntries::Entry>& b) {
  // Entry is packed, 10 octets, no padding (store/types.h).
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0);
}

}  // namespace

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
    return n.fingerprint ^ Mix(n.entries.size() + 0x9e3779b97f4a7c15ULL);
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
  node_->entries = std::move(entries);
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
  copy->entries.reserve(node_->entries.size() + 16);
  copy->entries.assign(node_->entries.begin(), node_->entries.end());
  copy->fingerprint = node_->fingerprint;
  copy->hashed = node_->hashed;
  node_ = std::move(copy);
}

void ViewEntries::Set(size_t i, const Entry& e) {
  MakePrivate();
  Node& n = *node_;
  if (n.hashed) n.fingerprint += EntryHash(e) - EntryHash(n.entries[i]);
  n.entries[i] = e;
}

void ViewEntries::PushBack(const Entry& e) {
  MakePrivate();
  if (node_->hashed) node_->fingerprint += EntryHash(e);
  node_->entries.push_back(e);
}

void ViewEntries::EraseAt(const std::vector<uint32_t>& indexes) {
  if (indexes.empty()) return;
  MakePrivate();
  Node& n = *node_;
  // One pass, so that erasing k of n entries costs O(n), not O(n*k).
  size_t out = 0, next = 0;
  for (size_t i = 0; i < n.entries.size(); ++i) {
    if (next < indexes.size() && i == indexes[next]) {
      if (n.hashed) n.fingerprint -= EntryHash(n.entries[i]);
      ++next;
      continue;
    }
    n.entries[out++] = n.entries[i];
  }
  n.entries.resize(out);
}

void ViewEntries::Share() {
  if (!node_ || node_->settled) return;
  Node& n = *node_;
  n.settled = true;
  if (n.offered || n.entries.empty() || n.entries.size() > kMaxShared) return;
  if (!n.hashed) {
    for (const auto& e : n.entries) n.fingerprint += EntryHash(e);
    n.hashed = true;
  }
  // Offered arrays are read by other threads from now on: trim first (if
  // no copy handed out still reads it). Only bulk appends leave this much
  // room (MakePrivate reserves 16).
  if (n.entries.capacity() > n.entries.size() + n.entries.size() / 8 + 16 &&
      node_.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);  // as MakePrivate
    n.entries.shrink_to_fit();
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
  if (SameEntries(found->entries, n.entries)) node_ = std::move(found);
  // Otherwise the same fingerprint with different entries: stays private.
}

}  // namespace correio::imap
