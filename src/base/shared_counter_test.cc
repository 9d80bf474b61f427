#include "base/shared_counter.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "base/temp_dir.h"

namespace correio {
namespace {

class SharedCounterTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  TempDir tmp_{"correio-counter"};
  const std::string& dir_ = tmp_.path();
  const std::string path_ = dir_ + "/counter";
};

TEST_F(SharedCounterTest, StartsAtZeroAndKeepsItsValueInTheFile) {
  {
    auto c = SharedCounter::Open(path_);
    ASSERT_TRUE(c.has_value()) << c.error().ToString();
    EXPECT_EQ((*c)->Load(), 0u);
    (*c)->Increment();
    (*c)->Increment();
    EXPECT_EQ((*c)->Load(), 2u);
  }
  auto again = SharedCounter::Open(path_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->Load(), 2u);
}

TEST_F(SharedCounterTest, AnotherProcessSeesEveryIncrement) {
  auto mine = SharedCounter::Open(path_);
  ASSERT_TRUE(mine.has_value());
  constexpr int kEach = 10000;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto theirs = SharedCounter::Open(path_);
    if (!theirs) _exit(1);
    for (int i = 0; i < kEach; ++i) (*theirs)->Increment();
    _exit(0);
  }
  for (int i = 0; i < kEach; ++i) (*mine)->Increment();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Atomic across processes: no increment is lost.
  EXPECT_EQ((*mine)->Load(), uint64_t{2 * kEach});
}

TEST_F(SharedCounterTest, FailsClearlyWhereNoFileCanBe) {
  auto c = SharedCounter::Open(dir_ + "/missing/counter");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("missing/counter"), std::string::npos);
}

}  // namespace
}  // namespace correio
