// The one awaitable entry for blocking work (STYLE 13): store calls, fsync,
// password hashing (and, at the end, AwaitCallback for the few store calls
// that do not block their caller). A coroutine on a network thread does
//
//   auto account = co_await RunBlocking(pool, [&] { return store.Get(...); });
//
// The function runs on the bounded BlockingPool; the coroutine resumes on its
// own executor afterwards, so session state stays single-threaded. The
// function must return a value (Result<T>, Status, ...), not void.
//
// Thread-safety: a BlockingPool may be used from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "base/thread_name.h"

namespace correio::net {

class BlockingPool {
 public:
  // `name` names the pool's threads (base/thread_name.h), as each first
  // runs a job; it must outlive the pool (a literal).
  explicit BlockingPool(size_t threads, const char* name = "blocking")
      : pool_(threads), name_(name) {}
  ~BlockingPool() { pool_.join(); }
  boost::asio::thread_pool& pool() { return pool_; }
  const char* name() const { return name_; }
  void Stop() {
    pool_.stop();
    pool_.join();
  }

 private:
  boost::asio::thread_pool pool_;
  const char* name_;
};

namespace internal {
// Names a pool thread once, at its first job.
inline void NamePoolThread(const char* name) {
  thread_local bool named = false;
  if (!named) {
    SetThreadName(name);
    named = true;
  }
}
// How many jobs coroutines on this thread have handed away (RunBlocking,
// AwaitCallback) and not yet resumed from. Both ends run on the caller's
// executor, so on a network thread it is that worker's count; the server
// reads it to decide whether to poll before sleeping (net/server.cc).
inline thread_local int jobs_away = 0;
}  // namespace internal

// Jobs this thread's coroutines await from other threads right now.
inline int JobsAway() { return internal::jobs_away; }

// GCC 12 destroys a temporary with a non-trivial destructor that appears
// inside a co_await expression twice (ASan: heap-use-after-free / bad-free).
// So a lambda that owns data (captures a std::string, a vector, ...) must be
// a named local passed as an lvalue:
//
//   auto work = [name = std::string(n)] { return store.Get(name); };
//   auto r = co_await RunBlocking(pool, work);
//
// Temporaries are accepted only when trivially destructible (captures by
// reference or pointer); anything else does not compile, so the bug cannot
// come back. RunBlocking itself is a plain function returning the awaitable.
template <class F>
auto RunBlockingImpl(BlockingPool& pool, F f) {
  using R = std::invoke_result_t<F>;
  static_assert(!std::is_void_v<R>, "RunBlocking needs a value-returning F");
  auto initiation = [&pool](auto handler, F fn) {
    auto ex = boost::asio::get_associated_executor(handler);
    // Keeps the caller's io_context running while the work is away.
    auto work = boost::asio::make_work_guard(ex);
    ++internal::jobs_away;
    boost::asio::post(
        pool.pool(), [handler = std::move(handler), fn = std::move(fn),
                      work = std::move(work), name = pool.name()]() mutable {
          internal::NamePoolThread(name);
          R result = fn();
          auto ex2 = work.get_executor();
          boost::asio::post(ex2, [handler = std::move(handler),
                                  result = std::move(result),
                                  work = std::move(work)]() mutable {
            --internal::jobs_away;
            std::move(handler)(std::move(result));
          });
        });
  };
  return boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                     void(R)>(
      std::move(initiation), boost::asio::use_awaitable, std::move(f));
}

template <class F>
auto RunBlocking(BlockingPool& pool, F& f) {
  return RunBlockingImpl(pool, f);  // copies the named function object
}

template <class F>
  requires(!std::is_lvalue_reference_v<F> &&
           std::is_trivially_destructible_v<std::remove_cvref_t<F>>)
auto RunBlocking(BlockingPool& pool, F&& f) {
  return RunBlockingImpl(pool, std::remove_cvref_t<F>(std::move(f)));
}

// Runs `fn` on the pool without waiting for it (fire and forget; the
// thread is named as for RunBlocking).
template <class F>
void PostBlocking(BlockingPool& pool, F fn) {
  boost::asio::post(pool.pool(), [fn = std::move(fn),
                                  name = pool.name()]() mutable {
    internal::NamePoolThread(name);
    fn();
  });
}

// Awaits an operation that reports through a callback, possibly from
// another thread (store::Store::DeliverToInboxesAsync reports from the
// store's writer):
//
//   auto start = [&](std::function<void(Status)> done) {
//     store.DeliverToInboxesAsync(..., std::move(done));
//   };
//   Status st = co_await AwaitCallback<Status>(start);
//
// `start` runs on the caller's thread and must see `done` called exactly
// once; the coroutine resumes on its own executor, which is kept running
// meanwhile. Unlike RunBlocking no thread waits for the outcome: a write
// costs the store's thread and this one, not a pool thread in between.
// `start` is a named local (GCC 12, as for RunBlocking).
template <class R, class Start>
auto AwaitCallback(Start& start) {
  auto initiation = [](auto handler, Start begin) {
    auto work =
        boost::asio::make_work_guard(boost::asio::get_associated_executor(
            handler));
    // std::function needs a copyable callable; the handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    ++internal::jobs_away;
    begin(std::function<void(R)>([shared, work](R result) mutable {
      auto ex = work.get_executor();
      boost::asio::post(ex, [shared, result = std::move(result),
                             work = std::move(work)]() mutable {
        --internal::jobs_away;
        std::move (*shared)(std::move(result));
      });
    }));
  };
  return boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                     void(R)>(
      std::move(initiation), boost::asio::use_awaitable, start);
}

}  // namespace correio::net
