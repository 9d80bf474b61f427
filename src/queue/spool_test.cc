#include "queue/spool.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace correio::queue {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format(
               "correio_spool_{}_{}", getpid(),
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    options_.retry_schedule = {60, 120};
    options_.max_age_seconds = 1000;
    options_.delay_warning_seconds = 200;
    options_.hostname = "mail.example.org";
    Reopen();
  }
  void TearDown() override {
    spool_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    spool_.reset();
    auto s = Spool::Open((dir_ / "queue.db").string(), options_, clock_);
    ASSERT_TRUE(s) << s.error().message();
    spool_ = std::move(*s);
  }
  Envelope Env(std::string from, std::vector<std::string> to,
               uint8_t notify = kNotifyDefault) {
    Envelope e;
    e.mail_from = std::move(from);
    for (auto& t : to) e.recipients.push_back({t, notify, ""});
    return e;
  }
  std::vector<WorkMessage> Due() {
    auto d = spool_->Due(clock_.NowSeconds(), 100, {});
    EXPECT_TRUE(d);
    return d ? *d : std::vector<WorkMessage>{};
  }

  fs::path dir_;
  SpoolOptions options_;
  ManualClock clock_{10000};
  std::unique_ptr<Spool> spool_;
};

const char kMsg[] = "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";

TEST_F(SpoolTest, EnqueueSurvivesReopenAndIsDue) {
  auto id = spool_->Enqueue(
      Env("a@example.org", {"b@example.net", "c@Example.COM"}), kMsg);
  ASSERT_TRUE(id);
  Reopen();
  auto due = Due();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, *id);
  EXPECT_EQ(due[0].envelope.mail_from, "a@example.org");
  ASSERT_EQ(due[0].recipients.size(), 2u);
  EXPECT_EQ(due[0].recipients[1].domain, "example.com");
  auto data = spool_->LoadData(*id);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, kMsg);
  // Busy recipients are skipped.
  auto busy = spool_->Due(clock_.NowSeconds(), 100, {due[0].recipients[0].id});
  ASSERT_TRUE(busy);
  ASSERT_EQ(busy->size(), 1u);
  EXPECT_EQ((*busy)[0].recipients.size(), 1u);
}

TEST_F(SpoolTest, DeferredFollowsScheduleThenExpiresIntoBounce) {
  auto id = spool_->Enqueue(Env("a@example.org", {"b@example.net"}), kMsg);
  ASSERT_TRUE(id);
  auto due = Due();
  uint64_t rid = due[0].recipients[0].id;
  Outcome o{
      rid, OutcomeKind::kDeferred, "4.0.0", "451 4.3.0 later", "mx.example.net",
      "", ""};
  ASSERT_TRUE(spool_->Record(*id, {o}));
  EXPECT_TRUE(Due().empty());
  auto next = spool_->NextDue({});
  ASSERT_TRUE(next && *next);
  EXPECT_EQ(**next, 10060);
  clock_.Advance(60);
  ASSERT_EQ(Due().size(), 1u);
  ASSERT_TRUE(spool_->Record(*id, {o}));
  EXPECT_EQ(**spool_->NextDue({}), 10180);
  auto show = spool_->Show(*id);
  ASSERT_TRUE(show);
  EXPECT_EQ(show->recipients[0].attempts, 2u);
  EXPECT_EQ(show->recipients[0].last_error, "451 4.3.0 later");
  // Past max_age: the next failure bounces.
  clock_.Set(10000 + 1000);
  ASSERT_TRUE(spool_->Record(*id, {o}));
  auto list = spool_->List();
  ASSERT_TRUE(list);
  // The original is gone; only the DSN from <> to the sender remains
  // (no delay warning: no deferral happened after delay_warning_seconds).
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].mail_from, "");
  ASSERT_EQ((*list)[0].recipients.size(), 1u);
  EXPECT_EQ((*list)[0].recipients[0].address, "a@example.org");
  auto dsn = spool_->LoadData((*list)[0].id);
  ASSERT_TRUE(dsn);
  EXPECT_NE(dsn->find("Status: 4.4.7"), std::string::npos);
  EXPECT_NE(dsn->find("Action: failed"), std::string::npos);
  EXPECT_NE(dsn->find("451 4.3.0 later"), std::string::npos);
}

TEST_F(SpoolTest, PermanentFailureBouncesOnlyWantedRecipients) {
  Envelope e = Env("a@example.org", {"b@example.net"});
  e.recipients.push_back({"never@example.net", kNotifyNever, ""});
  e.recipients.push_back({"ok@example.net", kNotifyFailure, ""});
  auto id = spool_->Enqueue(e, kMsg);
  ASSERT_TRUE(id);
  auto due = Due();
  ASSERT_EQ(due[0].recipients.size(), 3u);
  std::vector<Outcome> outs;
  for (auto& r : due[0].recipients) {
    Outcome o{r.id, OutcomeKind::kFailed, "5.1.1", "550 5.1.1 unknown", "mx",
              "", ""};
    if (r.address == "ok@example.net") o.kind = OutcomeKind::kDelivered;
    outs.push_back(o);
  }
  ASSERT_TRUE(spool_->Record(*id, outs));
  auto list = spool_->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  auto dsn = spool_->LoadData((*list)[0].id);
  EXPECT_NE(dsn->find("Final-Recipient: rfc822; b@example.net"),
            std::string::npos);
  EXPECT_EQ(dsn->find("never@example.net"), std::string::npos);
  EXPECT_EQ(dsn->find("Final-Recipient: rfc822; ok@example.net"),
            std::string::npos);
}

// RFC 3461 NOTIFY=SUCCESS: a delivery the next hop could not report
// ("relayed") or that ended in a local mailbox ("delivered") is reported
// to the sender, once, headers only; not without SUCCESS, nor when the next
// hop took the NOTIFY on itself (no success_action).
TEST_F(SpoolTest, SuccessReportedOnlyWhenAskedAndNotPassedOn) {
  Envelope e = Env("a@example.org", {});
  e.ret = Ret::kFull;
  e.recipients.push_back({"s1@example.net", kNotifySuccess, ""});
  e.recipients.push_back(
      {"s2@example.net", kNotifySuccess | kNotifyFailure, "rfc822;S2@x"});
  e.recipients.push_back({"dsn@example.net", kNotifySuccess, ""});
  e.recipients.push_back({"plain@example.net", kNotifyDefault, ""});
  auto id = spool_->Enqueue(e, kMsg);
  ASSERT_TRUE(id);
  auto due = Due();
  ASSERT_EQ(due[0].recipients.size(), 4u);
  std::vector<Outcome> outs;
  for (auto& r : due[0].recipients) {
    Outcome o{r.id, OutcomeKind::kDelivered, "2.0.0", "250 2.0.0 ok", "mx",
              "", "relayed"};
    if (r.address == "dsn@example.net") o.success_action = "";
    outs.push_back(o);
  }
  ASSERT_TRUE(spool_->Record(*id, outs));
  auto list = spool_->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);  // the original is done; one report
  EXPECT_EQ((*list)[0].mail_from, "");
  EXPECT_EQ((*list)[0].recipients[0].address, "a@example.org");
  auto dsn = spool_->LoadData((*list)[0].id);
  ASSERT_TRUE(dsn);
  EXPECT_NE(dsn->find("Subject: Successful Mail Delivery Report"),
            std::string::npos);
  EXPECT_NE(dsn->find("Final-Recipient: rfc822; s1@example.net\r\n"
                      "Action: relayed\r\nStatus: 2.0.0"),
            std::string::npos);
  EXPECT_NE(dsn->find("Original-Recipient: rfc822;S2@x\r\n"
                      "Final-Recipient: rfc822; s2@example.net"),
            std::string::npos);
  EXPECT_EQ(dsn->find("dsn@example.net"), std::string::npos);
  EXPECT_EQ(dsn->find("plain@example.net"), std::string::npos);
  // Headers only, although RET=FULL.
  EXPECT_NE(dsn->find("text/rfc822-headers"), std::string::npos);
  EXPECT_EQ(dsn->find("message/rfc822"), std::string::npos);
}

TEST_F(SpoolTest, NeverBounceABounce) {
  auto id = spool_->Enqueue(Env("", {"b@example.net"}), kMsg);
  ASSERT_TRUE(id);
  auto due = Due();
  ASSERT_TRUE(
      spool_->Record(*id, {{due[0].recipients[0].id, OutcomeKind::kFailed,
                            "5.1.1", "550 no", "", "", ""}}));
  auto list = spool_->List();
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST_F(SpoolTest, DelayWarningOnceWhenLate) {
  auto id = spool_->Enqueue(Env("a@example.org", {"b@example.net"}), kMsg);
  ASSERT_TRUE(id);
  auto due = Due();
  Outcome o{due[0].recipients[0].id,
            OutcomeKind::kDeferred,
            "4.0.0",
            "451 later",
            "",
            "",
            ""};
  ASSERT_TRUE(spool_->Record(*id, {o}));
  EXPECT_EQ(spool_->List()->size(), 1u);  // too early for a warning
  clock_.Advance(250);
  ASSERT_TRUE(spool_->Record(*id, {o}));
  auto list = spool_->List();
  ASSERT_EQ(list->size(), 2u);
  auto dsn = spool_->LoadData((*list)[1].id);
  EXPECT_NE(dsn->find("Action: delayed"), std::string::npos);
  clock_.Advance(250);
  ASSERT_TRUE(spool_->Record(*id, {o}));
  EXPECT_EQ(spool_->List()->size(), 2u);  // only once
}

TEST_F(SpoolTest, AdminRetryAndRemove) {
  auto id = spool_->Enqueue(Env("a@example.org", {"b@example.net"}), kMsg);
  ASSERT_TRUE(id);
  auto due = Due();
  ASSERT_TRUE(
      spool_->Record(*id, {{due[0].recipients[0].id, OutcomeKind::kDeferred,
                            "4.0.0", "451", "", "", ""}}));
  EXPECT_TRUE(Due().empty());
  auto n = spool_->Retry(*id);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(Due().size(), 1u);
  EXPECT_FALSE(spool_->Retry(9999));
  ASSERT_TRUE(spool_->Remove(*id));
  EXPECT_TRUE(spool_->List()->empty());
  auto gone = spool_->Remove(*id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace correio::queue
