#include "net/blocking.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <future>
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

// JobsAway() counts, on the awaiting thread, the jobs handed away and not
// yet resumed from; the server polls only when it is 0 (net/server.cc).
TEST(JobsAway, CountsAwaitedJobsOnTheAwaitingThread) {
  BlockingPool pool(2);
  boost::asio::io_context ctx;
  std::vector<int> seen;  // by a second coroutine while the first waits
  std::promise<void> looked;
  std::shared_future<void> looked_future = looked.get_future().share();
  std::function<void(int)> report;  // the callback job's outcome, held
  boost::asio::co_spawn(
      ctx,
      [&]() -> boost::asio::awaitable<void> {
        seen.push_back(JobsAway());
        auto wait_for_look = [looked_future] {
          looked_future.wait();
          return 7;
        };
        int got = co_await RunBlocking(pool, wait_for_look);
        seen.push_back(got);
        seen.push_back(JobsAway());
        auto start = [&](std::function<void(int)> done) {
          report = std::move(done);
        };
        got = co_await AwaitCallback<int>(start);
        seen.push_back(got);
        seen.push_back(JobsAway());
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  boost::asio::co_spawn(
      ctx,
      [&]() -> boost::asio::awaitable<void> {
        seen.push_back(JobsAway());  // the pool job is away
        looked.set_value();
        // Until the callback job is away too (its report is held here).
        while (!report)
          co_await boost::asio::post(ctx, boost::asio::use_awaitable);
        seen.push_back(JobsAway());
        report(8);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ctx.run();
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 7, 0, 1, 8, 0}));
  EXPECT_EQ(JobsAway(), 0);
}

}  // namespace
}  // namespace correio::net
