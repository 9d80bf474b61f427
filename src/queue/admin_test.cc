#include "queue/admin.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "queue/spool.h"

namespace correio::queue {
namespace {

namespace fs = std::filesystem;

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_.data_dir = (fs::temp_directory_path() /
                     ("correio_qadmin_" + std::to_string(getpid())))
                        .string();
    fs::remove_all(cfg_.data_dir);
    fs::create_directories(cfg_.data_dir);
  }
  void TearDown() override { fs::remove_all(cfg_.data_dir); }
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunQueueCommand(cfg_, args, out_, err_, clock_);
  }
  config::Config cfg_;
  ManualClock clock_{1700000000};
  std::ostringstream out_, err_;
};

TEST_F(AdminTest, ListShowRetryDelete) {
  EXPECT_EQ(Run({"list"}), 0);
  EXPECT_EQ(out_.str(), "queue is empty\n");
  EXPECT_FALSE(fs::exists(QueuePath(cfg_)));
  uint64_t id;
  {
    auto spool = Spool::Open(QueuePath(cfg_), {}, clock_);
    ASSERT_TRUE(spool);
    Envelope e;
    e.mail_from = "a@example.org";
    e.recipients.push_back({"b@example.net", kNotifyDefault, ""});
    auto got = (*spool)->Enqueue(e, "Subject: x\r\n\r\n");
    ASSERT_TRUE(got);
    id = *got;
    auto due = (*spool)->Due(clock_.NowSeconds(), 10, {});
    ASSERT_TRUE((*spool)->Record(
        id, {{(*due)[0].recipients[0].id, OutcomeKind::kDeferred, "4.0.0",
              "451 4.7.1 greylisted", "mx.example.net", "", ""}}));
  }
  EXPECT_EQ(Run({"list"}), 0);
  EXPECT_NE(out_.str().find(std::to_string(id) + "  Tue, 14 Nov 2023"),
            std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("b@example.net  pending  attempts 1"),
            std::string::npos);
  EXPECT_NE(out_.str().find("last: 451 4.7.1 greylisted"), std::string::npos);
  EXPECT_EQ(Run({"show", std::to_string(id)}), 0);
  EXPECT_NE(out_.str().find("from a@example.org"), std::string::npos);
  EXPECT_EQ(Run({"show", "999"}), 1);
  EXPECT_EQ(Run({"retry", std::to_string(id)}), 0);
  EXPECT_EQ(out_.str(), "1 recipient(s) due now\n");
  EXPECT_EQ(Run({"retry", "--all"}), 0);
  EXPECT_EQ(Run({"flush"}), 0);
  EXPECT_EQ(Run({"retry"}), 2);
  EXPECT_EQ(Run({"delete", std::to_string(id)}), 0);
  EXPECT_EQ(Run({"delete", std::to_string(id)}), 1);
  EXPECT_EQ(Run({"list"}), 0);
  EXPECT_EQ(out_.str(), "queue is empty\n");
  EXPECT_EQ(Run({"bogus"}), 2);
  EXPECT_EQ(Run({}), 2);
}

}  // namespace
}  // namespace correio::queue
