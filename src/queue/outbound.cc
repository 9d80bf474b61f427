#include "queue/outbound.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>

#include "base/strings.h"
#include "base/thread_name.h"
#include "mail/deliver.h"
#include "queue/dsn.h"

namespace correio::queue {

namespace asio = boost::asio;
using asio::awaitable;
using smtp::client::Client;
using smtp::client::Reply;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// "host:port" / "[v6]:port" as the config validated it.
bool SplitTarget(const std::string& s, std::string* host, uint16_t* port) {
  std::string h, p;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() ||
        s[close + 1] != ':') {
      return false;
    }
    h = s.substr(1, close - 1);
    p = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  auto n = ParseUint64(p);
  if (!n || *n == 0 || *n > 65535) return false;
  *host = h;
  *port = static_cast<uint16_t>(*n);
  return true;
}

std::string RetParam(Ret r) {
  switch (r) {
    case Ret::kFull:
      return "FULL";
    case Ret::kHeaders:
      return "HDRS";
    case Ret::kDefault:
      return "";
  }
  return "";
}

std::string NotifyParam(uint8_t n) {
  if (n == kNotifyDefault) return "";
  if (n & kNotifyNever) return "NEVER";
  std::string out;
  auto add = [&](const char* w) {
    if (!out.empty()) out += ",";
    out += w;
  };
  if (n & kNotifySuccess) add("SUCCESS");
  if (n & kNotifyFailure) add("FAILURE");
  if (n & kNotifyDelay) add("DELAY");
  return out;
}

// A reply to one recipient, as the spool records it.
Outcome FromReply(uint64_t rid, const Reply& r, const std::string& mta) {
  Outcome o;
  o.recipient_id = rid;
  o.kind = r.positive()    ? OutcomeKind::kDelivered
           : r.permanent() ? OutcomeKind::kFailed
                           : OutcomeKind::kDeferred;
  o.status = !r.enhanced.empty() ? r.enhanced
             : r.positive()      ? "2.0.0"
             : r.permanent()     ? "5.0.0"
                                 : "4.0.0";
  o.diagnostic = r.ToString();
  o.remote_mta = mta;
  return o;
}

Outcome Proto(OutcomeKind kind, std::string status, std::string explanation,
              std::string diagnostic = {}, std::string remote_mta = {}) {
  Outcome o;
  o.kind = kind;
  o.status = std::move(status);
  o.explanation = std::move(explanation);
  o.diagnostic = std::move(diagnostic);
  o.remote_mta = std::move(remote_mta);
  return o;
}

}  // namespace

OutboundOptions OptionsFromConfig(const config::Config& cfg,
                                  const std::string& hostname) {
  OutboundOptions o;
  o.hostname = hostname;
  o.queue = cfg.queue;
  o.dns.servers = cfg.dns.servers;
  return o;
}

Result<std::unique_ptr<Outbound>> Outbound::Open(const std::string& path,
                                                 OutboundOptions options,
                                                 store::Store* store,
                                                 net::BlockingPool* pool,
                                                 const Clock& clock) {
  SpoolOptions so;
  so.retry_schedule = options.queue.retry_schedule;
  so.max_age_seconds = options.queue.max_age_seconds;
  so.delay_warning_seconds = options.queue.delay_warning_seconds;
  so.hostname = options.hostname;
  auto spool = Spool::Open(path, so, clock);
  if (!spool) return Fail(spool.error());
  std::unique_ptr<Outbound> out(
      new Outbound(std::move(*spool), std::move(options), store, pool, clock));
  auto tls =
      smtp::client::MakeClientTlsContext(false, out->options_.tls_ca_file);
  if (!tls) return Fail(tls.error());
  out->tls_ = *tls;
  return out;
}

Outbound::Outbound(std::unique_ptr<Spool> spool, OutboundOptions options,
                   store::Store* store, net::BlockingPool* pool,
                   const Clock& clock)
    : spool_(std::move(spool)),
      options_(std::move(options)),
      store_(store),
      pool_(pool),
      clock_(clock),
      resolver_(options_.dns),
      timer_(io_) {}

Outbound::~Outbound() { Stop(); }

Result<uint64_t> Outbound::Enqueue(const Envelope& envelope,
                                   std::string_view data) {
  auto id = spool_->Enqueue(envelope, data);
  if (id) Wake();
  return id;
}

Status Outbound::ReportDelivered(const Envelope& envelope,
                                 std::string_view message,
                                 std::string_view action) {
  if (envelope.mail_from.empty() || envelope.recipients.empty()) return {};
  DsnInput in;
  in.reporting_mta = options_.hostname;
  in.original_sender = envelope.mail_from;
  in.envid = envelope.envid;
  in.ret = envelope.ret;
  in.smtputf8 = envelope.smtputf8;
  in.now = clock_.NowSeconds();
  in.arrival = in.now;
  in.original = message;
  in.unique = fmt::format("l{}.{}", in.now, report_counter_.fetch_add(1));
  for (const auto& r : envelope.recipients) {
    DsnRecipient d;
    d.address = r.address;
    d.orcpt = r.orcpt;
    d.action = std::string(action);
    d.status = "2.0.0";
    d.explanation = action == "expanded" ? "alias expanded and delivered"
                                         : "delivered to mailbox";
    d.last_attempt = in.now;
    in.recipients.push_back(std::move(d));
  }
  auto id = Enqueue(DsnEnvelope(envelope.mail_from, envelope.smtputf8),
                    BuildDsn(in));
  if (!id) return Fail(id.error());
  return {};
}

void Outbound::Wake() {
  asio::post(io_, [this] {
    wake_pending_ = true;
    timer_.cancel();
  });
}

void Outbound::Start() {
  if (started_) return;
  started_ = true;
  asio::co_spawn(io_, Loop(), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("queue: scheduler failed: {}", ex.what());
      }
    }
  });
  thread_ = std::thread([this] {
    SetThreadName("outbound");
    io_.run();
    std::lock_guard lock(done_mu_);
    finished_ = true;
    done_cv_.notify_all();
  });
}

void Outbound::Stop(std::chrono::milliseconds grace) {
  if (!started_ || !thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    timer_.cancel();
    // Broken connections fail their pending operation at once; the job
    // records the message as deferred and ends.
    for (auto* c : clients_) c->Close();
  });
  {
    std::unique_lock lock(done_mu_);
    if (!done_cv_.wait_for(lock, grace, [this] { return finished_; })) {
      spdlog::warn("queue: jobs still running after {} ms; abandoning them",
                   grace.count());
      io_.stop();
    }
  }
  thread_.join();
}

awaitable<void> Outbound::Loop() {
  while (!stopping_) {
    int64_t now = clock_.NowSeconds();
    std::set<uint64_t> busy = busy_;
    size_t limit = options_.scan_limit;
    auto due = co_await net::RunBlocking(
        *pool_, [&] { return spool_->Due(now, limit, busy); });
    if (stopping_) break;
    if (!due) {
      spdlog::error("queue: scan failed: {}", due.error().message());
    } else if (!due->empty()) {
      Dispatch(std::move(*due));
    }
    busy = busy_;
    auto next = co_await net::RunBlocking(
        *pool_, [&] { return spool_->NextDue(busy); });
    if (stopping_) break;
    auto wait = options_.poll_interval;
    if (next && *next) {
      int64_t delta = **next - clock_.NowSeconds();
      // Due now but not dispatched (domain at its connection cap): the
      // finishing job wakes us.
      if (delta > 0) {
        wait = std::min<std::chrono::milliseconds>(wait,
                                                   std::chrono::seconds(delta));
      }
    }
    if (wake_pending_) {
      wake_pending_ = false;
      continue;
    }
    timer_.expires_after(wait);
    co_await timer_.async_wait(kTuple);
    wake_pending_ = false;
  }
}

void Outbound::Dispatch(std::vector<WorkMessage> due) {
  // Split messages by recipient domain: one delivery job serves one domain.
  std::map<std::string, std::vector<WorkMessage>> by_domain;
  for (auto& m : due) {
    std::map<std::string, WorkMessage> parts;
    for (auto& r : m.recipients) {
      auto [it, fresh] = parts.try_emplace(r.domain);
      if (fresh) {
        it->second.id = m.id;
        it->second.envelope = m.envelope;
        it->second.created = m.created;
        it->second.size = m.size;
      }
      it->second.recipients.push_back(r);
    }
    for (auto& [domain, part] : parts) {
      by_domain[domain].push_back(std::move(part));
    }
  }
  uint32_t cap = std::max<uint32_t>(1, options_.queue.max_per_destination);
  for (auto& [domain, msgs] : by_domain) {
    size_t next = 0;
    while (next < msgs.size() && active_[domain] < cap) {
      // Spread what is due over the free connection slots.
      size_t slots = cap - active_[domain];
      size_t left = msgs.size() - next;
      size_t take = std::min(options_.max_messages_per_connection,
                             (left + slots - 1) / slots);
      std::vector<WorkMessage> batch(
          std::make_move_iterator(msgs.begin() + next),
          std::make_move_iterator(msgs.begin() + next + take));
      next += take;
      for (auto& m : batch) {
        for (auto& r : m.recipients) busy_.insert(r.id);
      }
      ++active_[domain];
      ++jobs_;
      auto keep = std::make_shared<std::vector<WorkMessage>>(batch);
      asio::co_spawn(io_, DeliverDomain(domain, std::move(batch)),
                     [this, domain, keep](std::exception_ptr e) {
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& ex) {
                           spdlog::error("queue: delivery to {} failed: {}",
                                         domain, ex.what());
                         }
                       }
                       JobDone(domain, *keep);
                     });
    }
  }
}

void Outbound::JobDone(const std::string& domain,
                       const std::vector<WorkMessage>& batch) {
  for (auto& m : batch) {
    for (auto& r : m.recipients) busy_.erase(r.id);
  }
  if (--active_[domain] == 0) active_.erase(domain);
  --jobs_;
  wake_pending_ = true;
  timer_.cancel();
}

awaitable<void> Outbound::RecordOutcomes(uint64_t message_id,
                                         std::vector<Outcome> outcomes) {
  for (const auto& o : outcomes) {
    spdlog::info("queue: {} recipient {} {}: {}{}", message_id, o.recipient_id,
                 o.kind == OutcomeKind::kDelivered  ? "delivered"
                 : o.kind == OutcomeKind::kDeferred ? "deferred"
                                                    : "failed",
                 o.diagnostic.empty() ? o.explanation : o.diagnostic,
                 o.remote_mta.empty() ? "" : " (" + o.remote_mta + ")");
  }
  // By reference: see the GCC 12 note in DeliverDomain.
  auto st = co_await net::RunBlocking(
      *pool_, [&] { return spool_->Record(message_id, outcomes); });
  if (!st) {
    // The recipients stay pending and are tried again: at-least-once.
    spdlog::error("queue: recording results of {} failed: {}", message_id,
                  st.error().message());
  }
}

awaitable<void> Outbound::FinishAll(std::vector<WorkMessage> msgs,
                                    Outcome proto) {
  for (const auto& m : msgs) {
    std::vector<Outcome> outs;
    for (const auto& r : m.recipients) {
      Outcome o = proto;
      o.recipient_id = r.id;
      outs.push_back(std::move(o));
    }
    co_await RecordOutcomes(m.id, std::move(outs));
  }
}

awaitable<void> Outbound::DeliverLocal(WorkMessage message) {
  store::Store* store = store_;
  Spool* spool = spool_.get();
  Spool* queue = spool_.get();
  int64_t now = clock_.NowSeconds();
  // By reference: see the GCC 12 note in DeliverDomain.
  auto outcomes =
      co_await net::RunBlocking(*pool_, [&]() -> Result<std::vector<Outcome>> {
        auto data = spool->LoadData(message.id);
        if (!data) return Fail(data.error());
        std::vector<Outcome> outs;
        auto blob = mail::PrepareBlob(
            mail::ReturnPathHeader(message.envelope.mail_from) + *data);
        for (const auto& r : message.recipients) {
          Outcome o;
          o.recipient_id = r.id;
          o.remote_mta = "";
          auto res = mail::ResolveRecipient(*store, r.address);
          if (!res) {
            if (res.error().code() == ErrorCode::kNotFound) {
              o.kind = OutcomeKind::kFailed;
              o.status = "5.1.1";
              o.explanation = "no such local user";
            } else {
              o.kind = OutcomeKind::kDeferred;
              o.status = "4.3.0";
              o.explanation = "local lookup failed";
            }
            outs.push_back(o);
            continue;
          }
          const char* success =
              SuccessAction(res->local.size(), res->remote.size());
          std::vector<store::AccountId> ids;
          for (auto& a : res->local) ids.push_back(a.id);
          Status delivered;
          if (!ids.empty()) {
            if (!blob) {
              delivered = Fail(blob.error());
            } else {
              auto d = mail::DeliverToInboxes(*store, *blob, ids, now);
              if (!d) delivered = Fail(d.error());
            }
          }
          if (delivered && !res->remote.empty()) {
            // An alias forwarding outside: queue a copy for the targets,
            // with the address the sender used (RFC 3461 4.2 ORCPT). After
            // the local delivery, so that a local part deferred (over
            // quota, disk full) is retried without queueing the forwarded
            // copy a second time. (The opposite case, the local part in
            // and this enqueue failing, delivers locally twice on retry;
            // the two files share no transaction.)
            Envelope fwd = message.envelope;
            fwd.recipients.clear();
            for (auto& t : res->remote) {
              fwd.recipients.push_back(
                  ForwardedRecipient(t, r.notify, r.orcpt, r.address,
                                     res->local.size(), res->remote.size()));
            }
            if (auto id = queue->Enqueue(fwd, *data); !id) {
              delivered = Fail(id.error());
            }
          }
          if (delivered) {
            o.kind = OutcomeKind::kDelivered;
            o.status = "2.0.0";
            o.explanation = res->local.empty() ? "forwarded"
                                               : "delivered to mailbox";
            o.success_action = success;
          } else if (delivered.error().code() == ErrorCode::kOverQuota) {
            o.kind = OutcomeKind::kDeferred;
            o.status = "4.2.2";
            o.explanation = "mailbox full";
          } else if (delivered.error().code() == ErrorCode::kTooBig) {
            o.kind = OutcomeKind::kFailed;
            o.status = "5.3.4";
            o.explanation = "message too big";
          } else {
            o.kind = OutcomeKind::kDeferred;
            bool full = delivered.error().code() == ErrorCode::kNoSpace;
            o.status = full ? "4.3.1" : "4.3.0";
            o.explanation = full ? "mail system full" : "local delivery failed";
          }
          outs.push_back(o);
        }
        return outs;
      });
  if (!outcomes) {
    if (outcomes.error().code() == ErrorCode::kNotFound) co_return;  // removed
    spdlog::error("queue: local delivery of {}: {}", message.id,
                  outcomes.error().message());
    {
      Outcome proto =
          Proto(OutcomeKind::kDeferred, "4.3.0", "local delivery failed");
      std::vector<WorkMessage> which = std::vector<WorkMessage>{message};
      co_await FinishAll(std::move(which), std::move(proto));
    }
    co_return;
  }
  co_await RecordOutcomes(message.id, std::move(*outcomes));
}

awaitable<void> Outbound::DeliverDomain(std::string domain,
                                        std::vector<WorkMessage> batch) {
  if (domain.empty()) {
    {
      Outcome proto = Proto(OutcomeKind::kFailed, "5.1.3",
                            "recipient address has no domain");
      std::vector<WorkMessage> which = batch;
      co_await FinishAll(std::move(which), std::move(proto));
    }
    co_return;
  }
  store::Store* store = store_;
  // Lambdas given to RunBlocking capture by reference: GCC 12 relocates a
  // by-value capture into the coroutine frame bitwise, so a captured
  // short std::string ends up pointing at a dead SSO buffer. The frame
  // outlives the co_await, so references are safe.
  const std::string& name = domain;
  auto local =
      co_await net::RunBlocking(*pool_, [&] { return store->HasDomain(name); });
  if (local && *local) {
    for (auto& m : batch) co_await DeliverLocal(std::move(m));
    co_return;
  }

  // Where to go: static route, smarthost, or MX (RFC 5321 §5.1).
  std::vector<Target> targets;
  bool smarthost = false;
  std::string route;
  if (auto it = options_.queue.routes.find(domain);
      it != options_.queue.routes.end()) {
    route = it->second;
  } else if (!options_.queue.smarthost.empty()) {
    route = options_.queue.smarthost;
    smarthost = true;
  }
  if (!route.empty()) {
    Target t;
    if (!SplitTarget(route, &t.host, &t.port)) {
      {
        Outcome proto =
            Proto(OutcomeKind::kDeferred, "4.3.5", "bad route " + route);
        std::vector<WorkMessage> which = batch;
        co_await FinishAll(std::move(which), std::move(proto));
      }
      co_return;
    }
    targets.push_back(t);
  } else {
    dns::Resolver* resolver = &resolver_;
    auto hosts = co_await net::RunBlocking(
        *pool_, [&] { return resolver->MailHosts(name); });
    if (!hosts) {
      switch (hosts.error().code()) {
        case ErrorCode::kPerm:  // RFC 7505 §4.1: 556 5.1.10
        {
          Outcome proto =
              Proto(OutcomeKind::kFailed, "5.1.10",
                    "the domain " + domain + " accepts no mail (null MX)");
          std::vector<WorkMessage> which = batch;
          co_await FinishAll(std::move(which), std::move(proto));
        } break;
        case ErrorCode::kNotFound: {
          Outcome proto = Proto(OutcomeKind::kFailed, "5.1.2",
                                "the domain " + domain + " does not exist");
          std::vector<WorkMessage> which = batch;
          co_await FinishAll(std::move(which), std::move(proto));
        } break;
        default: {
          Outcome proto = Proto(OutcomeKind::kDeferred, "4.4.3",
                                "DNS lookup for " + domain + " failed");
          std::vector<WorkMessage> which = batch;
          co_await FinishAll(std::move(which), std::move(proto));
        }
      }
      co_return;
    }
    for (auto& h : *hosts) targets.push_back({h, options_.queue.mx_port});
  }

  std::deque<WorkMessage> remaining(std::make_move_iterator(batch.begin()),
                                    std::make_move_iterator(batch.end()));
  std::string last_error = "no host could be reached";
  std::string last_diagnostic, last_mta;
  bool last_permanent = false;
  for (const auto& target : targets) {
    if (remaining.empty() || stopping_) break;
    std::vector<std::string> addresses;
    if (IsIpLiteral(target.host)) {
      addresses.push_back(target.host);
    } else {
      dns::Resolver* resolver = &resolver_;
      std::string host = target.host;
      auto addrs = co_await net::RunBlocking(
          *pool_, [&] { return resolver->LookupAddresses(host); });
      if (!addrs) {
        last_error = addrs.error().message();
        continue;
      }
      addresses = *addrs;
    }
    for (const auto& ip : addresses) {
      if (remaining.empty() || stopping_) break;
      boost::system::error_code ec;
      auto address = asio::ip::make_address(ip, ec);
      if (ec) continue;
      Client client(io_.get_executor(), options_.timeouts);
      clients_.insert(&client);
      struct Untrack {
        std::set<Client*>& set;
        Client* c;
        ~Untrack() { set.erase(c); }
      } untrack{clients_, &client};
      std::string mta = target.host;
      auto greeting = co_await client.Connect({address, target.port});
      if (!greeting) {
        last_error = greeting.error().message();
        last_diagnostic.clear();
        last_permanent = false;
        continue;
      }
      if (!greeting->positive()) {
        last_diagnostic = greeting->ToString();
        last_mta = mta;
        last_permanent = greeting->permanent();
        co_await client.Quit();
        continue;
      }
      auto caps = co_await client.Hello(options_.hostname);
      if (caps && caps->starttls) {
        auto tls_caps =
            co_await client.StartTls(tls_, target.host, options_.hostname);
        if (tls_caps) {
          caps = tls_caps;
        } else if (tls_caps.error().code() != ErrorCode::kPerm) {
          // Handshake trouble: the connection is gone.
          caps = tls_caps;
        }
        // kPerm: STARTTLS refused; go on in plaintext (opportunistic).
      }
      if (!caps) {
        last_error = caps.error().message();
        last_diagnostic.clear();
        last_permanent = false;
        client.Close();
        continue;
      }
      if (smarthost && !options_.queue.smarthost_user.empty()) {
        bool plain = std::find(caps->auth.begin(), caps->auth.end(), "PLAIN") !=
                     caps->auth.end();
        if (!client.tls_active() || !plain) {
          // Never send the password in clear (RFC 4954 §4).
          last_error = "smarthost offers no AUTH PLAIN over TLS";
          last_diagnostic.clear();
          last_permanent = false;
          co_await client.Quit();
          continue;
        }
        auto auth = co_await client.AuthPlain(
            options_.queue.smarthost_user, options_.queue.smarthost_password);
        if (!auth || !auth->positive()) {
          last_error = auth ? "smarthost refused our login: " + auth->ToString()
                            : auth.error().message();
          last_diagnostic.clear();
          last_permanent = false;
          spdlog::error("queue: {}", last_error);
          co_await client.Quit();
          continue;
        }
      }
      bool connection_ok = true;
      while (!remaining.empty() && connection_ok && !stopping_) {
        WorkMessage m = std::move(remaining.front());
        remaining.pop_front();
        Spool* spool = spool_.get();
        uint64_t id = m.id;
        auto data = co_await net::RunBlocking(
            *pool_, [&] { return spool->LoadData(id); });
        if (!data) {
          if (data.error().code() != ErrorCode::kNotFound) {
            {
              Outcome proto = Proto(OutcomeKind::kDeferred, "4.3.0",
                                    "cannot read the queued message");
              std::vector<WorkMessage> which = std::vector<WorkMessage>{m};
              co_await FinishAll(std::move(which), std::move(proto));
            }
          }
          continue;
        }
        // Hard requirements, checked before anything is sent.
        if (m.envelope.require_tls &&
            !(client.tls_verified() && caps->requiretls)) {
          // RFC 8689 §4.1, §5: 5.7.30 REQUIRETLS support required.
          {
            Outcome proto = Proto(OutcomeKind::kFailed, "5.7.30",
                                  "REQUIRETLS: " + mta +
                                      " offers no verified TLS with REQUIRETLS",
                                  "", mta);
            std::vector<WorkMessage> which = std::vector<WorkMessage>{m};
            co_await FinishAll(std::move(which), std::move(proto));
          }
          continue;
        }
        if (m.envelope.smtputf8 && !caps->smtputf8) {
          // RFC 6531 §3.2: no downgrade; the message cannot go.
          {
            Outcome proto = Proto(OutcomeKind::kFailed, "5.6.7",
                                  "the message needs SMTPUTF8, which " + mta +
                                      " does not support",
                                  "", mta);
            std::vector<WorkMessage> which = std::vector<WorkMessage>{m};
            co_await FinishAll(std::move(which), std::move(proto));
          }
          continue;
        }
        if (caps->size_limit && data->size() > caps->size_limit) {
          {
            Outcome proto =
                Proto(OutcomeKind::kFailed, "5.3.4",
                      "message bigger than " + mta + " accepts", "", mta);
            std::vector<WorkMessage> which = std::vector<WorkMessage>{m};
            co_await FinishAll(std::move(which), std::move(proto));
          }
          continue;
        }
        smtp::client::MailRequest req;
        req.mail_from = m.envelope.mail_from;
        for (auto& r : m.recipients) {
          req.recipients.push_back({r.address, NotifyParam(r.notify), r.orcpt});
        }
        req.data = *data;
        req.eight_bit = m.envelope.eight_bit;
        req.smtputf8 = m.envelope.smtputf8;
        req.require_tls = m.envelope.require_tls;
        req.ret = RetParam(m.envelope.ret);
        req.envid = m.envelope.envid;
        auto sent = co_await client.Send(req, *caps);
        if (!sent) {
          // Unknown whether it got through (RFC 5321 §6.1 allows the
          // duplicate); try again later rather than lose it.
          last_error = sent.error().message();
          connection_ok = false;
          {
            Outcome proto =
                Proto(OutcomeKind::kDeferred, "4.4.2",
                      "connection lost: " + sent.error().message(), "", mta);
            std::vector<WorkMessage> which = std::vector<WorkMessage>{m};
            co_await FinishAll(std::move(which), std::move(proto));
          }
          break;
        }
        std::vector<Outcome> outs;
        bool closing = sent->mail.code == 421;
        for (size_t i = 0; i < m.recipients.size(); ++i) {
          outs.push_back(
              FromReply(m.recipients[i].id, sent->recipients[i], mta));
          // RFC 3461 §4.2: a next hop without DSN cannot report success;
          // we do, as "relayed". With DSN it got the NOTIFY and reports.
          if (!caps->dsn) outs.back().success_action = "relayed";
          if (sent->recipients[i].code == 421) closing = true;
        }
        co_await RecordOutcomes(m.id, std::move(outs));
        if (closing) connection_ok = false;  // RFC 5321 §3.8: 421 closes
      }
      co_await client.Quit();
    }
  }
  if (!remaining.empty()) {
    std::vector<WorkMessage> rest(std::make_move_iterator(remaining.begin()),
                                  std::make_move_iterator(remaining.end()));
    if (!last_diagnostic.empty()) {
      {
        Outcome proto = Proto(
            last_permanent ? OutcomeKind::kFailed : OutcomeKind::kDeferred,
            last_permanent ? "5.0.0" : "4.0.0", "", last_diagnostic, last_mta);
        std::vector<WorkMessage> which = rest;
        co_await FinishAll(std::move(which), std::move(proto));
      }
    } else {
      {
        Outcome proto = Proto(OutcomeKind::kDeferred, "4.4.1", last_error);
        std::vector<WorkMessage> which = rest;
        co_await FinishAll(std::move(which), std::move(proto));
      }
    }
  }
}

}  // namespace correio::queue
