#include "imap/server/view_entries.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

namespace correio::imap {
namespace {

using Entry = ViewEntries::Entry;

// A mailbox of n messages, uids from `first`, every third \Seen.
std::vector<Entry> Mailbox(uint32_t n, uint32_t first = 1) {
  std::vector<Entry> v;
  for (uint32_t i = 0; i < n; ++i) {
    v.push_back({first + i, i % 3 ? 0u : store::kFlagSeen, 100 + i});
  }
  return v;
}

std::vector<Entry> Contents(const ViewEntries& e) {
  return std::vector<Entry>(e.begin(), e.end());
}

// The comparisons below rely on Entry's ==: each field counts.
TEST(ViewEntries, EntriesDifferingInOneFieldAreNotEqual) {
  Entry e{7, store::kFlagSeen, 300};
  EXPECT_EQ(e, (Entry{7, store::kFlagSeen, 300}));
  EXPECT_NE(e, (Entry{8, store::kFlagSeen, 300}));
  EXPECT_NE(e, (Entry{7, 0, 300}));
  EXPECT_NE(e, (Entry{7, store::kFlagSeen, 301}));
}

TEST(ViewEntries, SessionsLoadingTheSameMailboxShareOneArray) {
  ViewEntries a(Mailbox(1000)), b(Mailbox(1000)), c(Mailbox(999));
  EXPECT_FALSE(a.SameArrayAs(b));
  a.Share();
  b.Share();
  c.Share();
  EXPECT_TRUE(a.SameArrayAs(b));
  EXPECT_FALSE(a.SameArrayAs(c));
  EXPECT_TRUE(Contents(b) == Mailbox(1000));
}

TEST(ViewEntries, AChangeGoesToACopyAndTheSameChangeSharesAgain) {
  ViewEntries a(Mailbox(100)), b(Mailbox(100));
  a.Share();
  b.Share();
  ASSERT_TRUE(a.SameArrayAs(b));

  // A new message: the first session to apply it copies; the other still
  // sees the mailbox as it was until it applies the change too.
  a.PushBack({101, 0, 300});
  EXPECT_FALSE(a.SameArrayAs(b));
  EXPECT_EQ(a.size(), 101u);
  EXPECT_EQ(b.size(), 100u);
  a.Share();
  b.PushBack({101, 0, 300});
  b.Share();
  EXPECT_TRUE(a.SameArrayAs(b));

  // A flag change, then an expunge, in the same way.
  a.Set(4, {5, store::kFlagFlagged, 301});
  a.EraseAt({0, 50});
  a.Share();
  EXPECT_EQ(b[4].system, 0u);  // b's copy is untouched
  b.Set(4, {5, store::kFlagFlagged, 301});
  b.Share();
  EXPECT_FALSE(a.SameArrayAs(b));  // b has not expunged yet
  b.EraseAt({0, 50});
  b.Share();
  EXPECT_TRUE(a.SameArrayAs(b));
  EXPECT_EQ(a.size(), 99u);
  EXPECT_EQ(a[0].uid(), 2u);
  EXPECT_EQ(a[3].uid(), 5u);
  EXPECT_EQ(a[3].system, store::kFlagFlagged);
  EXPECT_EQ(a[49].uid(), 52u);  // uid 51 is gone
}

TEST(ViewEntries, AViewHoldingAnUnannouncedExpungeStaysApart) {
  // Same MODSEQs everywhere, but `late` still holds uid 7, which it may
  // not drop yet (RFC 9051 §7.5.1): only the content decides.
  ViewEntries early(Mailbox(10)), late(Mailbox(10));
  early.EraseAt({6});
  early.Share();
  late.Share();
  EXPECT_FALSE(early.SameArrayAs(late));
  EXPECT_EQ(late.size(), 10u);
  EXPECT_EQ(late[6].uid(), 7u);
  late.EraseAt({6});
  late.Share();
  EXPECT_TRUE(early.SameArrayAs(late));
}

TEST(ViewEntries, TheSameMessagesWithOtherFlagsAreNotShared) {
  ViewEntries a(Mailbox(10)), b(Mailbox(10));
  b.Set(3, {4, store::kFlagDeleted, 103});  // was \Seen, same MODSEQ
  a.Share();
  b.Share();
  EXPECT_FALSE(a.SameArrayAs(b));
  EXPECT_EQ(a[3].system, store::kFlagSeen);
}

TEST(ViewEntries, AnArrayNoOneElseHoldsIsChangedInPlace) {
  ViewEntries a(Mailbox(50));
  a.Share();
  const void* before = a.ArrayId();
  a.PushBack({51, 0, 200});
  a.Share();
  a.Set(0, {1, 0, 201});
  a.Set(1, {2, 0, 1u << 20});  // a MODSEQ that needs wider fields
  EXPECT_EQ(a.ArrayId(), before);
  // And, offered again, a newcomer with the same content finds it.
  std::vector<Entry> same = Mailbox(50);
  same.push_back({51, 0, 200});
  same[0] = {1, 0, 201};
  same[1] = {2, 0, 1u << 20};
  a.Share();
  ViewEntries b(same);
  b.Share();
  EXPECT_TRUE(a.SameArrayAs(b));
}

TEST(ViewEntries, ACopyHandedOutIsNotChangedUnderItsReader) {
  ViewEntries a(Mailbox(20));
  ViewEntries reader = a;  // e.g. SEARCH's input on the blocking pool
  a.Set(0, {1, store::kFlagAnswered, 500});
  a.EraseAt({1});
  EXPECT_EQ(reader.size(), 20u);
  EXPECT_EQ(reader[0].system, store::kFlagSeen);
  EXPECT_EQ(a.size(), 19u);
}

TEST(ViewEntries, HugeArraysStayPrivate) {
  ViewEntries a(Mailbox(ViewEntries::kMaxShared + 1));
  ViewEntries b(Mailbox(ViewEntries::kMaxShared + 1));
  a.Share();
  b.Share();
  EXPECT_FALSE(a.SameArrayAs(b));
  ViewEntries c(Mailbox(ViewEntries::kMaxShared));
  ViewEntries d(Mailbox(ViewEntries::kMaxShared));
  c.Share();
  d.Share();
  EXPECT_TRUE(c.SameArrayAs(d));
}

TEST(ViewEntries, TheLastHolderTakesItsArrayOutOfTheTable) {
  size_t base = ViewEntries::Offered();
  {
    ViewEntries gone(Mailbox(30, 1000));
    gone.Share();
    ViewEntries also(Mailbox(30, 1000));
    also.Share();  // adopts: still one offer
    EXPECT_EQ(ViewEntries::Offered(), base + 1);
  }
  EXPECT_EQ(ViewEntries::Offered(), base);
  // An offered array changed by its only holder is withdrawn first, and
  // offered again under its new content.
  ViewEntries alone(Mailbox(30, 1000));
  alone.Share();
  EXPECT_EQ(ViewEntries::Offered(), base + 1);
  alone.PushBack({1030, 0, 900});
  EXPECT_EQ(ViewEntries::Offered(), base);
  alone.Share();
  EXPECT_EQ(ViewEntries::Offered(), base + 1);
  // A newcomer with the old content finds nothing stale to adopt.
  ViewEntries again(Mailbox(30, 1000));
  again.Share();
  ViewEntries other(Mailbox(30, 1000));
  other.Share();
  EXPECT_TRUE(again.SameArrayAs(other));
  EXPECT_FALSE(again.SameArrayAs(alone));
  EXPECT_TRUE(Contents(other) == Mailbox(30, 1000));
}

TEST(ViewEntries, RandomChangesKeepTheContentOfAPlainArray) {
  std::mt19937 rng(7);
  std::vector<Entry> model = Mailbox(200);
  ViewEntries a(model), b(model);
  uint32_t next_uid = 201;
  for (int step = 0; step < 2000; ++step) {
    switch (rng() % 3) {
      case 0: {
        // Now and then a UID far above the last (the encoding widens).
        if (rng() % 50 == 0) next_uid += 70000;
        Entry e{next_uid++, static_cast<uint32_t>(rng() % 32),
                1000u + static_cast<uint32_t>(step)};
        model.push_back(e);
        a.PushBack(e);
        break;
      }
      case 1:
        if (!model.empty()) {
          size_t i = rng() % model.size();
          // MODSEQs of every width, saturating at 40 bits, and now and
          // then below every other (the encoding's base moves down).
          static constexpr store::ModSeq kModSeqs[] = {
              5000, uint64_t{1} << 20, uint64_t{1} << 36, uint64_t{1} << 50};
          store::ModSeq ms = rng() % 40 == 0 ? 1
                                             : kModSeqs[rng() % 4] +
                                                   static_cast<uint32_t>(step);
          Entry e{model[i].uid(), static_cast<uint32_t>(rng() % 32), ms};
          model[i] = e;
          a.Set(i, e);
        }
        break;
      default:
        if (model.size() > 2) {
          uint32_t i = static_cast<uint32_t>(rng() % (model.size() - 1));
          model.erase(model.begin() + i, model.begin() + i + 2);
          a.EraseAt({i, i + 1});
        }
        break;
    }
    if (step % 7 == 0) a.Share();
    if (step % 11 == 0) b = a;  // another holder now and then
    ASSERT_TRUE(Contents(a) == model) << "step " << step;
  }
  // And a fresh view of the final state finds the array a offered.
  a.Share();
  ViewEntries fresh(model);
  fresh.Share();
  EXPECT_TRUE(fresh.SameArrayAs(a));
}

TEST(ViewEntries, CloseUidsAndModSeqsTakeFiveOctetsAMessage) {
  // Flags, then UID and MODSEQ as two-octet offsets from the lowest.
  ViewEntries a(Mailbox(1000));
  EXPECT_EQ(a.EncodedSize(), 5000u);
  // A MODSEQ 2^20 above the others takes a third octet for every entry.
  a.Set(500, {501, store::kFlagSeen, 100 + (1u << 20)});
  EXPECT_EQ(a.EncodedSize(), 6000u);
  std::vector<Entry> model = Mailbox(1000);
  model[500] = {501, store::kFlagSeen, 100 + (1u << 20)};
  EXPECT_TRUE(Contents(a) == model);
  // A 10^6-message mailbox: seven.
  EXPECT_EQ(ViewEntries(Mailbox(1000000)).EncodedSize(), 7000000u);
}

ViewEntries FromBounds(const std::vector<Entry>& rows,
                       const store::ViewBounds& bounds) {
  ViewEntries v(bounds);
  for (const Entry& e : rows) v.PushBack(e);
  return v;
}

TEST(ViewEntries, BuiltRowByRowWithinTheStoresBoundsKeepsTheirLayout) {
  std::vector<Entry> rows = Mailbox(1000);  // MODSEQs 100 .. 1099
  // Bounds as the store reports them: the entries then take 5 octets.
  ViewEntries exact = FromBounds(rows, {1000, 1, 1000, 100, 1099});
  EXPECT_TRUE(Contents(exact) == rows);
  EXPECT_EQ(exact.EncodedSize(), 5000u);
  // Wider bounds (SQLite's MODSEQ range is 0 .. HIGHESTMODSEQ) are taken
  // as given, not narrowed by re-encoding at the first entry: each entry
  // is written once, where the bounds put it. Tighten() then narrows it.
  ViewEntries wide = FromBounds(rows, {1000, 1, 1000, 0, 100 + (1u << 20)});
  EXPECT_TRUE(Contents(wide) == rows);
  EXPECT_EQ(wide.EncodedSize(), 6000u);
  ViewEntries held = wide;  // another holder keeps its array as it is
  wide.Tighten();
  EXPECT_TRUE(Contents(wide) == rows);
  EXPECT_EQ(wide.EncodedSize(), 5000u);
  EXPECT_EQ(held.EncodedSize(), 6000u);
  EXPECT_TRUE(Contents(held) == rows);
  const void* tight = wide.ArrayId();
  wide.Tighten();  // already narrowest: nothing to do
  EXPECT_EQ(wide.ArrayId(), tight);
  // Past kMaxShared too (in place; the spare pages are given back), and
  // the array still grows afterwards.
  std::vector<Entry> big = Mailbox(ViewEntries::kMaxShared + 1);
  ViewEntries large = FromBounds(
      big, {big.size(), 1, static_cast<store::Uid>(big.size()), 0, 1u << 24});
  EXPECT_EQ(large.EncodedSize(), big.size() * 8);  // 1 + 3 + 4
  large.Tighten();
  EXPECT_EQ(large.EncodedSize(), big.size() * 7);  // 1 + 3 + 3
  EXPECT_TRUE(Contents(large) == big);
  for (uint32_t i = 0; i < 5000; ++i) {
    big.push_back({static_cast<store::Uid>(big.size() + 1), 0, 200 + i});
    large.PushBack(big.back());
  }
  EXPECT_TRUE(Contents(large) == big);
  // Bounds that are wrong (too narrow, inverted, MODSEQ past 40 bits)
  // cost a re-encode, never an entry.
  rows.push_back({5000, store::kFlagDeleted, 1u << 30});
  for (store::ViewBounds bad : {store::ViewBounds{10, 1, 10, 100, 110},
                                store::ViewBounds{1000, 900, 2, 500, 7},
                                store::ViewBounds{1, 0, 0, 0, ~0ull}}) {
    ViewEntries v = FromBounds(rows, bad);
    EXPECT_TRUE(Contents(v) == rows);
    v.Set(3, {4, 0, 2});
    EXPECT_EQ(v[3], (Entry{4, 0, 2}));
  }
}

// The store reports a uid range as the room (Store::ScanView): with most
// uids expunged, the room is mostly spare, and Tighten() gives it back
// (Share() does for a small array).
TEST(ViewEntries, TightenGivesBackRoomForExpungedUids) {
  std::vector<Entry> gappy;
  for (uint32_t i = 0; i <= ViewEntries::kMaxShared; ++i)
    gappy.push_back({4 * i + 1, 0, 100 + i});
  const auto top = gappy.back().uid();
  ViewEntries v = FromBounds(gappy, {top, 1, top, 0, 100 + gappy.size()});
  EXPECT_GE(v.ReservedSize(), 3 * v.EncodedSize());
  v.Tighten();
  EXPECT_TRUE(Contents(v) == gappy);
  EXPECT_LE(v.ReservedSize(), 2 * v.EncodedSize());
  v.PushBack({top + 1, 0, 1});  // and it still grows
  EXPECT_EQ(v.back(), (Entry{top + 1, 0, 1}));
}

TEST(ViewEntries, OneModSeqForAllTakesNoModSeqOctets) {
  // As after one STORE over the whole mailbox.
  std::vector<Entry> rows;
  for (uint32_t u = 1; u <= 1000; ++u)
    rows.push_back({u, store::kFlagSeen, 5000});
  ViewEntries v = FromBounds(rows, {1000, 1, 1000, 0, 5000});
  EXPECT_EQ(v.EncodedSize(), 1000u * 5);  // 1 + 2 + 2
  v.Tighten();
  EXPECT_EQ(v.EncodedSize(), 1000u * 3);  // 1 + 2 + 0
  EXPECT_TRUE(Contents(v) == rows);
  v.Set(10, {11, 0, 5001});  // the next change widens it again
  rows[10] = {11, 0, 5001};
  EXPECT_TRUE(Contents(v) == rows);
  EXPECT_EQ(v.EncodedSize(), 1000u * 4);
}

TEST(ViewEntries, PushBackOntoNothingOrOntoAnEmptiedArray) {
  ViewEntries fresh;
  std::vector<Entry> rows = Mailbox(300, 7);
  for (const Entry& e : rows) fresh.PushBack(e);
  EXPECT_TRUE(Contents(fresh) == rows);
  EXPECT_EQ(fresh.EncodedSize(), 300u * 5);
  // Emptied, it keeps its layout; what comes next may lie outside it.
  std::vector<uint32_t> all(300);
  for (uint32_t i = 0; i < 300; ++i) all[i] = i;
  fresh.EraseAt(all);
  EXPECT_TRUE(fresh.empty());
  std::vector<Entry> next = {{400, 0, 50}, {401, store::kFlagSeen, 1u << 30}};
  for (const Entry& e : next) fresh.PushBack(e);
  EXPECT_TRUE(Contents(fresh) == next);
}

TEST(ViewEntries, EqualEntriesEncodedApartAreStillShared) {
  // b loaded one more message with a lower MODSEQ than any of a's, then
  // saw it expunged: the same entries as a, from another base.
  std::vector<Entry> with_low = Mailbox(40, 2);
  with_low.insert(with_low.begin(), Entry{1, 0, 3});
  ViewEntries a(Mailbox(40, 2));
  ViewEntries b(with_low);
  b.EraseAt({0});
  EXPECT_TRUE(Contents(b) == Mailbox(40, 2));
  a.Share();
  b.Share();
  EXPECT_TRUE(a.SameArrayAs(b));
}

TEST(ViewEntries, SessionsOnManyThreadsConvergeOnOneArray) {
  // Each thread is a session applying the same stream of changes and
  // sharing after each: they copy, offer and adopt concurrently (run
  // under the sanitizers in make test), and end on one array.
  constexpr int kThreads = 8;
  std::vector<ViewEntries> views(kThreads);
  for (auto& v : views) {
    v = ViewEntries(Mailbox(500, 7000));
    v.Share();
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&views, t] {
      ViewEntries& v = views[t];
      for (uint32_t k = 0; k < 300; ++k) {
        v.PushBack({7500 + k, 0, 2000 + k});
        v.Share();
        v.Set(k, {v[k].uid(), store::kFlagSeen, 3000 + k});
        v.Share();
        if (k % 10 == 9) {
          v.EraseAt({0});
          v.Share();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < kThreads; ++t) {
    EXPECT_TRUE(views[t].SameArrayAs(views[0])) << "thread " << t;
  }
  EXPECT_EQ(views[0].size(), 500u + 300 - 30);
}

}  // namespace
}  // namespace correio::imap
