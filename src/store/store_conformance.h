// The store conformance suite (STYLE 18): one set of behavioural tests that
// every store::Store backend must pass. Include this header from exactly one
// test file per backend and instantiate it:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, StoreConformance,
//       testing::Values(StoreBackend{"memory", open_fn}), BackendName);
//
// `open` gets a fresh empty directory (removed after the test) it may keep
// files in.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/temp_dir.h"
#include "store/change_hub.h"
#include "store/store.h"

namespace correio::store {

struct StoreBackend {
  std::string name;
  std::function<std::unique_ptr<Store>(ChangeHub* hub, const std::string& dir)>
      open;
};

inline std::string BackendName(
    const testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

class StoreConformance : public testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    store_ = GetParam().open(&hub_, tmp_.path());
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->AddDomain("example.org").has_value());
  }
  void TearDown() override {
    if (store_) {
      auto problems = store_->CheckIntegrity();
      ASSERT_TRUE(problems.has_value());
      EXPECT_TRUE(problems->empty()) << problems->front();
    }
    store_.reset();  // before tmp_ goes
  }

  Account NewAccount(const std::string& address, uint64_t quota_bytes = 0,
                     uint64_t quota_messages = 0) {
    Account a;
    a.address = address;
    a.password_hash = "$argon2id$x";
    a.quota_bytes = quota_bytes;
    a.quota_messages = quota_messages;
    auto r = store_->CreateAccount(a);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(Account{});
  }
  Mailbox Box(AccountId account, const std::string& name) {
    auto r = store_->GetMailbox(account, name);
    EXPECT_TRUE(r.has_value()) << name;
    return r.value_or(Mailbox{});
  }
  static NewBlob Blob(std::string body, std::string headers = "") {
    NewBlob b;
    b.data = headers + "\r\n" + body;
    b.summary = "summary:" + std::to_string(b.data.size());
    b.search_text = std::move(body);
    b.search_headers = std::move(headers);
    return b;
  }
  std::vector<Delivered> Deliver(const NewBlob& blob,
                                 std::vector<MailboxId> boxes,
                                 uint32_t flags = 0) {
    std::vector<DeliveryTarget> targets;
    for (MailboxId m : boxes) {
      DeliveryTarget t;
      t.mailbox = m;
      t.flags.system = flags;
      t.internal_date = 1700000000;
      targets.push_back(t);
    }
    auto r = store_->Deliver(blob, targets);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(std::vector<Delivered>{});
  }
  QuotaUsage Usage(AccountId id) {
    auto r = store_->GetQuotaUsage(id);
    EXPECT_TRUE(r.has_value());
    return r.value_or(QuotaUsage{});
  }
  std::vector<Uid> ViewUids(MailboxId m) {
    std::vector<Uid> out;
    auto view = store_->ListView(m);
    EXPECT_TRUE(view.has_value());
    if (!view) return out;
    for (const auto& e : view->entries) out.push_back(e.uid());
    return out;
  }
  static UidSet All() { return {{1, 0xFFFFFFFFu}}; }

  // Records every published change of one account.
  struct Recorder {
    std::mutex mu;
    std::vector<Change> changes;
    ChangeHub::Subscription sub;
    std::vector<Change> Take() {
      std::lock_guard lock(mu);
      return std::exchange(changes, {});
    }
  };
  std::unique_ptr<Recorder> Record(AccountId account) {
    auto r = std::make_unique<Recorder>();
    Recorder* raw = r.get();
    r->sub =
        hub_.Subscribe(account, [raw](const std::shared_ptr<const Change>& c) {
          std::lock_guard lock(raw->mu);
          raw->changes.push_back(*c);
        });
    return r;
  }

  LocalChangeHub hub_;
  TempDir tmp_{"correio-store"};  // declared before store_: outlives it
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, Domains) {
  EXPECT_EQ(store_->AddDomain("Example.ORG").error().code(),
            ErrorCode::kExists);
  ASSERT_TRUE(store_->AddDomain("other.net").has_value());
  EXPECT_TRUE(store_->HasDomain("OTHER.net").value());
  EXPECT_FALSE(store_->HasDomain("nope.net").value());
  auto list = store_->ListDomains().value();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "example.org");
  EXPECT_EQ(list[1].name, "other.net");

  Account a = NewAccount("bob@other.net");
  EXPECT_EQ(store_->RemoveDomain("other.net").error().code(),
            ErrorCode::kInUse);
  ASSERT_TRUE(store_->RemoveAccount(a.id).has_value());
  ASSERT_TRUE(store_->AddAlias({"@other.net", {"x@example.org"}}).has_value());
  EXPECT_EQ(store_->RemoveDomain("other.net").error().code(),
            ErrorCode::kInUse);
  ASSERT_TRUE(store_->RemoveAlias("@other.net").has_value());
  EXPECT_TRUE(store_->RemoveDomain("other.net").has_value());
  EXPECT_FALSE(store_->HasDomain("other.net").value());
  EXPECT_EQ(store_->RemoveDomain("other.net").error().code(),
            ErrorCode::kNotFound);
}

// What mail/recipient_cache.h relies on: the version is tracked, every
// directory write moves it before it returns, and mail and usage do not
// (or the cache would empty at every delivery).
TEST_P(StoreConformance, DirectoryVersionMovesWithDirectoryWritesOnly) {
  uint64_t last = store_->DirectoryVersion();
  ASSERT_NE(last, 0u) << "not tracked: RCPT would never be cached";
  auto moved = [&](const char* what) {
    uint64_t now = store_->DirectoryVersion();
    EXPECT_GT(now, last) << what;
    last = now;
  };
  ASSERT_TRUE(store_->AddDomain("other.net").has_value());
  moved("AddDomain");
  Account a = NewAccount("bob@other.net");
  moved("CreateAccount");
  ASSERT_TRUE(store_->SetQuota(a.id, 1000, 10).has_value());
  moved("SetQuota");
  ASSERT_TRUE(store_->SetCredentials(a.id, "$argon2id$y", {}).has_value());
  moved("SetCredentials");
  ASSERT_TRUE(store_->SetApopSecret(a.id, "s").has_value());
  moved("SetApopSecret");
  AccountSettings settings;
  settings.pop3_download_once = true;
  ASSERT_TRUE(store_->SetAccountSettings(a.id, settings).has_value());
  moved("SetAccountSettings");
  ASSERT_TRUE(store_->AddAlias({"x@other.net", {"bob@other.net"}}));
  moved("AddAlias");

  // Mail and usage leave it alone.
  Deliver(Blob("hello"), {Box(a.id, "INBOX").id});
  ASSERT_TRUE(store_->CreateMailbox(a.id, "Lists", SpecialUse::kNone));
  ASSERT_TRUE(store_->HasDomain("other.net").has_value());
  EXPECT_EQ(store_->DirectoryVersion(), last);

  ASSERT_TRUE(store_->RemoveAlias("x@other.net").has_value());
  moved("RemoveAlias");
  ASSERT_TRUE(store_->RemoveAccount(a.id).has_value());
  moved("RemoveAccount");
  ASSERT_TRUE(store_->RemoveDomain("other.net").has_value());
  moved("RemoveDomain");
}

TEST_P(StoreConformance, AccountsAndDefaultMailboxes) {
  Account a = NewAccount("Alice@Example.org", 1000, 10);
  EXPECT_GT(a.id, 0);
  EXPECT_EQ(a.address, "alice@example.org");
  EXPECT_GT(a.created, 0);

  auto got = store_->GetAccount("ALICE@example.org");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, a.id);
  EXPECT_EQ(got->quota_bytes, 1000u);
  EXPECT_EQ(got->quota_messages, 10u);
  EXPECT_EQ(got->password_hash, "$argon2id$x");
  EXPECT_EQ(store_->GetAccountById(a.id)->address, "alice@example.org");

  auto boxes = store_->ListMailboxes(a.id).value();
  std::map<std::string, SpecialUse> uses;
  for (const auto& m : boxes) {
    uses[m.name] = m.special_use;
    EXPECT_TRUE(m.subscribed) << m.name;
    EXPECT_EQ(m.uid_next, 1u);
    EXPECT_GT(m.uid_validity, 0u);
  }
  std::map<std::string, SpecialUse> want = {
      {"INBOX", SpecialUse::kNone},    {"Sent", SpecialUse::kSent},
      {"Drafts", SpecialUse::kDrafts}, {"Trash", SpecialUse::kTrash},
      {"Junk", SpecialUse::kJunk},     {"Archive", SpecialUse::kArchive}};
  EXPECT_EQ(uses, want);

  Account dup;
  dup.address = "alice@EXAMPLE.org";
  EXPECT_EQ(store_->CreateAccount(dup).error().code(), ErrorCode::kExists);
  Account nodomain;
  nodomain.address = "x@unknown.org";
  EXPECT_EQ(store_->CreateAccount(nodomain).error().code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(store_->AddAlias({"sales@example.org", {"alice@example.org"}})
                  .has_value());
  Account over_alias;
  over_alias.address = "sales@example.org";
  EXPECT_EQ(store_->CreateAccount(over_alias).error().code(),
            ErrorCode::kExists);
  EXPECT_EQ(store_->GetAccount("nobody@example.org").error().code(),
            ErrorCode::kNotFound);

  ScramCredentials scram;
  scram.salt = std::string("\x00\x01salt", 6);
  scram.iterations = 4096;
  scram.stored_key = std::string(32, '\x07');
  scram.server_key = std::string(32, '\x00');
  ASSERT_TRUE(store_->SetCredentials(a.id, "$2y$hash", scram).has_value());
  ASSERT_TRUE(store_->SetQuota(a.id, 5, 6).has_value());
  ASSERT_TRUE(store_->SetApopSecret(a.id, "tanstaaf").has_value());
  AccountSettings settings;
  settings.pop3_delete_mode = "keep-seen";
  settings.pop3_download_once = true;
  ASSERT_TRUE(store_->SetAccountSettings(a.id, settings).has_value());
  got = store_->GetAccountById(a.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->password_hash, "$2y$hash");
  EXPECT_EQ(got->scram.salt, scram.salt);
  EXPECT_EQ(got->scram.iterations, 4096u);
  EXPECT_EQ(got->scram.stored_key, scram.stored_key);
  EXPECT_EQ(got->scram.server_key, scram.server_key);
  EXPECT_EQ(got->quota_bytes, 5u);
  EXPECT_EQ(got->quota_messages, 6u);
  EXPECT_EQ(got->apop_secret, "tanstaaf");
  ASSERT_TRUE(store_->SetApopSecret(a.id, "").has_value());
  EXPECT_EQ(store_->GetAccountById(a.id)->apop_secret, "");
  EXPECT_EQ(store_->SetApopSecret(a.id + 1000, "x").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(got->settings.pop3_delete_mode, "keep-seen");
  EXPECT_EQ(got->settings.pop3_download_once, true);
  ASSERT_TRUE(store_->SetAccountSettings(a.id, {}).has_value());
  got = store_->GetAccountById(a.id);
  EXPECT_FALSE(got->settings.pop3_delete_mode.has_value());
  EXPECT_FALSE(got->settings.pop3_download_once.has_value());

  NewAccount("bob@example.org");
  auto all = store_->ListAccounts().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].address, "alice@example.org");
  EXPECT_EQ(all[1].address, "bob@example.org");
  EXPECT_EQ(store_->SetQuota(999999, 1, 1).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(StoreConformance, RemoveAccountFreesEverything) {
  Account a = NewAccount("a@example.org");
  Account b = NewAccount("b@example.org");
  auto shared = Deliver(Blob("shared body"),
                        {Box(a.id, "INBOX").id, Box(b.id, "INBOX").id});
  auto own = Deliver(Blob("own body"), {Box(a.id, "INBOX").id});
  BlobId shared_blob =
      store_
          ->GetMessages(Box(a.id, "INBOX").id, {{shared[0].uid, shared[0].uid}})
          ->at(0)
          .blob;
  BlobId own_blob =
      store_->GetMessages(Box(a.id, "INBOX").id, {{own[0].uid, own[0].uid}})
          ->at(0)
          .blob;
  MailboxId inbox_a = Box(a.id, "INBOX").id;
  ASSERT_TRUE(store_->RemoveAccount(a.id).has_value());
  EXPECT_EQ(store_->GetAccountById(a.id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetMailboxById(inbox_a).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetBlobInfo(own_blob).error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->GetBlobInfo(shared_blob).has_value());
  EXPECT_EQ(store_->ReadBlob(shared_blob, 0, 100).value(), "\r\nshared body");
  EXPECT_EQ(store_->RemoveAccount(a.id).error().code(), ErrorCode::kNotFound);
  // The address is free again.
  NewAccount("a@example.org");
}

TEST_P(StoreConformance, Aliases) {
  NewAccount("alice@example.org");
  ASSERT_TRUE(store_
                  ->AddAlias({"Sales@Example.org",
                              {"alice@example.org", "bob@elsewhere.net"}})
                  .has_value());
  ASSERT_TRUE(
      store_->AddAlias({"@example.org", {"alice@example.org"}}).has_value());
  auto s = store_->GetAlias("sales@example.org");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->source, "sales@example.org");
  EXPECT_EQ(s->targets, (std::vector<std::string>{"alice@example.org",
                                                  "bob@elsewhere.net"}));
  EXPECT_EQ(store_->GetAlias("@example.org")->targets,
            std::vector<std::string>{"alice@example.org"});
  EXPECT_EQ(store_->ListAliases()->size(), 2u);
  EXPECT_EQ(store_->AddAlias({"sales@example.org", {"x@y.z"}}).error().code(),
            ErrorCode::kExists);
  EXPECT_EQ(store_->AddAlias({"alice@example.org", {"x@y.z"}}).error().code(),
            ErrorCode::kExists);
  EXPECT_EQ(store_->AddAlias({"a@nodomain.org", {"x@y.z"}}).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetAlias("nobody@example.org").error().code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(store_->RemoveAlias("SALES@example.org").has_value());
  EXPECT_EQ(store_->RemoveAlias("sales@example.org").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListAliases()->size(), 1u);
}

TEST_P(StoreConformance, MailboxCreateRenameDelete) {
  Account a = NewAccount("a@example.org");
  auto rec = Record(a.id);
  auto work = store_->CreateMailbox(a.id, "Work", SpecialUse::kNone);
  ASSERT_TRUE(work.has_value());
  EXPECT_EQ(work->name, "Work");
  EXPECT_EQ(work->uid_next, 1u);
  EXPECT_FALSE(work->subscribed);
  auto child = store_->CreateMailbox(a.id, "Work/2024", SpecialUse::kNone);
  ASSERT_TRUE(child.has_value());
  ASSERT_TRUE(
      store_->CreateMailbox(a.id, "Workshop", SpecialUse::kNone).has_value());
  EXPECT_EQ(
      store_->CreateMailbox(a.id, "Work", SpecialUse::kNone).error().code(),
      ErrorCode::kExists);
  EXPECT_EQ(
      store_->CreateMailbox(a.id, "inbox", SpecialUse::kNone).error().code(),
      ErrorCode::kExists);
  EXPECT_EQ(Box(a.id, "iNbOx").name, "INBOX");
  EXPECT_EQ(store_->GetMailbox(a.id, "work").error().code(),
            ErrorCode::kNotFound);
  EXPECT_NE(work->uid_validity, child->uid_validity);

  // Messages stay with the mailbox across a rename.
  Deliver(Blob("in child"), {child->id});
  ASSERT_TRUE(store_->SetSubscribed(a.id, "Work/2024", true).has_value());
  EXPECT_EQ(store_->RenameMailbox(work->id, "Workshop").error().code(),
            ErrorCode::kExists);
  rec->Take();
  ASSERT_TRUE(store_->RenameMailbox(work->id, "Jobs").has_value());
  EXPECT_EQ(store_->GetMailbox(a.id, "Work").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetMailbox(a.id, "Work/2024").error().code(),
            ErrorCode::kNotFound);
  Mailbox jobs = Box(a.id, "Jobs");
  Mailbox jobs_child = Box(a.id, "Jobs/2024");
  EXPECT_EQ(jobs.id, work->id);
  EXPECT_EQ(jobs.uid_validity, work->uid_validity);
  EXPECT_EQ(jobs_child.id, child->id);
  EXPECT_EQ(ViewUids(jobs_child.id), std::vector<Uid>{1});
  EXPECT_TRUE(Box(a.id, "Workshop").id > 0);  // not a child: untouched
  auto changes = rec->Take();
  ASSERT_EQ(changes.size(), 2u);
  for (const auto& c : changes) {
    EXPECT_EQ(c.kind, Change::Kind::kMailboxRenamed);
  }

  // Delete removes the mailbox, its messages, not its children.
  ASSERT_TRUE(store_->DeleteMailbox(jobs.id).has_value());
  EXPECT_EQ(store_->GetMailboxById(jobs.id).error().code(),
            ErrorCode::kNotFound);
  EXPECT_TRUE(store_->GetMailboxById(jobs_child.id).has_value());
  ASSERT_TRUE(store_->DeleteMailbox(jobs_child.id).has_value());
  EXPECT_EQ(Usage(a.id).messages, 0u);
  EXPECT_EQ(store_->DeleteMailbox(jobs_child.id).error().code(),
            ErrorCode::kNotFound);

  // Re-creating a name gives a new UIDVALIDITY, so old UIDs never reappear
  // under the same UIDVALIDITY (RFC 9051 §2.3.1.1).
  auto again = store_->CreateMailbox(a.id, "Jobs/2024", SpecialUse::kNone);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again->uid_validity, child->uid_validity);
  EXPECT_NE(again->uid_validity, work->uid_validity);
  changes = rec->Take();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kMailboxDeleted);
  EXPECT_EQ(changes[1].kind, Change::Kind::kMailboxDeleted);
  EXPECT_EQ(changes[2].kind, Change::Kind::kMailboxCreated);
  EXPECT_EQ(changes[2].mailbox_name, "Jobs/2024");
}

TEST_P(StoreConformance, Subscriptions) {
  Account a = NewAccount("a@example.org");
  ASSERT_TRUE(store_->SetSubscribed(a.id, "Trash", false).has_value());
  ASSERT_TRUE(store_->SetSubscribed(a.id, "Not/There", true).has_value());
  auto subs = store_->ListSubscriptions(a.id).value();
  std::set<std::string> got(subs.begin(), subs.end());
  EXPECT_EQ(got, (std::set<std::string>{"Archive", "Drafts", "INBOX", "Junk",
                                        "Not/There", "Sent"}));
  EXPECT_FALSE(Box(a.id, "Trash").subscribed);
  EXPECT_TRUE(Box(a.id, "Sent").subscribed);
  auto created = store_->CreateMailbox(a.id, "Not/There", SpecialUse::kNone);
  ASSERT_TRUE(created.has_value());
  EXPECT_TRUE(created->subscribed);
  // Subscribing twice is harmless; deleting a mailbox keeps its name
  // subscribed (RFC 9051 §6.3.9).
  ASSERT_TRUE(store_->SetSubscribed(a.id, "Not/There", true).has_value());
  ASSERT_TRUE(store_->DeleteMailbox(created->id).has_value());
  subs = store_->ListSubscriptions(a.id).value();
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "Not/There"), 1);
}

TEST_P(StoreConformance, DeliverToManyMailboxes) {
  Account a = NewAccount("a@example.org");
  Account b = NewAccount("b@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId ja = Box(a.id, "Junk").id;
  MailboxId ib = Box(b.id, "INBOX").id;
  ModSeq before = store_->GetMailboxById(ia)->highest_modseq;
  NewBlob blob = Blob("hello world", "Subject: hi");
  std::vector<Delivered> first = Deliver(blob, {ia, ja, ib});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].mailbox, ia);
  EXPECT_EQ(first[1].mailbox, ja);
  EXPECT_EQ(first[2].mailbox, ib);
  for (const auto& d : first) EXPECT_EQ(d.uid, 1u);
  EXPECT_GT(first[0].modseq, before);
  std::vector<Delivered> second = Deliver(Blob("second"), {ia, ia});
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].uid, 2u);
  EXPECT_EQ(second[1].uid, 3u);
  EXPECT_GT(second[0].modseq, first[0].modseq);
  EXPECT_GT(second[1].modseq, second[0].modseq);
  EXPECT_NE(second[0].id, second[1].id);

  Mailbox box = store_->GetMailboxById(ia).value();
  EXPECT_EQ(box.uid_next, 4u);
  EXPECT_EQ(box.highest_modseq, second[1].modseq);
  EXPECT_EQ(ViewUids(ia), (std::vector<Uid>{1, 2, 3}));

  auto rows = store_->GetMessages(ia, {{1, 1}, {3, 10}}).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].uid, 1u);
  EXPECT_EQ(rows[0].id, first[0].id);
  EXPECT_EQ(rows[0].mailbox, ia);
  EXPECT_EQ(rows[0].size, blob.data.size());
  EXPECT_EQ(rows[0].internal_date, 1700000000);
  EXPECT_GT(rows[0].save_date, 0);
  EXPECT_EQ(rows[1].uid, 3u);
  auto info = store_->GetBlobInfo(rows[0].blob).value();
  EXPECT_EQ(info.size, blob.data.size());
  EXPECT_EQ(info.summary, blob.summary);
  // One stored body for every recipient.
  auto rows_b = store_->GetMessages(ib, All()).value();
  ASSERT_EQ(rows_b.size(), 1u);
  EXPECT_EQ(rows_b[0].blob, rows[0].blob);

  EXPECT_EQ(Usage(a.id).messages, 4u);
  EXPECT_EQ(Usage(a.id).bytes, 2 * blob.data.size() + 2 * (2 + 6));
  EXPECT_EQ(Usage(b.id).messages, 1u);
  EXPECT_EQ(Usage(b.id).bytes, blob.data.size());

  auto status = store_->GetMailboxStatus(ia).value();
  EXPECT_EQ(status.messages, 3u);
  EXPECT_EQ(status.unseen, 3u);
  EXPECT_EQ(status.size, blob.data.size() + 16);

  EXPECT_EQ(store_->Deliver(blob, {}).error().code(), ErrorCode::kInvalid);
  DeliveryTarget bad;
  bad.mailbox = 987654;
  DeliveryTarget good;
  good.mailbox = ia;
  EXPECT_EQ(store_->Deliver(blob, {good, bad}).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(ViewUids(ia).size(), 3u);
  EXPECT_EQ(Usage(a.id).messages, 4u);
}

// The non-blocking delivery a network thread uses: `done` reports the
// outcome once the message is visible (durable), each account's INBOX gets
// it, and failures are whole and reported, not lost.
TEST_P(StoreConformance, DeliverToInboxesAsync) {
  Account a = NewAccount("a@example.org");
  Account b = NewAccount("b@example.org");
  Account full = NewAccount("full@example.org", /*bytes=*/0, /*messages=*/1);
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId ib = Box(b.id, "INBOX").id;
  auto rec = Record(b.id);

  // Runs one delivery and waits for its report (from any thread).
  auto deliver = [&](NewBlob blob, std::vector<AccountId> accounts) {
    std::promise<Status> reported;
    auto future = reported.get_future();
    store_->DeliverToInboxesAsync(std::move(blob), std::move(accounts),
                                  1700000000, /*origin=*/9,
                                  [&reported](Status st) {
                                    reported.set_value(std::move(st));
                                  });
    return future.get();
  };
  NewBlob blob = Blob("to both");
  const size_t size = blob.data.size();
  ASSERT_TRUE(deliver(blob, {a.id, b.id}).has_value());
  // Reported done means committed: visible at once, in both INBOXes.
  EXPECT_EQ(ViewUids(ia), std::vector<Uid>{1});
  EXPECT_EQ(ViewUids(ib), std::vector<Uid>{1});
  auto rows = store_->GetMessages(ib, All()).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].internal_date, 1700000000);
  EXPECT_EQ(rows[0].size, size);
  auto changes = rec->Take();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].origin, 9u);

  // Many at once from several threads: each gets its own report and UID.
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto st = deliver(Blob("m" + std::to_string(t * kEach + i)), {a.id});
        if (st) ok++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  auto uids = ViewUids(ia);
  ASSERT_EQ(uids.size(), 1u + kThreads * kEach);
  EXPECT_EQ(std::set<Uid>(uids.begin(), uids.end()).size(), uids.size());

  // Failures are reported whole: empty, unknown account, over quota (then
  // nothing of the delivery is in, not even for the account with room).
  EXPECT_EQ(deliver(Blob("x"), {}).error().code(), ErrorCode::kInvalid);
  EXPECT_FALSE(deliver(Blob("x"), {a.id, 987654}).has_value());
  ASSERT_TRUE(deliver(Blob("fills"), {full.id}).has_value());
  EXPECT_EQ(deliver(Blob("one more"), {b.id, full.id}).error().code(),
            ErrorCode::kOverQuota);
  EXPECT_EQ(ViewUids(ib).size(), 1u);
  EXPECT_EQ(ViewUids(ia).size(), 1u + kThreads * kEach);
}

TEST_P(StoreConformance, OverQuotaChangesNothing) {
  Account a = NewAccount("a@example.org");
  Account b = NewAccount("b@example.org", /*bytes=*/100, /*messages=*/0);
  Account c = NewAccount("c@example.org", /*bytes=*/0, /*messages=*/2);
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId ib = Box(b.id, "INBOX").id;
  MailboxId ic = Box(c.id, "INBOX").id;
  auto rec = Record(a.id);
  Mailbox before = store_->GetMailboxById(ia).value();

  NewBlob big = Blob(std::string(120, 'x'));
  auto r = store_->Deliver(big, {{ia, {}, 0}, {ib, {}, 0}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kOverQuota);
  Mailbox after = store_->GetMailboxById(ia).value();
  EXPECT_EQ(after.uid_next, before.uid_next);
  EXPECT_EQ(after.highest_modseq, before.highest_modseq);
  EXPECT_TRUE(ViewUids(ia).empty());
  EXPECT_EQ(Usage(a.id).messages, 0u);
  EXPECT_EQ(Usage(b.id).bytes, 0u);
  EXPECT_TRUE(rec->Take().empty());

  // Exactly at the limit is allowed.
  NewBlob fits = Blob(std::string(98, 'y'));  // 2 + 98 = 100 octets
  Deliver(fits, {ib});
  EXPECT_EQ(Usage(b.id).bytes, 100u);
  EXPECT_EQ(store_->Deliver(Blob(""), {{ib, {}, 0}}).error().code(),
            ErrorCode::kOverQuota);

  // Message-count quota.
  Deliver(Blob("1"), {ic});
  EXPECT_EQ(
      store_->Deliver(Blob("2"), {{ic, {}, 0}, {ic, {}, 0}}).error().code(),
      ErrorCode::kOverQuota);
  Deliver(Blob("2"), {ic});
  EXPECT_EQ(Usage(c.id).messages, 2u);

  // COPY is quota-checked too.
  Deliver(Blob("abc"), {ia});
  ASSERT_TRUE(store_->SetQuota(a.id, 0, 1).has_value());
  MailboxId arch = Box(a.id, "Archive").id;
  EXPECT_EQ(store_->Copy(ia, All(), arch).error().code(),
            ErrorCode::kOverQuota);
  EXPECT_TRUE(ViewUids(arch).empty());
  EXPECT_EQ(Usage(a.id).messages, 1u);
  // MOVE within the account does not add usage, so it is allowed.
  auto moved = store_->Move(ia, All(), arch);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->dest_uids.size(), 1u);
  EXPECT_EQ(Usage(a.id).messages, 1u);
}

// GetMessages answers in UID order, each message once, even for a set
// whose ranges overlap or come out of order.
TEST_P(StoreConformance, GetMessagesOrdersAndDedups) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  for (int i = 0; i < 6; ++i) Deliver(Blob("m" + std::to_string(i)), {ia});
  auto uids_of = [&](const UidSet& set) {
    std::vector<Uid> out;
    auto rows = store_->GetMessages(ia, set);
    EXPECT_TRUE(rows.has_value());
    if (rows) {
      for (const auto& r : *rows) out.push_back(r.uid);
    }
    return out;
  };
  EXPECT_EQ(uids_of({{2, 4}}), (std::vector<Uid>{2, 3, 4}));
  EXPECT_EQ(uids_of({{1, 1}, {3, 3}, {5, 9}}), (std::vector<Uid>{1, 3, 5, 6}));
  EXPECT_EQ(uids_of({{4, 6}, {1, 2}}), (std::vector<Uid>{1, 2, 4, 5, 6}));
  EXPECT_EQ(uids_of({{1, 3}, {2, 5}, {5, 5}}),
            (std::vector<Uid>{1, 2, 3, 4, 5}));
}

// ScanView: the bounds come first, from the snapshot the rows come from:
// room for the rows, the uids exactly, a range holding every MODSEQ.
TEST_P(StoreConformance, ScanViewReportsBoundsBeforeRows) {
  struct Seen final : ViewReceiver {
    int begins = 0;
    bool row_before_begin = false;
    Mailbox mailbox;
    ViewBounds bounds;
    std::vector<MailboxView::Entry> rows;
    std::vector<std::vector<std::string>> keywords;
    void Begin(const Mailbox& mb, const ViewBounds& b) override {
      ++begins;
      mailbox = mb;
      bounds = b;
    }
    void Row(const MailboxView::Entry& e,
             std::vector<std::string>&& kws) override {
      if (begins == 0) row_before_begin = true;
      rows.push_back(e);
      keywords.push_back(std::move(kws));
    }
  };
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;

  Seen empty;
  ASSERT_TRUE(store_->ScanView(ia, empty).has_value());
  EXPECT_EQ(empty.begins, 1);
  EXPECT_EQ(empty.mailbox.id, ia);
  EXPECT_EQ(empty.bounds.room, 0u);
  EXPECT_EQ(empty.bounds.min_uid, 0u);
  EXPECT_EQ(empty.bounds.max_modseq, 0u);
  EXPECT_TRUE(empty.rows.empty());

  for (int i = 0; i < 4; ++i) Deliver(Blob("m" + std::to_string(i)), {ia});
  ASSERT_TRUE(store_->Expunge(ia, {{1, 1}}).has_value());  // lowest uid 2
  FlagUpdate kw;
  kw.op = FlagOp::kAdd;
  kw.flags.keywords = {"$Label1"};
  ASSERT_TRUE(store_->UpdateFlags(ia, {{3, 3}}, kw).has_value());  // top MODSEQ

  Seen seen;
  ASSERT_TRUE(store_->ScanView(ia, seen).has_value());
  EXPECT_EQ(seen.begins, 1);
  EXPECT_FALSE(seen.row_before_begin);
  ASSERT_EQ(seen.rows.size(), 3u);
  // Room for the rows, and no more than their uid range: both are 3 here.
  EXPECT_EQ(seen.bounds.room, 3u);
  EXPECT_EQ(seen.rows[0].uid(), 2u);
  EXPECT_EQ(seen.rows[2].uid(), 4u);
  EXPECT_EQ(seen.bounds.min_uid, 2u);
  EXPECT_EQ(seen.bounds.max_uid, 4u);
  // Every MODSEQ within the range, which may be wider (SQLite: 0 ..
  // HIGHESTMODSEQ), never past HIGHESTMODSEQ.
  for (const auto& e : seen.rows) {
    EXPECT_LE(seen.bounds.min_modseq, e.modseq());
    EXPECT_GE(seen.bounds.max_modseq, e.modseq());
  }
  EXPECT_EQ(seen.rows[1].modseq(), seen.mailbox.highest_modseq);
  EXPECT_LE(seen.bounds.max_modseq, seen.mailbox.highest_modseq);
  EXPECT_EQ(seen.keywords[1], std::vector<std::string>{"$Label1"});
  EXPECT_TRUE(seen.keywords[0].empty());

  Seen none;
  auto gone = store_->ScanView(ia + 1000, none);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(none.begins, 0);
  EXPECT_TRUE(none.rows.empty());
}

TEST_P(StoreConformance, UpdateFlags) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  Deliver(Blob("1"), {ia});
  Deliver(Blob("2"), {ia}, kFlagSeen);
  Deliver(Blob("3"), {ia});
  auto rec = Record(a.id);
  ModSeq hm = store_->GetMailboxById(ia)->highest_modseq;

  FlagUpdate add;
  add.op = FlagOp::kAdd;
  add.flags.system = kFlagSeen;
  add.flags.keywords = {"$Junk", "$Forwarded", "$Junk"};
  auto r = store_->UpdateFlags(ia, {{1, 2}}, add, /*origin=*/77).value();
  ASSERT_EQ(r.changed.size(), 2u);
  EXPECT_TRUE(r.not_modified.empty());
  EXPECT_EQ(r.changed[0].uid, 1u);
  EXPECT_EQ(r.changed[0].flags.system, kFlagSeen);
  EXPECT_EQ(r.changed[0].flags.keywords,
            (std::vector<std::string>{"$Forwarded", "$Junk"}));
  EXPECT_GT(r.changed[0].modseq, hm);
  EXPECT_GT(r.changed[1].modseq, hm);
  hm = store_->GetMailboxById(ia)->highest_modseq;
  EXPECT_EQ(hm, std::max(r.changed[0].modseq, r.changed[1].modseq));
  auto changes = rec->Take();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kFlags);
  EXPECT_EQ(changes[0].origin, 77u);
  EXPECT_EQ(changes[0].modseq, hm);
  ASSERT_EQ(changes[0].messages.size(), 2u);

  // The same again changes nothing: no MODSEQ bump, no event.
  r = store_->UpdateFlags(ia, {{1, 2}}, add).value();
  EXPECT_TRUE(r.changed.empty());
  EXPECT_EQ(store_->GetMailboxById(ia)->highest_modseq, hm);
  EXPECT_TRUE(rec->Take().empty());

  FlagUpdate remove;
  remove.op = FlagOp::kRemove;
  remove.flags.keywords = {"$Junk"};
  r = store_->UpdateFlags(ia, All(), remove).value();
  ASSERT_EQ(r.changed.size(), 2u);  // only 1 and 2 had $Junk
  EXPECT_EQ(r.changed[1].flags.keywords,
            std::vector<std::string>{"$Forwarded"});
  EXPECT_EQ(r.changed[1].flags.system, kFlagSeen);

  FlagUpdate replace;
  replace.op = FlagOp::kReplace;
  replace.flags.system = kFlagFlagged | kFlagDraft;
  r = store_->UpdateFlags(ia, {{3, 3}}, replace).value();
  ASSERT_EQ(r.changed.size(), 1u);
  MailboxView listed = store_->ListView(ia).value();
  const auto& view = listed.entries;
  ASSERT_EQ(view.size(), 3u);
  EXPECT_EQ(view[2].system, kFlagFlagged | kFlagDraft);
  // Keywords only for the messages that have any (1 and 2; 3 has none).
  ASSERT_EQ(listed.keywords.size(), 2u);
  EXPECT_EQ(listed.keywords[0].first, Uid{1});
  EXPECT_EQ(listed.keywords[1].first, Uid{2});
  EXPECT_EQ(listed.keywords[0].second,
            std::vector<std::string>{"$Forwarded"});
  // The mailbox row of the same snapshot.
  EXPECT_EQ(listed.mailbox.id, ia);
  EXPECT_EQ(listed.mailbox.highest_modseq,
            std::max({view[0].modseq(), view[1].modseq(), view[2].modseq()}));
  EXPECT_EQ(listed.mailbox.uid_next, Uid{4});
  auto rows = store_->GetMessages(ia, {{1, 1}}).value();
  EXPECT_EQ(rows[0].flags.system, view[0].system);
  EXPECT_EQ(rows[0].flags.keywords, listed.keywords[0].second);
  EXPECT_EQ(rows[0].modseq, view[0].modseq());
  auto status = store_->GetMailboxStatus(ia).value();
  EXPECT_EQ(status.unseen, 1u);

  // CONDSTORE UNCHANGEDSINCE (RFC 7162 §3.1.3).
  ModSeq m3 = view[2].modseq();
  FlagUpdate cond;
  cond.op = FlagOp::kAdd;
  cond.flags.system = kFlagDeleted;
  cond.unchanged_since = view[0].modseq();  // 1 qualifies, 3 was changed later
  ASSERT_LT(view[0].modseq(), m3);
  r = store_->UpdateFlags(ia, {{1, 1}, {3, 3}}, cond).value();
  ASSERT_EQ(r.changed.size(), 1u);
  EXPECT_EQ(r.changed[0].uid, 1u);
  EXPECT_EQ(r.not_modified, std::vector<Uid>{3});
  EXPECT_EQ(store_->GetMailboxStatus(ia)->deleted, 1u);
  // Unknown UIDs are ignored.
  r = store_->UpdateFlags(ia, {{50, 60}}, add).value();
  EXPECT_TRUE(r.changed.empty());
}

TEST_P(StoreConformance, ExpungeAndExpungedSince) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  for (int i = 0; i < 5; ++i) Deliver(Blob("m" + std::to_string(i)), {ia});
  ModSeq m0 = store_->GetMailboxById(ia)->highest_modseq;
  auto rec = Record(a.id);
  auto ex = store_->Expunge(ia, {{2, 3}, {9, 9}}, 5).value();
  EXPECT_EQ(ex.uids, (std::vector<Uid>{2, 3}));
  EXPECT_GT(ex.modseq, m0);
  EXPECT_EQ(store_->GetMailboxById(ia)->highest_modseq, ex.modseq);
  EXPECT_EQ(ViewUids(ia), (std::vector<Uid>{1, 4, 5}));
  EXPECT_EQ(Usage(a.id).messages, 3u);
  EXPECT_EQ(Usage(a.id).bytes, 3 * 4u);
  auto changes = rec->Take();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kExpunged);
  EXPECT_EQ(changes[0].uids, (std::vector<Uid>{2, 3}));
  EXPECT_EQ(changes[0].origin, 5u);
  EXPECT_EQ(changes[0].modseq, ex.modseq);

  auto ex2 = store_->Expunge(ia, {{5, 5}}).value();
  EXPECT_GT(ex2.modseq, ex.modseq);
  EXPECT_EQ(store_->ExpungedSince(ia, m0).value(), (std::vector<Uid>{2, 3, 5}));
  EXPECT_EQ(store_->ExpungedSince(ia, ex.modseq).value(), std::vector<Uid>{5});
  EXPECT_TRUE(store_->ExpungedSince(ia, ex2.modseq)->empty());
  // Nothing to expunge: no change.
  auto none = store_->Expunge(ia, {{2, 3}}).value();
  EXPECT_TRUE(none.uids.empty());
  EXPECT_EQ(store_->GetMailboxById(ia)->highest_modseq, ex2.modseq);
  EXPECT_EQ(rec->Take().size(), 1u);
  // UIDs are never reused after expunge.
  EXPECT_EQ(Deliver(Blob("new"), {ia})[0].uid, 6u);
}

TEST_P(StoreConformance, CompactedExpungeLogRaisesTheFloor) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId other = Box(a.id, "Sent").id;
  for (int i = 0; i < 4; ++i) Deliver(Blob("m" + std::to_string(i)), {ia});
  Deliver(Blob("o"), {other});
  ModSeq m0 = store_->GetMailboxById(ia)->highest_modseq;
  EXPECT_EQ(store_->ExpungeLogFloor(ia).value(), 0u);
  auto first = store_->Expunge(ia, {{1, 2}}).value();
  // Nothing is older than a minute ago: nothing goes.
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  EXPECT_EQ(store_->CompactExpungeLog(now - 60).value(), 0u);
  EXPECT_EQ(store_->ExpungeLogFloor(ia).value(), 0u);
  // Everything made before a minute from now goes; the floor says which
  // MODSEQs may be missing, and only in the mailbox that had records.
  EXPECT_EQ(store_->CompactExpungeLog(now + 60).value(), 2u);
  EXPECT_EQ(store_->ExpungeLogFloor(ia).value(), first.modseq);
  EXPECT_EQ(store_->ExpungeLogFloor(other).value(), 0u);
  EXPECT_TRUE(store_->ExpungedSince(ia, m0)->empty());
  // Later expunges are logged again, above the floor.
  auto second = store_->Expunge(ia, {{3, 3}}).value();
  EXPECT_EQ(store_->ExpungedSince(ia, m0).value(), std::vector<Uid>{3});
  EXPECT_GT(second.modseq, store_->ExpungeLogFloor(ia).value());
  EXPECT_TRUE(store_->CheckIntegrity()->empty());
}

TEST_P(StoreConformance, ExpungeOnlyDeletedDecidesAtCommit) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  Deliver(Blob("one"), {ia}, kFlagDeleted);
  Deliver(Blob("two"), {ia});
  Deliver(Blob("three"), {ia}, kFlagDeleted | kFlagSeen);
  // Another session takes \Deleted off 3 before the EXPUNGE commits.
  FlagUpdate off;
  off.op = FlagOp::kRemove;
  off.flags.system = kFlagDeleted;
  ASSERT_TRUE(store_->UpdateFlags(ia, {{3, 3}}, off));
  auto ex = store_->Expunge(ia, {{1, 100}}, 0, /*only_deleted=*/true).value();
  EXPECT_EQ(ex.uids, std::vector<Uid>{1});
  EXPECT_EQ(ViewUids(ia), (std::vector<Uid>{2, 3}));
  // Nothing left with \Deleted: no change, no new MODSEQ.
  ModSeq before = store_->GetMailboxById(ia)->highest_modseq;
  EXPECT_TRUE(store_->Expunge(ia, {{1, 100}}, 0, true)->uids.empty());
  EXPECT_EQ(store_->GetMailboxById(ia)->highest_modseq, before);
}

TEST_P(StoreConformance, CopyAndMove) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId arch = Box(a.id, "Archive").id;
  MailboxId trash = Box(a.id, "Trash").id;
  Deliver(Blob("one"), {ia});
  Deliver(Blob("two"), {ia}, kFlagSeen);
  Deliver(Blob("three"), {ia});
  Deliver(Blob("pre"), {arch});
  QuotaUsage u0 = Usage(a.id);
  auto rec = Record(a.id);

  auto copy = store_->Copy(ia, {{1, 2}}, arch, 9).value();
  EXPECT_EQ(copy.dest_uid_validity, Box(a.id, "Archive").uid_validity);
  EXPECT_EQ(copy.source_uids, (std::vector<Uid>{1, 2}));
  EXPECT_EQ(copy.dest_uids, (std::vector<Uid>{2, 3}));
  QuotaUsage u1 = Usage(a.id);
  EXPECT_EQ(u1.messages, u0.messages + 2);
  EXPECT_EQ(u1.bytes, u0.bytes + 5 + 5);
  auto src_rows = store_->GetMessages(ia, {{1, 2}}).value();
  auto dst_rows = store_->GetMessages(arch, {{2, 3}}).value();
  ASSERT_EQ(dst_rows.size(), 2u);
  EXPECT_EQ(dst_rows[1].flags.system, kFlagSeen);  // flags copied
  EXPECT_EQ(dst_rows[0].blob, src_rows[0].blob);   // body shared
  EXPECT_NE(dst_rows[0].id, src_rows[0].id);       // a new message
  EXPECT_EQ(ViewUids(ia).size(), 3u);
  auto changes = rec->Take();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kAppended);
  EXPECT_EQ(changes[0].mailbox, arch);
  EXPECT_EQ(changes[0].messages.size(), 2u);
  EXPECT_EQ(changes[0].origin, 9u);

  MessageId id3 = store_->GetMessages(ia, {{3, 3}})->at(0).id;
  ModSeq ia_modseq = store_->GetMailboxById(ia)->highest_modseq;
  auto move = store_->Move(ia, {{2, 3}}, trash).value();
  EXPECT_EQ(move.source_uids, (std::vector<Uid>{2, 3}));
  EXPECT_EQ(move.dest_uids, (std::vector<Uid>{1, 2}));
  EXPECT_EQ(ViewUids(ia), std::vector<Uid>{1});
  EXPECT_EQ(ViewUids(trash), (std::vector<Uid>{1, 2}));
  EXPECT_EQ(store_->GetMessages(trash, {{2, 2}})->at(0).id, id3);
  EXPECT_EQ(Usage(a.id).messages, u1.messages);
  EXPECT_EQ(Usage(a.id).bytes, u1.bytes);
  EXPECT_EQ(store_->ExpungedSince(ia, ia_modseq).value(),
            (std::vector<Uid>{2, 3}));
  changes = rec->Take();
  ASSERT_EQ(changes.size(), 2u);
  std::set<Change::Kind> kinds = {changes[0].kind, changes[1].kind};
  EXPECT_EQ(kinds, (std::set<Change::Kind>{Change::Kind::kAppended,
                                           Change::Kind::kExpunged}));
  for (const auto& c : changes) {
    if (c.kind == Change::Kind::kExpunged) {
      EXPECT_EQ(c.mailbox, ia);
      EXPECT_EQ(c.uids, (std::vector<Uid>{2, 3}));
    } else {
      EXPECT_EQ(c.mailbox, trash);
    }
  }
  // Nothing selected: empty mapping, no error.
  auto empty = store_->Copy(ia, {{40, 50}}, arch).value();
  EXPECT_TRUE(empty.dest_uids.empty());
  EXPECT_EQ(store_->Copy(ia, All(), 424242).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(StoreConformance, ReadBlobRanges) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  std::string big;
  big.reserve(3 << 20);
  for (int i = 0; big.size() < (3u << 20); ++i) {
    big += "line " + std::to_string(i) + "\r\n";
  }
  NewBlob nb;
  nb.data = big;
  Deliver(nb, {ia});
  BlobId id = store_->GetMessages(ia, All())->at(0).blob;
  EXPECT_EQ(store_->GetBlobInfo(id)->size, big.size());
  EXPECT_EQ(store_->ReadBlob(id, 0, 10).value(), big.substr(0, 10));
  EXPECT_EQ(store_->ReadBlob(id, 1000000, 7).value(), big.substr(1000000, 7));
  EXPECT_EQ(store_->ReadBlob(id, big.size() - 3, 100).value(),
            big.substr(big.size() - 3));
  EXPECT_EQ(store_->ReadBlob(id, big.size(), 100).value(), "");
  EXPECT_EQ(store_->ReadBlob(id, big.size() + 50, 100).value(), "");
  std::string joined;
  for (uint64_t off = 0; off < big.size(); off += 256 * 1024) {
    joined += store_->ReadBlob(id, off, 256 * 1024).value();
  }
  EXPECT_EQ(joined, big);
  EXPECT_EQ(store_->ReadBlob(id + 1000, 0, 1).error().code(),
            ErrorCode::kNotFound);
  // An empty body is a valid blob.
  NewBlob empty;
  Deliver(empty, {ia});
  BlobId eid = store_->GetMessages(ia, {{2, 2}})->at(0).blob;
  EXPECT_EQ(store_->ReadBlob(eid, 0, 10).value(), "");
  EXPECT_EQ(store_->GetBlobInfo(eid)->size, 0u);
}

// One snapshot for many bodies: info and the asked-for prefix of each,
// kNotFound for one that is gone or never was.
TEST_P(StoreConformance, ReadBlobHeads) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  Deliver(Blob("first body"), {ia});
  Deliver(Blob("second body"), {ia});
  auto rows = store_->GetMessages(ia, All()).value();
  BlobId first = rows[0].blob, second = rows[1].blob;
  ASSERT_TRUE(store_->Expunge(ia, {{2, 2}}).has_value());
  std::vector<std::string> seen(3);
  std::vector<uint64_t> sizes(3);
  auto length = [](size_t, const BlobInfo& info) { return info.size - 3; };
  auto got = [&](size_t i, Result<BlobInfo> info, std::string data) {
    if (!info) {
      seen[i] = "gone:" + std::to_string(static_cast<int>(info.error().code() ==
                                                          ErrorCode::kNotFound));
      return;
    }
    sizes[i] = info->size;
    seen[i] = data;
  };
  ASSERT_TRUE(
      store_->ReadBlobHeads({first, second, first + second + 100}, length, got)
          .has_value());
  std::string whole = store_->ReadBlob(first, 0, 1000).value();
  EXPECT_EQ(sizes[0], whole.size());
  EXPECT_EQ(seen[0], whole.substr(0, whole.size() - 3));
  EXPECT_EQ(seen[1], "gone:1");
  EXPECT_EQ(seen[2], "gone:1");
}

TEST_P(StoreConformance, BlobDedupAndFreeing) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId arch = Box(a.id, "Archive").id;
  Deliver(Blob("same"), {ia});
  Deliver(Blob("same"), {arch});
  Deliver(Blob("different"), {ia});
  auto rows = store_->GetMessages(ia, All()).value();
  BlobId same = rows[0].blob;
  EXPECT_EQ(store_->GetMessages(arch, All())->at(0).blob, same);
  EXPECT_NE(rows[1].blob, same);
  ASSERT_TRUE(store_->Expunge(ia, {{1, 1}}).has_value());
  EXPECT_TRUE(store_->GetBlobInfo(same).has_value());  // still referenced
  ASSERT_TRUE(store_->Expunge(arch, All()).has_value());
  EXPECT_EQ(store_->GetBlobInfo(same).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->ReadBlob(same, 0, 1).error().code(), ErrorCode::kNotFound);
  // Delivering the same body again works after it was freed.
  Deliver(Blob("same"), {ia});
  auto again = store_->GetMessages(ia, {{3, 3}}).value();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(store_->ReadBlob(again[0].blob, 0, 100).value(), "\r\nsame");
  EXPECT_EQ(store_->SearchText(ia, TextField::kBody, "same").value(),
            std::vector<Uid>{3});
  // Deleting a mailbox frees its bodies too.
  BlobId diff = rows[1].blob;
  ASSERT_TRUE(store_->DeleteMailbox(ia).has_value());
  EXPECT_EQ(store_->GetBlobInfo(diff).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Usage(a.id).messages, 0u);
  EXPECT_EQ(Usage(a.id).bytes, 0u);
}

TEST_P(StoreConformance, SearchText) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId other = Box(a.id, "Archive").id;
  Deliver(Blob("The Quick brown fox", "Subject: Meeting notes"), {ia});
  Deliver(Blob("lazy dog; 100% sure_thing \"quoted\"", "From: Zoe"), {ia});
  Deliver(Blob("nothing here", "Subject: quick question"), {ia});
  Deliver(Blob("quick in another mailbox"), {other});
  auto s = [&](TextField f, std::string_view n) {
    auto r = store_->SearchText(ia, f, n);
    EXPECT_TRUE(r.has_value()) << n;
    return r.value_or(std::vector<Uid>{});
  };
  EXPECT_EQ(s(TextField::kBody, "QUICK"), std::vector<Uid>{1});
  EXPECT_EQ(s(TextField::kText, "quick"), (std::vector<Uid>{1, 3}));
  EXPECT_EQ(s(TextField::kBody, "uick bro"), std::vector<Uid>{1});
  EXPECT_EQ(s(TextField::kBody, "meeting"), std::vector<Uid>{});
  EXPECT_EQ(s(TextField::kText, "meeting"), std::vector<Uid>{1});
  EXPECT_EQ(s(TextField::kBody, "missing"), std::vector<Uid>{});
  // Short needles (below the trigram length) still work.
  EXPECT_EQ(s(TextField::kBody, "Zy"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kText, "zo"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "zo"), std::vector<Uid>{});
  EXPECT_EQ(s(TextField::kBody, "x"), std::vector<Uid>{1});
  // Characters special to FTS5 or LIKE are matched literally.
  EXPECT_EQ(s(TextField::kBody, "100%"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "%"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "_"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "e_t"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "\"quoted\""), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "g; 1"), std::vector<Uid>{2});
  EXPECT_EQ(s(TextField::kBody, "fox OR dog"), std::vector<Uid>{});
  EXPECT_EQ(s(TextField::kBody, "*"), std::vector<Uid>{});
  EXPECT_EQ(store_->SearchText(other, TextField::kBody, "quick").value(),
            std::vector<Uid>{1});
}

// An index kept whole has nothing to rebuild: Reindex of what is missing
// asks for no text, queues none and drops none, and searches answer as
// before.
TEST_P(StoreConformance, ReindexLeavesAWholeIndexAlone) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  Deliver(Blob("indexed already"), {ia});
  EXPECT_EQ(store_->SearchText(ia, TextField::kBody, "already").value(),
            std::vector<Uid>{1});
  Deliver(Blob("still pending"), {ia});
  int calls = 0;
  auto counts = store_->Reindex(
      [&](std::string) -> Result<NewBlob> {
        ++calls;
        return Fail(ErrorCode::kInternal, "not expected");
      },
      Store::ReindexScope::kMissing);
  ASSERT_TRUE(counts.has_value()) << counts.error().ToString();
  EXPECT_EQ(counts->queued, 0u);
  EXPECT_EQ(counts->dropped, 0u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(store_->SearchText(ia, TextField::kBody, "pending").value(),
            std::vector<Uid>{2});
  EXPECT_TRUE(store_->CheckIntegrity()->empty());
}

// Body text kept as a place in the message (NewBlob::search_text_in_data)
// is searched there: the slice, and nothing of the message around it.
TEST_P(StoreConformance, SearchTextKeptAsSliceOfTheBody) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  NewBlob b;
  b.data = "Subject: outside\r\n\r\ninside words\r\ntrailer";
  b.summary = "s";
  b.search_headers = "Subject: outside\n";
  b.search_text_in_data = NewBlob::Slice{b.data.find("inside"), 14};
  Deliver(b, {ia});
  Deliver(Blob("inside a copy"), {ia});
  auto s = [&](TextField f, std::string_view n) {
    auto r = store_->SearchText(ia, f, n);
    EXPECT_TRUE(r.has_value()) << n;
    return r.value_or(std::vector<Uid>{});
  };
  EXPECT_EQ(s(TextField::kBody, "INSIDE"), (std::vector<Uid>{1, 2}));
  EXPECT_EQ(s(TextField::kBody, "de words"), std::vector<Uid>{1});
  EXPECT_EQ(s(TextField::kBody, "outside"), std::vector<Uid>{});
  EXPECT_EQ(s(TextField::kBody, "trailer"), std::vector<Uid>{});
  EXPECT_EQ(s(TextField::kText, "outside"), std::vector<Uid>{1});
  EXPECT_EQ(store_->ReadBlob(store_->GetMessages(ia, {{1, 1}})->at(0).blob, 0,
                             100)
                .value(),
            b.data);
}

// A superset of the header matches: every message the index has not
// reached yet is a candidate; once indexed, only the matches are.
TEST_P(StoreConformance, HeaderCandidates) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId other = Box(a.id, "Archive").id;
  Deliver(Blob("body", "Subject: Meeting notes"), {ia});
  Deliver(Blob("meeting in the body only", "From: Zoe"), {ia});
  Deliver(Blob("elsewhere", "Subject: meeting too"), {other});
  auto c = [&](MailboxId box, std::string_view n) {
    auto r = store_->HeaderCandidates(box, n, 2);
    EXPECT_TRUE(r.has_value()) << n;
    return r.value_or(std::vector<Uid>{});
  };
  std::vector<Uid> before = c(ia, "MEETING");
  EXPECT_TRUE(std::binary_search(before.begin(), before.end(), Uid{1}));
  EXPECT_TRUE(std::is_sorted(before.begin(), before.end()));
  EXPECT_LE(before.size(), 2u);  // never another mailbox's messages
  // SearchText brings the index up to date for the mailbox.
  ASSERT_TRUE(store_->SearchText(ia, TextField::kHeaders, "x").has_value());
  EXPECT_EQ(c(ia, "MEETING"), std::vector<Uid>{1});
  EXPECT_EQ(c(ia, "zo"), std::vector<Uid>{2});
  EXPECT_EQ(c(ia, "absent"), std::vector<Uid>{});
  ASSERT_TRUE(store_->SearchText(other, TextField::kHeaders, "x").has_value());
  EXPECT_EQ(c(other, "meeting"), std::vector<Uid>{1});
  EXPECT_EQ(store_->HeaderCandidates(MailboxId{987654}, "x", 0).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(StoreConformance, QuotaUsageExactThroughEveryOperation) {
  Account a = NewAccount("a@example.org");
  Account b = NewAccount("b@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId ta = Box(a.id, "Trash").id;
  MailboxId ib = Box(b.id, "INBOX").id;
  auto expect = [&](AccountId id, uint64_t bytes, uint64_t messages) {
    QuotaUsage u = Usage(id);
    EXPECT_EQ(u.bytes, bytes);
    EXPECT_EQ(u.messages, messages);
  };
  expect(a.id, 0, 0);
  Deliver(Blob("12345678"), {ia, ib});  // 10 octets each
  expect(a.id, 10, 1);
  expect(b.id, 10, 1);
  Deliver(Blob("123"), {ia, ia});  // 5 octets each
  expect(a.id, 20, 3);
  ASSERT_TRUE(store_->Copy(ia, All(), ta).has_value());
  expect(a.id, 40, 6);
  ASSERT_TRUE(store_->Move(ia, {{1, 1}}, ta).has_value());
  expect(a.id, 40, 6);
  ASSERT_TRUE(store_->Expunge(ta, {{1, 1}}).has_value());
  expect(a.id, 30, 5);
  FlagUpdate seen;
  seen.flags.system = kFlagSeen;
  ASSERT_TRUE(store_->UpdateFlags(ta, All(), seen).has_value());
  expect(a.id, 30, 5);
  ASSERT_TRUE(store_->DeleteMailbox(ta).has_value());
  expect(a.id, 10, 2);
  expect(b.id, 10, 1);
  EXPECT_EQ(store_->GetQuotaUsage(123456).error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreConformance, ChangeEventsInCommitOrder) {
  Account a = NewAccount("a@example.org");
  Account b = NewAccount("b@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId ib = Box(b.id, "INBOX").id;
  auto ra = Record(a.id);
  auto rb = Record(b.id);
  auto d = Deliver(Blob("x"), {ia, ib});
  FlagUpdate seen;
  seen.flags.system = kFlagSeen;
  ASSERT_TRUE(store_->UpdateFlags(ia, All(), seen, 3).has_value());
  ASSERT_TRUE(store_->Expunge(ia, All(), 4).has_value());
  ASSERT_TRUE(store_->SetSubscribed(a.id, "Junk", false).has_value());
  auto ca = ra->Take();
  ASSERT_EQ(ca.size(), 4u);
  EXPECT_EQ(ca[0].kind, Change::Kind::kAppended);
  EXPECT_EQ(ca[0].account, a.id);
  EXPECT_EQ(ca[0].mailbox, ia);
  EXPECT_EQ(ca[0].mailbox_name, "INBOX");
  ASSERT_EQ(ca[0].messages.size(), 1u);
  EXPECT_EQ(ca[0].messages[0].uid, d[0].uid);
  EXPECT_EQ(ca[0].messages[0].modseq, d[0].modseq);
  EXPECT_EQ(ca[0].modseq, d[0].modseq);
  EXPECT_EQ(ca[1].kind, Change::Kind::kFlags);
  EXPECT_EQ(ca[1].messages[0].flags.system, kFlagSeen);
  EXPECT_GT(ca[1].modseq, ca[0].modseq);
  EXPECT_EQ(ca[2].kind, Change::Kind::kExpunged);
  EXPECT_EQ(ca[2].uids, std::vector<Uid>{1});
  EXPECT_GT(ca[2].modseq, ca[1].modseq);
  EXPECT_EQ(ca[3].kind, Change::Kind::kSubscription);
  EXPECT_EQ(ca[3].mailbox_name, "Junk");
  auto cb = rb->Take();
  ASSERT_EQ(cb.size(), 1u);
  EXPECT_EQ(cb[0].kind, Change::Kind::kAppended);
  EXPECT_EQ(cb[0].mailbox, ib);
}

TEST_P(StoreConformance, ConcurrentWritersLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId arch = Box(a.id, "Archive").id;
  auto rec = Record(a.id);
  std::mutex mu;
  std::vector<Uid> got;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        NewBlob nb =
            Blob("thread " + std::to_string(t) + " msg " + std::to_string(i));
        auto r = store_->Deliver(nb, {{ia, {}, 0}});
        if (!r) {
          failures++;
          continue;
        }
        // Readers and flag writers interleave with the deliveries.
        if (i % 5 == 0) {
          FlagUpdate f;
          f.flags.system = kFlagSeen;
          if (!store_->UpdateFlags(ia, {{(*r)[0].uid, (*r)[0].uid}}, f)) {
            failures++;
          }
          if (!store_->Copy(ia, {{(*r)[0].uid, (*r)[0].uid}}, arch)) {
            failures++;
          }
          if (!store_->ListView(ia)) failures++;
        }
        std::lock_guard lock(mu);
        got.push_back((*r)[0].uid);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::sort(got.begin(), got.end());
  ASSERT_EQ(got.size(), size_t{kThreads * kPerThread});
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i + 1);
  EXPECT_EQ(ViewUids(ia), got);
  EXPECT_EQ(ViewUids(arch).size(), size_t{kThreads * kPerThread / 5});
  EXPECT_EQ(store_->GetMailboxById(ia)->uid_next, got.size() + 1);
  EXPECT_EQ(Usage(a.id).messages, got.size() + kThreads * kPerThread / 5);
  // Every delivery was published once, with MODSEQs in commit order.
  std::vector<Uid> published;
  ModSeq last = 0;
  for (const auto& c : rec->Take()) {
    if (c.mailbox != ia) continue;
    EXPECT_GT(c.modseq, last);
    last = c.modseq;
    if (c.kind == Change::Kind::kAppended) {
      for (const auto& m : c.messages) published.push_back(m.uid);
    }
  }
  std::sort(published.begin(), published.end());
  EXPECT_EQ(published, got);
  auto problems = store_->CheckIntegrity().value();
  EXPECT_TRUE(problems.empty());
}

// RFC 3502 MULTIAPPEND: several messages, one transaction, all or none.
TEST_P(StoreConformance, AppendManyIsAllOrNothing) {
  Account a = NewAccount("a@example.org", 0, 4);
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId arch = Box(a.id, "Archive").id;
  auto rec = Record(a.id);
  std::vector<NewMessage> batch(3);
  batch[0].blob = Blob("first");
  batch[0].target = {ia, {kFlagSeen, {"$Draft1"}}, 1600000000};
  batch[1].blob = Blob("second");
  batch[1].target = {arch, {}, 1600000001};
  batch[2].blob = Blob("first");  // same body: stored once
  batch[2].target = {ia, {kFlagFlagged, {}}, 1600000002};
  auto got = store_->AppendMany(batch, 7);
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].mailbox, ia);
  EXPECT_EQ((*got)[0].uid, 1u);
  EXPECT_EQ((*got)[1].mailbox, arch);
  EXPECT_EQ((*got)[1].uid, 1u);
  EXPECT_EQ((*got)[2].uid, 2u);
  EXPECT_GT((*got)[2].modseq, (*got)[0].modseq);
  auto rows = store_->GetMessages(ia, All()).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].flags, (Flags{kFlagSeen, {"$Draft1"}}));
  EXPECT_EQ(rows[0].internal_date, 1600000000);
  EXPECT_EQ(rows[1].flags.system, kFlagFlagged);
  EXPECT_EQ(rows[1].internal_date, 1600000002);
  EXPECT_EQ(rows[0].blob, rows[1].blob);
  EXPECT_EQ(rows[0].id, (*got)[0].id);
  EXPECT_EQ(store_->ReadBlob(rows[0].blob, 0, 100).value(), "\r\nfirst");
  EXPECT_EQ(Usage(a.id).messages, 3u);
  auto changes = rec->Take();
  ASSERT_EQ(changes.size(), 3u);
  for (const auto& c : changes) {
    EXPECT_EQ(c.kind, Change::Kind::kAppended);
    EXPECT_EQ(c.origin, 7u);
  }

  // One over quota (4 messages): none is stored.
  std::vector<NewMessage> two(2);
  two[0].blob = Blob("x1");
  two[0].target.mailbox = ia;
  two[1].blob = Blob("x2");
  two[1].target.mailbox = arch;
  EXPECT_EQ(store_->AppendMany(two).error().code(), ErrorCode::kOverQuota);
  two[1].target.mailbox = 987654;
  EXPECT_EQ(store_->AppendMany(two).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->AppendMany({}).error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(Usage(a.id).messages, 3u);
  EXPECT_EQ(store_->GetMailboxById(ia)->uid_next, 3u);
  EXPECT_EQ(store_->GetMailboxById(arch)->uid_next, 2u);
  EXPECT_TRUE(rec->Take().empty());
  two.pop_back();
  EXPECT_EQ(store_->AppendMany(two).value().at(0).uid, 3u);
}

// POP3 download_once (store.h): a mark on the message, invisible to IMAP.
TEST_P(StoreConformance, Pop3DownloadedMarks) {
  Account a = NewAccount("a@example.org");
  MailboxId ia = Box(a.id, "INBOX").id;
  MailboxId arch = Box(a.id, "Archive").id;
  for (int i = 0; i < 4; ++i) Deliver(Blob("m" + std::to_string(i)), {ia});
  EXPECT_TRUE(store_->Pop3Downloaded(ia)->empty());
  auto view_before = store_->ListView(ia).value();
  ModSeq modseq_before = store_->GetMailboxById(ia)->highest_modseq;
  auto rec = Record(a.id);

  ASSERT_TRUE(store_->MarkPop3Downloaded(ia, {{1, 3}, {90, 99}}).has_value());
  // Marking again is harmless.
  ASSERT_TRUE(store_->MarkPop3Downloaded(ia, {{2, 2}}).has_value());
  EXPECT_EQ(store_->Pop3Downloaded(ia).value(), (std::vector<Uid>{1, 2, 3}));
  // Invisible to IMAP: no MODSEQ, no flag, no event.
  auto view_after = store_->ListView(ia).value();
  ASSERT_EQ(view_after.entries.size(), view_before.entries.size());
  EXPECT_EQ(view_after.keywords, view_before.keywords);
  for (size_t i = 0; i < view_after.entries.size(); ++i) {
    EXPECT_EQ(view_after.entries[i].modseq(),
              view_before.entries[i].modseq());
    EXPECT_EQ(view_after.entries[i].system, view_before.entries[i].system);
  }
  EXPECT_EQ(store_->GetMailboxById(ia)->highest_modseq, modseq_before);
  EXPECT_TRUE(rec->Take().empty());

  // COPY makes a new, unmarked message; MOVE keeps the mark with it.
  auto copy = store_->Copy(ia, {{1, 1}}, arch).value();
  EXPECT_TRUE(store_->Pop3Downloaded(arch)->empty());
  auto move = store_->Move(ia, {{2, 2}}, arch).value();
  ASSERT_EQ(move.dest_uids.size(), 1u);
  EXPECT_EQ(store_->Pop3Downloaded(arch).value(), move.dest_uids);
  EXPECT_EQ(store_->Pop3Downloaded(ia).value(), (std::vector<Uid>{1, 3}));
  // Gone with the message; a later message is not marked.
  ASSERT_TRUE(store_->Expunge(ia, {{1, 1}}).has_value());
  EXPECT_EQ(store_->Pop3Downloaded(ia).value(), std::vector<Uid>{3});
  EXPECT_EQ(Deliver(Blob("m0"), {ia})[0].uid, 5u);  // same body as uid 1
  EXPECT_EQ(store_->Pop3Downloaded(ia).value(), std::vector<Uid>{3});
  ASSERT_TRUE(store_->DeleteMailbox(arch).has_value());

  EXPECT_EQ(store_->MarkPop3Downloaded(424242, {{1, 1}}).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->Pop3Downloaded(424242).error().code(),
            ErrorCode::kNotFound);
}

// RFC 9051 §2.3.1.1: a name must never come back with a UIDVALIDITY it had
// before, even when the whole account is removed and created again.
TEST_P(StoreConformance, UidValidityNeverRepeats) {
  std::set<uint32_t> seen;
  for (int round = 0; round < 3; ++round) {
    Account a = NewAccount("a@example.org");
    auto boxes = store_->ListMailboxes(a.id).value();
    for (const auto& m : boxes) {
      EXPECT_TRUE(seen.insert(m.uid_validity).second)
          << m.name << " reused UIDVALIDITY " << m.uid_validity;
    }
    auto extra = store_->CreateMailbox(a.id, "Extra", SpecialUse::kNone);
    ASSERT_TRUE(extra.has_value());
    EXPECT_TRUE(seen.insert(extra->uid_validity).second);
    ASSERT_TRUE(store_->DeleteMailbox(extra->id).has_value());
    extra = store_->CreateMailbox(a.id, "Extra", SpecialUse::kNone);
    ASSERT_TRUE(extra.has_value());
    EXPECT_TRUE(seen.insert(extra->uid_validity).second);
    ASSERT_TRUE(store_->RemoveAccount(a.id).has_value());
  }
}

TEST_P(StoreConformance, StatsCountWrites) {
  StoreStats before = store_->Stats();
  ASSERT_TRUE(store_->AddDomain("other.net").has_value());
  EXPECT_FALSE(store_->AddDomain("other.net").has_value());
  EXPECT_TRUE(store_->HasDomain("other.net").value());  // a read: not counted
  StoreStats after = store_->Stats();
  EXPECT_EQ(after.write_calls, before.write_calls + 2);
  EXPECT_EQ(after.failed_calls, before.failed_calls + 1);
  // The successful write committed; the failed one may or may not have
  // shared an (empty) commit, depending on the backend.
  EXPECT_GE(after.commits, before.commits + 1);
  EXPECT_LE(after.commits, before.commits + 2);
  EXPECT_GE(after.largest_batch, 1u);
  EXPECT_EQ(after.queued, 0u);
  EXPECT_EQ(after.running, 0u);
}

}  // namespace correio::store
