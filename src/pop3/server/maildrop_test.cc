#include "pop3/server/maildrop.h"

#include <gtest/gtest.h>

namespace correio::pop3 {
namespace {

store::MessageRow Row(store::Uid uid, uint64_t size, int64_t date,
                      bool seen = false) {
  store::MessageRow r;
  r.uid = uid;
  r.size = size;
  r.internal_date = date;
  if (seen) r.flags.system = store::kFlagSeen;
  return r;
}

TEST(Maildrop, SelectsInUidOrderHidingDownloaded) {
  std::vector<store::MessageRow> rows = {Row(7, 70, 100), Row(3, 30, 200, true),
                                         Row(5, 50, 300)};
  auto all = SelectMessages(rows, {}, std::nullopt);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].uid, 3u);
  EXPECT_TRUE(all[0].seen);
  EXPECT_EQ(all[2].uid, 7u);
  auto once = SelectMessages(rows, {3, 7}, std::nullopt);
  ASSERT_EQ(once.size(), 1u);
  EXPECT_EQ(once[0].uid, 5u);
  // recent: ignores download marks, filters by internal date.
  auto recent = SelectMessages(rows, {3, 5, 7}, 200);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].uid, 3u);
  EXPECT_EQ(recent[1].uid, 5u);
}

TEST(Maildrop, NumbersCountsAndDeletion) {
  Maildrop drop(1, 1234,
                SelectMessages({Row(1, 10, 0), Row(2, 20, 0), Row(4, 40, 0),
                                Row(5, 50, 0)},
                               {}, std::nullopt));
  EXPECT_EQ(drop.Find(0), nullptr);
  EXPECT_EQ(drop.Find(5), nullptr);
  EXPECT_EQ(drop.Find(1ull << 40), nullptr);
  ASSERT_NE(drop.Find(3), nullptr);
  EXPECT_EQ(drop.UniqueId(*drop.Find(3)), "1234.4");
  EXPECT_EQ(drop.Count(), 4u);
  EXPECT_EQ(drop.Octets(), 120u);
  drop.Find(2)->deleted = true;
  drop.Find(3)->deleted = true;
  drop.Find(4)->retrieved = true;
  drop.Find(1)->retrieved = true;
  EXPECT_EQ(drop.Count(), 2u);
  EXPECT_EQ(drop.Octets(), 60u);
  store::UidSet deleted = drop.DeletedUids();
  ASSERT_EQ(deleted.size(), 2u);  // UID 3 does not exist: two ranges
  EXPECT_EQ(deleted[0].first, 2u);
  EXPECT_EQ(deleted[0].last, 2u);
  EXPECT_EQ(deleted[1].first, 4u);
  // Delete mode: expunged ones need no mark; keep modes mark them too.
  auto marks = drop.DownloadedUids(DeleteMode::kDelete);
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks[0].first, 1u);
  EXPECT_EQ(marks[1].first, 5u);
  auto kept = drop.DownloadedUids(DeleteMode::kKeepSeen);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].first, 1u);
  EXPECT_EQ(kept[0].last, 2u);
  EXPECT_EQ(kept[1].first, 4u);
  EXPECT_EQ(kept[1].last, 5u);
  drop.ResetDeletions();
  EXPECT_EQ(drop.Count(), 4u);
  EXPECT_TRUE(drop.DeletedUids().empty());
}

TEST(Maildrop, PolicyFromConfigAndAccount) {
  config::Pop3 cfg;
  cfg.delete_mode = "keep-seen";
  cfg.download_once = false;
  store::AccountSettings none;
  Pop3Policy p = PolicyFor(cfg, none);
  EXPECT_EQ(p.delete_mode, DeleteMode::kKeepSeen);
  EXPECT_FALSE(p.download_once);
  EXPECT_EQ(ExpireValue(p), "NEVER");
  store::AccountSettings s;
  s.pop3_delete_mode = "archive";
  s.pop3_download_once = true;
  p = PolicyFor(cfg, s);
  EXPECT_EQ(p.delete_mode, DeleteMode::kArchive);
  EXPECT_TRUE(p.download_once);
  EXPECT_EQ(ExpireValue(p), "0");
  s.pop3_delete_mode = "bogus";  // falls back to the server's
  EXPECT_EQ(PolicyFor(cfg, s).delete_mode, DeleteMode::kKeepSeen);
}

TEST(Maildrop, LockIsExclusivePerAccountAndReleased) {
  MaildropLock a = MaildropLock::TryAcquire(42);
  EXPECT_TRUE(a.held());
  EXPECT_FALSE(MaildropLock::TryAcquire(42).held());
  EXPECT_TRUE(MaildropLock::TryAcquire(43).held());  // released at once
  EXPECT_TRUE(MaildropLock::TryAcquire(43).held());
  MaildropLock moved = std::move(a);
  EXPECT_FALSE(a.held());
  EXPECT_FALSE(MaildropLock::TryAcquire(42).held());
  moved.Release();
  EXPECT_TRUE(MaildropLock::TryAcquire(42).held());
}

}  // namespace
}  // namespace correio::pop3
