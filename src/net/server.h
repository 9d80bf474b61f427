// Server: listeners, worker threads, per-IP limits and ordered shutdown.
//
// One io_context per worker thread (STYLE 12). Each listener's accept loop
// runs on one worker (listeners take turns); each accepted connection goes
// to a worker round-robin and lives there for life. There is no accept
// thread: it cost a thread wake-up per connection, and so did the hand-over
// it needed for every connection (bench/README.md, seventh session). Implicit-TLS
// listeners finish the handshake before the session handler runs. A worker
// out of work may poll briefly before it sleeps (ServerLimits::idle_poll).
//
// Shutdown (STYLE 16): stop accepting, RequestStop() every connection (the
// session says BYE/421 and returns), wait up to the grace period, then
// close what is left and stop the workers.
//
// Thread-safety: Listen() before Start(); Shutdown() from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "net/connection.h"
#include "net/tls.h"

namespace correio::net {

using SessionHandler =
    std::function<awaitable<void>(std::shared_ptr<Connection>)>;

struct ListenOptions {
  std::string name;        // "imap", "smtp", ... for logs
  std::string address;     // "127.0.0.1", "::", "0.0.0.0"
  uint16_t port = 0;       // 0: any free port
  bool implicit_tls = false;
  // ALPN protocol id (RFC 7301) TLS handshakes must accept, implicit and
  // STARTTLS alike: "imap", "pop3", "smtp"; empty: ALPN not checked
  // (net/tls.h).
  std::string alpn;
  // Sent, then the connection is closed, when a connection limit is hit.
  std::string refusal;     // e.g. "421 4.7.0 Too many connections\r\n"
  SessionHandler handler;
};

struct ServerLimits {
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_ip = 50;
  std::chrono::seconds handshake_timeout{30};
  // How long a worker with nothing to do polls its sockets before it
  // sleeps (see Worker::Run in server.cc). 0: it sleeps at once.
  std::chrono::microseconds idle_poll{0};
};

class Server {
 public:
  Server(size_t workers, ServerLimits limits,
         std::shared_ptr<TlsContext> tls);
  ~Server();

  // Binds now (so a root process can bind low ports before dropping
  // privileges). Returns the bound port.
  Result<uint16_t> Listen(ListenOptions options);
  // Starts the worker threads and accept loops.
  void Start();
  // Ordered shutdown; returns when every worker has stopped.
  void Shutdown(std::chrono::milliseconds grace);
  // Blocks until Shutdown() has finished.
  void Wait();

  size_t connection_count() const { return total_.load(); }
  const std::shared_ptr<TlsContext>& tls() const { return tls_; }

 private:
  struct Worker;
  struct Acceptor;
  awaitable<void> AcceptLoop(Acceptor* acceptor);
  awaitable<void> RunSession(std::shared_ptr<Connection> conn,
                             Acceptor* acceptor, std::string ip);
  bool Admit(const std::string& ip);
  void Release(const std::string& ip);

  ServerLimits limits_;
  std::shared_ptr<TlsContext> tls_;
  // Declared before acceptors_ so they are destroyed after them: an
  // acceptor (and a pending accept's socket) is bound to a worker's
  // io_context.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_worker_{0};
  std::atomic<uint64_t> next_id_{1};
  std::atomic<size_t> total_{0};
  std::mutex ip_mu_;
  std::map<std::string, uint32_t> per_ip_;
  std::mutex stop_mu_;
  bool stopped_ = false;
  bool started_ = false;
};

}  // namespace correio::net
