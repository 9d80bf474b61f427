// Outbound: the queue that delivers (ARCHITECTURE "Outbound mail").
//
// Owns the spool (spool.h) and a scheduler running on its own io_context
// thread. The scheduler picks due recipients, groups them by domain, and
// runs one delivery job per connection, at most queue.max_per_destination
// at a time per domain:
//   route: queue.routes[domain], else queue.smarthost (with AUTH PLAIN
//   over TLS when credentials are set), else the domain's MX hosts by
//   preference (dns/, implicit MX, null MX bounces), on queue.mx_port;
//   session: smtp/client with opportunistic STARTTLS and several messages
//   per connection; REQUIRETLS (RFC 8689) and SMTPUTF8 (RFC 6531) are hard
//   requirements checked per message;
//   results: 2xx delivered, 4xx and connection trouble deferred (retry
//   schedule), 5xx failed (DSN to the sender, spool.h).
// Mail for a domain of our own store (bounces to local senders, alias
// forwarding) is delivered locally through mail::DeliverToInboxes.
//
// Blocking work (spool, DNS, store) runs on the shared net::BlockingPool.
//
// Thread-safety: Enqueue() from any thread. Start()/Stop() from the owner.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "dns/resolver.h"
#include "net/blocking.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "smtp/client/client.h"
#include "store/store.h"

namespace correio::queue {

struct OutboundOptions {
  std::string hostname = "localhost";  // EHLO name, Reporting-MTA
  config::Queue queue;
  dns::ResolverOptions dns;
  smtp::client::ClientTimeouts timeouts;
  // How often the spool is looked at even when nothing woke the scheduler
  // (changes made by `correio queue retry` in another process).
  std::chrono::milliseconds poll_interval{std::chrono::seconds(5)};
  size_t scan_limit = 1000;  // recipients per scan
  size_t max_messages_per_connection = 100;
  std::string tls_ca_file;  // "" = system CAs (REQUIRETLS verification)
};

// Builds OutboundOptions from the server config.
OutboundOptions OptionsFromConfig(const config::Config& cfg,
                                  const std::string& hostname);

class Outbound : public Queue {
 public:
  // Opens <path> (the spool). `store` receives local deliveries; `pool`
  // runs blocking work. Both must outlive the Outbound.
  static Result<std::unique_ptr<Outbound>> Open(
      const std::string& path, OutboundOptions options, store::Store* store,
      net::BlockingPool* pool, const Clock& clock = SystemClock());
  ~Outbound() override;

  Status ReportDelivered(const Envelope& envelope, std::string_view message,
                         std::string_view action) override;
  Result<uint64_t> Enqueue(const Envelope& envelope,
                           std::string_view data) override;

  // Starts the scheduler thread.
  void Start();
  // Stops scheduling, closes open connections, waits up to `grace` for
  // jobs to wind down. Unfinished deliveries are simply due again at the
  // next start (nothing in flight is recorded on disk).
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Makes the scheduler look at the spool now.
  void Wake();

  Spool& spool() { return *spool_; }

 private:
  struct Target {
    std::string host;  // name for SNI / certificate check, or IP literal
    uint16_t port = 25;
  };
  Outbound(std::unique_ptr<Spool> spool, OutboundOptions options,
           store::Store* store, net::BlockingPool* pool, const Clock& clock);

  boost::asio::awaitable<void> Loop();
  void Dispatch(std::vector<WorkMessage> due);
  boost::asio::awaitable<void> DeliverDomain(std::string domain,
                                             std::vector<WorkMessage> batch);
  boost::asio::awaitable<void> DeliverLocal(WorkMessage message);
  boost::asio::awaitable<void> RecordOutcomes(uint64_t message_id,
                                              std::vector<Outcome> outcomes);
  // Records the same outcome for every recipient of `msgs`.
  boost::asio::awaitable<void> FinishAll(std::vector<WorkMessage> msgs,
                                         Outcome proto);
  void JobDone(const std::string& domain,
               const std::vector<WorkMessage>& batch);

  std::unique_ptr<Spool> spool_;
  std::atomic<uint64_t> report_counter_{0};  // unique ReportDelivered ids
  OutboundOptions options_;
  store::Store* store_;
  net::BlockingPool* pool_;
  const Clock& clock_;
  dns::Resolver resolver_;
  std::shared_ptr<boost::asio::ssl::context> tls_;

  boost::asio::io_context io_;
  boost::asio::steady_timer timer_;
  std::thread thread_;
  // io_ thread only:
  bool stopping_ = false;
  bool wake_pending_ = false;
  std::set<uint64_t> busy_;                 // recipient ids being delivered
  std::map<std::string, uint32_t> active_;  // jobs per domain
  size_t jobs_ = 0;
  std::set<smtp::client::Client*> clients_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool finished_ = false;
  bool started_ = false;
};

}  // namespace correio::queue
