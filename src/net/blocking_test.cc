#include "net/blocking.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <thread>
#include <vector>

namespace correio::net {
namespace {

// Function objects that own data are passed as named lvalues (GCC 12
// destroys such temporaries inside co_await twice; blocking.h refuses them
// at compile time). Reference-capturing temporaries are fine.
boost::asio::awaitable<size_t> UseTemporaries(BlockingPool& pool) {
  std::string long_text(1000, 'x');
  std::vector<std::string> list = {"a", std::string(200, 'b')};
  auto owning = [long_text, list] {
    return long_text.size() + list[1].size();
  };
  size_t n = co_await RunBlocking(pool, owning);
  std::string local(300, 'y');
  n += co_await RunBlocking(pool, [&local] {
    return std::this_thread::get_id() != std::thread::id() ? local.size() : 0;
  });
  co_return n;
}

TEST(RunBlocking, CapturedStringsSurviveAndResultComesBack) {
  BlockingPool pool(2);
  boost::asio::io_context ctx;
  size_t result = 0;
  auto main_thread = std::this_thread::get_id();
  std::thread::id resumed_on;
  boost::asio::co_spawn(
      ctx,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < 50; ++i) result += co_await UseTemporaries(pool);
        resumed_on = std::this_thread::get_id();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ctx.run();
  EXPECT_EQ(result, 50u * 1500u);
  // The coroutine resumes on its own executor, not on a pool thread.
  EXPECT_EQ(resumed_on, main_thread);
}

// A callback from another thread (as the store's writer reports) resumes
// the coroutine on its own executor with the value, and the io_context
// keeps running while nothing else holds it.
TEST(AwaitCallback, ReportFromAnotherThreadResumesOnTheExecutor) {
  BlockingPool pool(2);
  boost::asio::io_context ctx;
  auto main_thread = std::this_thread::get_id();
  std::vector<std::thread::id> reported_on, resumed_on;
  std::vector<std::string> got;
  boost::asio::co_spawn(
      ctx,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < 20; ++i) {
          auto start = [&, i](std::function<void(std::string)> done) {
            PostBlocking(pool, [&, i, done] {
              reported_on.push_back(std::this_thread::get_id());
              done("report " + std::to_string(i));
            });
          };
          got.push_back(co_await AwaitCallback<std::string>(start));
          resumed_on.push_back(std::this_thread::get_id());
        }
        // Reported inline, before the coroutine has even suspended.
        auto inline_start = [](std::function<void(std::string)> done) {
          done("inline");
        };
        got.push_back(co_await AwaitCallback<std::string>(inline_start));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ctx.run();  // returns only once the coroutine is done
  ASSERT_EQ(got.size(), 21u);
  EXPECT_EQ(got[0], "report 0");
  EXPECT_EQ(got[19], "report 19");
  EXPECT_EQ(got[20], "inline");
  for (auto id : reported_on) EXPECT_NE(id, main_thread);
  for (auto id : resumed_on) EXPECT_EQ(id, main_thread);
}

}  // namespace
}  // namespace correio::net
