#include "net/server.h"

#include <csignal>

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <condition_variable>
#include <set>

#include "base/thread_name.h"
#include "net/blocking.h"

namespace correio::net {

namespace asio = boost::asio;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Server::Worker {
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{
      ctx.get_executor()};
  // Live connections on this worker; touched only on its thread.
  std::set<std::shared_ptr<Connection>> live;

  // Runs handlers until the context stops. With `idle_poll`, a worker that
  // runs out of ready handlers may first poll (epoll_wait with no timeout)
  // for up to that long before it sleeps in epoll_wait.
  //
  // Why: a client that sends one command at a time (POP3 RETR/DELE, the
  // SMTP dialogue, a webmail on the same host) has its next command here
  // tens of microseconds after our reply. Sleeping in between costs a
  // thread wake-up per command, and where the core then idles, the
  // wake-up of the core too. On the 2-core VM of bench/ (guest halt
  // polling off) polling took a POP3 download from 155-192 to 98-110 us
  // per message. Seastar polls the same way (--idle-poll-time-us). Here
  // polling is bounded and only taken where it pays:
  // - not while a session of this worker awaits a job on another thread
  //   (JobsAway(): a store write, a pool read): the thread we wait for
  //   needs the core more;
  // - a poll that finds nothing backs off: the worker sleeps through the
  //   next 1, 2, 4 ... up to kMaxBackoff idle periods before it polls
  //   again, and a poll that finds work resets that. Distant clients and
  //   busy mixes (SMTP at 10 sessions: 0 hits in 40 polls) are left
  //   alone; one-command-at-a-time clients near by keep it (POP3: 97% of
  //   polls find the next command, in 38 us on average);
  // - an idle server uses no CPU: polling only follows work.
  // bench/README.md (eighth session) has the measurements.
  static constexpr int kMaxBackoff = 64;
  void Run(std::chrono::microseconds idle_poll) {
    if (idle_poll.count() == 0) {
      ctx.run();
      return;
    }
    int backoff = 0;  // idle periods to skip after the next empty poll
    int skip = 0;     // idle periods still to skip
    while (!ctx.stopped()) {
      if (JobsAway() > 0) {
        // No polling now, so no need to learn first whether anything is
        // ready (that would cost an epoll_wait): run as ctx.run() does.
        ctx.run_one();
        continue;
      }
      if (ctx.poll() > 0) continue;
      // Nothing ran, so JobsAway() is still 0: this is an idle period.
      if (skip > 0) {
        --skip;
      } else if (PollFor(idle_poll)) {
        backoff = 0;
        continue;
      } else {
        backoff = backoff == 0 ? 1 : std::min(2 * backoff, kMaxBackoff);
        skip = backoff;
      }
      ctx.run_one();  // sleeps until a handler is ready, runs it
    }
  }

  // Polls until a handler has run (true) or `budget` has passed.
  bool PollFor(std::chrono::microseconds budget) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + budget;
    do {
      if (ctx.poll() > 0) return true;
    } while (!ctx.stopped() && Clock::now() < until);
    return false;
  }
};

struct Server::Acceptor {
  ListenOptions options;
  Worker& home;  // the worker whose thread runs this accept loop
  tcp::acceptor acceptor;
  explicit Acceptor(Worker& w) : home(w), acceptor(w.ctx) {}
};

Server::Server(size_t workers, ServerLimits limits,
               std::shared_ptr<TlsContext> tls)
    : limits_(limits), tls_(std::move(tls)) {
  // OpenSSL writes to the socket itself (net/connection.h), without
  // MSG_NOSIGNAL: a peer that went away must give EPIPE, not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  if (workers == 0) workers = 1;
  for (size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
}

Server::~Server() {
  Shutdown(std::chrono::milliseconds(0));
  Wait();
}

Result<uint16_t> Server::Listen(ListenOptions options) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(options.address, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalid, "bad listen address " + options.address);
  }
  // Listeners take turns as to which worker accepts for them.
  auto acc = std::make_unique<Acceptor>(
      *workers_[acceptors_.size() % workers_.size()]);
  tcp::endpoint ep(addr, options.port);
  acc->acceptor.open(ep.protocol(), ec);
  if (!ec) acc->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc->acceptor.bind(ep, ec);
  if (!ec) acc->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kPerm, "cannot listen on " + options.address + ":" +
                                      std::to_string(options.port) + " (" +
                                      options.name + "): " + ec.message());
  }
  if (options.implicit_tls && !tls_) {
    return Fail(ErrorCode::kInvalid, "implicit TLS listener without TLS");
  }
  uint16_t port = acc->acceptor.local_endpoint().port();
  acc->options = std::move(options);
  acceptors_.push_back(std::move(acc));
  return port;
}

void Server::Start() {
  std::lock_guard lock(stop_mu_);
  if (started_) return;
  started_ = true;
  for (auto& a : acceptors_) {
    asio::co_spawn(a->home.ctx, AcceptLoop(a.get()), asio::detached);
  }
  for (auto& w : workers_) {
    threads_.emplace_back([w = w.get(), idle_poll = limits_.idle_poll] {
      SetThreadName("io");
      for (;;) {
        try {
          w->Run(idle_poll);
          break;
        } catch (const std::exception& e) {
          // A session bug must not take the server down; log and go on.
          spdlog::error("worker: uncaught exception: {}", e.what());
        }
      }
    });
  }
}

bool Server::Admit(const std::string& ip) {
  std::lock_guard lock(ip_mu_);
  if (total_.load() >= limits_.max_connections) return false;
  uint32_t& n = per_ip_[ip];
  if (n >= limits_.max_connections_per_ip) {
    if (n == 0) per_ip_.erase(ip);
    return false;
  }
  ++n;
  ++total_;
  return true;
}

void Server::Release(const std::string& ip) {
  std::lock_guard lock(ip_mu_);
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  --total_;
}

awaitable<void> Server::AcceptLoop(Acceptor* a) {
  for (;;) {
    Worker& w = *workers_[next_worker_++ % workers_.size()];
    auto [ec, socket] = co_await a->acceptor.async_accept(w.ctx, kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !a->acceptor.is_open()) {
        co_return;
      }
      // EMFILE and friends: back off a little instead of spinning.
      spdlog::warn("{}: accept failed: {}", a->options.name, ec.message());
      asio::steady_timer t(a->home.ctx, std::chrono::milliseconds(100));
      co_await t.async_wait(kTuple);
      continue;
    }
    boost::system::error_code ep_ec;
    auto remote = socket.remote_endpoint(ep_ec);
    if (ep_ec) continue;
    std::string ip = Connection::IpText(remote);
    uint64_t id = next_id_++;
    if (!Admit(ip)) {
      spdlog::warn("{}#{} {} refused: connection limit", a->options.name, id,
                   ip);
      // Best effort, non-blocking: the refusal fits in the socket buffer.
      socket.non_blocking(true, ep_ec);
      if (!a->options.refusal.empty() && !a->options.implicit_tls) {
        socket.write_some(asio::buffer(a->options.refusal), ep_ec);
      }
      socket.close(ep_ec);
      continue;
    }
    auto conn =
        std::make_shared<Connection>(std::move(socket), id, a->options.name,
                                     remote);
    conn->SetAlpn(&a->options.alpn);
    auto start = [this, &w, conn, a, ip]() {
      w.live.insert(conn);
      asio::co_spawn(w.ctx, RunSession(conn, a, ip),
                     [this, &w, conn, ip](std::exception_ptr e) {
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& ex) {
                           spdlog::error("{}#{} session failed: {}",
                                         conn->listener_name(), conn->id(),
                                         ex.what());
                         }
                       }
                       conn->Close();
                       w.live.erase(conn);
                       Release(ip);
                     });
    };
    // A connection for this thread starts here; one for another worker is
    // handed over (one thread wake-up more).
    if (&w == &a->home) {
      start();
    } else {
      asio::post(w.ctx, std::move(start));
    }
  }
}

awaitable<void> Server::RunSession(std::shared_ptr<Connection> conn,
                                   Acceptor* a, std::string ip) {
  spdlog::info("{}#{} connect from {}:{}", a->options.name, conn->id(), ip,
               conn->remote_port());
  if (a->options.implicit_tls) {
    conn->SetTimeout(limits_.handshake_timeout);
    auto st = co_await conn->StartTls(tls_->Current());
    if (!st) {
      spdlog::info("{}#{} {}", a->options.name, conn->id(),
                   st.error().message());
      co_return;
    }
  }
  co_await a->options.handler(conn);
  spdlog::info("{}#{} disconnect", a->options.name, conn->id());
}

void Server::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // 1. Stop accepting, each acceptor on its own thread.
  std::mutex mu;
  std::condition_variable cv;
  size_t closed = 0;
  for (auto& a : acceptors_) {
    asio::post(a->home.ctx, [&, a = a.get()] {
      boost::system::error_code ec;
      a->acceptor.close(ec);
      std::lock_guard l(mu);
      ++closed;
      cv.notify_all();
    });
  }
  if (started_) {
    std::unique_lock l(mu);
    cv.wait_for(l, std::chrono::seconds(5),
                [&] { return closed == acceptors_.size(); });
  }
  // 2. Tell every session to finish.
  for (auto& w : workers_) {
    asio::post(w->ctx, [w = w.get()] {
      for (auto& c : w->live) c->RequestStop();
    });
  }
  // 3. Wait for them, up to the grace period.
  auto until = std::chrono::steady_clock::now() + grace;
  while (total_.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // 4. Close what is left and stop.
  for (auto& w : workers_) {
    asio::post(w->ctx, [w = w.get()] {
      for (auto& c : w->live) c->Close();
      w->guard.reset();
    });
  }
  if (!started_) {
    for (auto& w : workers_) w->ctx.stop();
  }
}

void Server::Wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace correio::net
