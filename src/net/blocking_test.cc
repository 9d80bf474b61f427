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

}  // namespace
}  // namespace correio::net
