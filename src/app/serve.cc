#include "app/serve.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "app/data_dir.h"
#include "auth/authenticator.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/throttle.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/malloc_tuning.h"
#include "base/strings.h"
#include "imap/server/session.h"
#include "mail/env.h"
#include "mail/recipient_cache.h"
#include "net/blocking.h"
#include "net/server.h"
#include "pop3/server/session.h"
#include "queue/admin.h"
#include "queue/outbound.h"
#include "smtp/server/session.h"
#include "store/change_hub.h"

namespace correio::app {

namespace {

namespace fs = std::filesystem;
using config::Protocol;
using config::TlsMode;

constexpr const char* kDemoDomain = "correio.test";
constexpr const char* kDemoUser = "demo@correio.test";

std::string RandomPassword() {
  static const char* kChars =
      "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 16; ++i) out.push_back(kChars[rd() % 57]);
  return out;
}

// Creates the demo domain and account in an empty store and records the
// credentials in the data directory (0600) so every start can show them.
Result<std::string> EnsureDemoAccount(store::Store& store,
                                      const std::string& data_dir) {
  fs::path cred_file = fs::path(data_dir) / "demo-credentials.txt";
  auto accounts = store.ListAccounts();
  if (!accounts) return Fail(accounts.error());
  if (accounts->empty()) {
    auto has = store.HasDomain(kDemoDomain);
    if (!has) return Fail(has.error());
    if (!*has) {
      auto st = store.AddDomain(kDemoDomain);
      if (!st) return Fail(st.error());
    }
    std::string password = RandomPassword();
    auto hash = auth::HashPassword(password);
    if (!hash) return Fail(hash.error());
    store::Account account;
    account.address = kDemoUser;
    account.password_hash = *hash;
    auto scram = auth::DeriveScram(password);
    if (!scram) return Fail(scram.error());
    account.scram = *scram;
    auto created = store.CreateAccount(account);
    if (!created) return Fail(created.error());
    mode_t old = umask(077);
    std::ofstream out(cred_file);
    umask(old);
    out << "address  " << kDemoUser << "\npassword " << password << "\n";
  }
  std::ifstream in(cred_file);
  if (!in) return std::string();
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  return text;
}

std::string ListenerName(const config::Listener& l) {
  switch (l.protocol) {
    case Protocol::kSmtp: return "smtp";
    case Protocol::kSubmission:
      return l.tls == TlsMode::kImplicit ? "submissions" : "submission";
    case Protocol::kPop3: return l.tls == TlsMode::kImplicit ? "pop3s" : "pop3";
    case Protocol::kImap: return l.tls == TlsMode::kImplicit ? "imaps" : "imap";
  }
  return "?";
}

std::string Refusal(Protocol p) {
  switch (p) {
    case Protocol::kSmtp:
    case Protocol::kSubmission:
      return "421 4.7.0 Too many connections, try again later\r\n";
    case Protocol::kPop3: return "-ERR [SYS/TEMP] Too many connections\r\n";
    case Protocol::kImap: return "* BYE Too many connections\r\n";
  }
  return "";
}

Status DropPrivileges(const std::string& user, const std::string& data_dir) {
  if (geteuid() != 0) return {};
  if (user.empty()) {
    spdlog::warn(
        "running as root: set `user` in the config to drop privileges");
    return {};
  }
  struct passwd* pw = getpwnam(user.c_str());
  if (!pw) return Fail(ErrorCode::kInvalid, "no such user: " + user);
  // The data directory and what is in it must stay writable after the drop.
  std::error_code ec;
  if (::chown(data_dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return Fail(ErrorCode::kPerm, "cannot chown " + data_dir);
  }
  for (auto& entry : fs::recursive_directory_iterator(data_dir, ec)) {
    if (::lchown(entry.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return Fail(ErrorCode::kPerm, "cannot chown " + entry.path().string());
    }
  }
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 ||
      setuid(pw->pw_uid) != 0) {
    return Fail(ErrorCode::kPerm, "cannot switch to user " + user);
  }
  if (setuid(0) == 0) {
    return Fail(ErrorCode::kInternal, "privileges could be regained");
  }
  spdlog::info("running as {} (uid {})", user, pw->pw_uid);
  return {};
}

// How to reach each service with common clients, printed at start so a
// first-time user can try the server at once.
std::string ConnectHints(
    const config::Config& cfg,
    const std::vector<std::pair<config::Listener, uint16_t>>& ports) {
  (void)cfg;
  std::string out = "\nHow to connect (the certificate is self-signed unless "
                    "configured: tell your client to accept it):\n";
  for (const auto& [l, port] : ports) {
    std::string host = l.address == "0.0.0.0" || l.address == "::"
                           ? "127.0.0.1"
                           : l.address;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::string hp = fmt::format("{}:{}", host, port);
    switch (l.protocol) {
      case Protocol::kSmtp:
        out += fmt::format("  MX (incoming mail)  swaks --server {} --to demo@correio.test\n", hp);
        break;
      case Protocol::kSubmission:
        if (l.tls == TlsMode::kImplicit) {
          out += fmt::format("  submissions         openssl s_client -quiet -connect {}\n", hp);
        } else {
          out += fmt::format("  submission          swaks --server {} -tls --auth-user demo@correio.test --to someone@example.net\n", hp);
        }
        break;
      case Protocol::kPop3:
        out += l.tls == TlsMode::kImplicit
                   ? fmt::format("  POP3 over TLS       openssl s_client -quiet -connect {}\n", hp)
                   : fmt::format("  POP3 (STLS)         openssl s_client -quiet -starttls pop3 -connect {}\n", hp);
        break;
      case Protocol::kImap:
        out += l.tls == TlsMode::kImplicit
                   ? fmt::format("  IMAP over TLS       openssl s_client -quiet -connect {}\n", hp)
                   : fmt::format("  IMAP (STARTTLS)     openssl s_client -quiet -starttls imap -connect {}\n", hp);
        break;
    }
  }
  return out;
}

}  // namespace

int Serve(ServeOptions options) {
  // no_new_privs is per thread and inherited only by threads created
  // later, so it is set here, before the store, logger and workers start
  // their threads (set in DropPrivileges it reached the main thread only).
  // It does not stop the setuid() of the drop; it stops any execve from
  // gaining privileges, root or not.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    std::cerr << "correio: cannot set no_new_privs\n";
    return 1;
  }
  // Before the threads start: the store's writer would otherwise give its
  // memory back to the kernel after every job (base/malloc_tuning.h).
  TuneMallocForServer();
  config::Config& cfg = options.config;
  LogOptions log_options{cfg.log.level, cfg.log.format, cfg.log.file};
  if (auto st = InitLogging(log_options); !st) {
    std::cerr << "correio: " << st.error().message() << "\n";
    return 1;
  }
  std::string hostname = ResolveHostname(cfg);
  store::LocalChangeHub hub;
  auto store = OpenStore(cfg, &hub, true);
  if (!store) {
    std::cerr << "correio: " << store.error().message() << "\n";
    return 1;
  }
  for (const auto& domain : cfg.domains) {
    auto has = (*store)->HasDomain(AsciiLowercase(domain));
    if (has && !*has) {
      if (auto st = (*store)->AddDomain(AsciiLowercase(domain)); !st) {
        std::cerr << "correio: " << st.error().message() << "\n";
        return 1;
      }
    }
  }
  std::string demo_text;
  if (options.demo) {
    auto demo = EnsureDemoAccount(**store, cfg.data_dir);
    if (!demo) {
      std::cerr << "correio: demo account: " << demo.error().message() << "\n";
      return 1;
    }
    demo_text = *demo;
  }
  auto sasl_secret = LoadOrCreateSaslSecret(cfg.data_dir);
  if (!sasl_secret) {
    std::cerr << "correio: " << sasl_secret.error().message() << "\n";
    return 1;
  }
  if (auto st = auth::SetSaslSecret(*sasl_secret); !st) {
    std::cerr << "correio: " << st.error().message() << "\n";
    return 1;
  }
  auto tls_files = EnsureTlsFiles(cfg, hostname);
  if (!tls_files) {
    std::cerr << "correio: " << tls_files.error().message() << "\n";
    return 1;
  }
  auto tls = net::TlsContext::Load(tls_files->cert, tls_files->key);
  if (!tls) {
    std::cerr << "correio: " << tls.error().message() << "\n";
    return 1;
  }

  size_t workers = config::IoThreads(cfg, std::thread::hardware_concurrency());
  net::ServerLimits limits;
  limits.max_connections = cfg.limits.max_connections;
  limits.max_connections_per_ip = cfg.limits.max_connections_per_ip;
  limits.idle_poll = std::chrono::microseconds(cfg.idle_poll_us);
  net::Server server(workers, limits, *tls);

  // The services every session shares (mail/env.h). Store calls and
  // password hashing run on the blocking pool (STYLE 13): a few threads
  // more than the workers, since SQLite serializes writers anyway.
  auth::ThrottleOptions throttle_options;
  throttle_options.free_failures = cfg.auth.throttle_free_failures;
  throttle_options.max_delay =
      std::chrono::seconds(cfg.auth.throttle_max_delay_seconds);
  throttle_options.block_after = cfg.auth.throttle_block_after;
  auth::LoginThrottle throttle(SystemClock(), throttle_options);
  auth::Authenticator authenticator(
      **store, throttle, cfg.pop3.apop,
      std::chrono::seconds(cfg.auth.login_cache_seconds));
  // The store pool's threads mostly wait (for a group commit's fsync, for
  // SQLite's one writer), so there are many: a session's read must not
  // queue behind other sessions' commits (bench: FETCH p50 fell from 13
  // to ~3 ms at 10 IMAP clients when this went from 4 to 16).
  net::BlockingPool pool(std::max<size_t>(16, workers * 4), "store-pool");
  // As many hashing threads as cores: logins use all the CPU there is but
  // never hold up the store pool (mail/env.h).
  net::BlockingPool auth_pool(
      std::max<size_t>(1, std::thread::hardware_concurrency()), "auth-pool");
  mail::Env env;
  env.config = &cfg;
  env.hostname = hostname;
  env.store = store->get();
  env.hub = &hub;
  env.auth = &authenticator;
  env.throttle = &throttle;
  env.pool = &pool;
  env.auth_pool = &auth_pool;
  env.tls = *tls;
  // RCPT lookups, shared by every SMTP listener. An entry is dropped at
  // the first directory change anyway (Store::DirectoryVersion); the
  // minute only bounds it should the version file be lost.
  mail::RecipientCache recipients(SystemClock(), std::chrono::seconds(60));

  // The outbound queue (src/queue): its own spool <data_dir>/queue.db and
  // scheduler thread; blocking work on `pool`. Declared after `pool` so it
  // is destroyed first.
  auto outbound = queue::Outbound::Open(
      queue::QueuePath(cfg), queue::OptionsFromConfig(cfg, hostname),
      store->get(), &pool);
  if (!outbound) {
    std::cerr << "correio: queue: " << outbound.error().message() << "\n";
    return 1;
  }

  std::vector<std::string> listening;
  std::vector<std::pair<config::Listener, uint16_t>> listen_ports;
  for (const auto& l : cfg.listeners) {
    net::ListenOptions lo;
    lo.name = ListenerName(l);
    lo.address = l.address;
    lo.port = l.port;
    lo.implicit_tls = l.tls == TlsMode::kImplicit;
    // IANA ALPN ids "imap" and "pop3"; SMTP has none registered, so a
    // client must either offer "smtp" or no ALPN at all.
    lo.alpn = l.protocol == Protocol::kImap   ? "imap"
              : l.protocol == Protocol::kPop3 ? "pop3"
                                              : "smtp";
    lo.refusal = Refusal(l.protocol);
    bool starttls = l.tls == TlsMode::kStartTls;
    switch (l.protocol) {
      case Protocol::kSmtp:
      case Protocol::kSubmission: {
        smtp::SessionOptions so;
        so.hostname = hostname;
        so.submission = l.protocol == Protocol::kSubmission;
        so.offer_starttls = starttls;
        so.tls = *tls;
        so.max_line_length = cfg.limits.max_line_length;
        so.max_bad_commands = cfg.limits.max_bad_commands;
        so.command_timeout_seconds = cfg.limits.command_timeout_seconds;
        so.queue = outbound->get();
        so.recipients = &recipients;
        lo.handler = [so, env](std::shared_ptr<net::Connection> c) {
          return smtp::RunSession(std::move(c), env, so);
        };
        break;
      }
      case Protocol::kPop3: {
        pop3::SessionOptions po;
        po.hostname = hostname;
        po.offer_stls = starttls;
        po.tls = *tls;
        po.max_bad_commands = cfg.limits.max_bad_commands;
        po.command_timeout_seconds = cfg.pop3.autologout_seconds;
        lo.handler = [po, env](std::shared_ptr<net::Connection> c) {
          return pop3::RunSession(std::move(c), env, po);
        };
        break;
      }
      case Protocol::kImap: {
        imap::SessionOptions io;
        io.hostname = hostname;
        io.offer_starttls = starttls;
        io.tls = *tls;
        io.max_line_length = cfg.limits.max_line_length;
        io.max_bad_commands = cfg.limits.max_bad_commands;
        io.idle_timeout_seconds = cfg.limits.idle_timeout_seconds;
        lo.handler = [io, env](std::shared_ptr<net::Connection> c) {
          return imap::RunSession(std::move(c), env, io);
        };
        break;
      }
    }
    std::string name = lo.name;
    auto port = server.Listen(std::move(lo));
    if (!port) {
      std::cerr << "correio: " << port.error().message() << "\n";
      return 1;
    }
    listen_ports.push_back({l, *port});
    listening.push_back(fmt::format("listening {} {}:{} tls={}", name,
                                    l.address, *port,
                                    config::TlsModeName(l.tls)));
  }
  if (auto st = DropPrivileges(cfg.user, cfg.data_dir); !st) {
    std::cerr << "correio: " << st.error().message() << "\n";
    return 1;
  }

  // Signals are handled on their own small io_context so a busy worker
  // cannot delay shutdown.
  boost::asio::io_context signal_ctx;
  boost::asio::signal_set signals(signal_ctx, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          spdlog::info("SIGHUP: reloading certificates and log settings");
          if (auto st = (*tls)->Reload(); !st) {
            spdlog::error("certificate reload failed: {}",
                          st.error().message());
          } else {
            spdlog::info("certificate reloaded from {}", (*tls)->cert_file());
          }
          if (!options.config_path.empty()) {
            std::vector<config::Problem> problems;
            auto fresh = config::LoadConfig(options.config_path, &problems);
            if (!fresh) {
              for (auto& p : problems) spdlog::error("config: {}", p.ToString());
            } else {
              LogOptions lo{fresh->log.level, fresh->log.format,
                            fresh->log.file};
              if (auto st = InitLogging(lo); !st) {
                spdlog::error("{}", st.error().message());
              }
            }
          }
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("signal {}: shutting down", signo);
        server.Shutdown(
            std::chrono::seconds(cfg.limits.shutdown_grace_seconds));
        signal_ctx.stop();
      };
  signals.async_wait(on_signal);

  // Upkeep on the signal context, the work itself on the store pool:
  // expunge records older than imap.expunge_log_days are dropped at start
  // and hourly (QRESYNC then answers from the floor, see store.h).
  boost::asio::steady_timer upkeep(signal_ctx);
  store::Store* the_store = store->get();
  auto compact = [&cfg, &pool, the_store] {
    if (cfg.imap.expunge_log_days == 0) return;
    boost::asio::post(pool.pool(), [&cfg, the_store] {
      int64_t before = static_cast<int64_t>(std::time(nullptr)) -
                       int64_t{cfg.imap.expunge_log_days} * 86400;
      auto n = the_store->CompactExpungeLog(before);
      if (!n) {
        spdlog::warn("expunge log compaction: {}", n.error().message());
      } else if (*n > 0) {
        spdlog::info("expunge log: {} records older than {} days dropped", *n,
                     cfg.imap.expunge_log_days);
      }
    });
  };
  std::function<void()> schedule_upkeep = [&] {
    upkeep.expires_after(std::chrono::hours(1));
    upkeep.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      compact();
      schedule_upkeep();
    });
  };
  compact();
  schedule_upkeep();

  (*outbound)->Start();
  server.Start();
  auto fingerprint = net::CertificateFingerprint(tls_files->cert);
  std::cout << "correio " << CORREIO_VERSION << " serving " << cfg.data_dir
            << " (" << cfg.store << "), host " << hostname << "\n";
  for (auto& l : listening) std::cout << l << "\n";
  std::cout << "tls certificate " << tls_files->cert
            << (tls_files->generated ? " (self-signed, just made)" : "")
            << "\n";
  if (fingerprint) std::cout << "tls sha256 " << *fingerprint << "\n";
  if (!demo_text.empty()) {
    std::cout << "\nDemo account (from " << cfg.data_dir
              << "/demo-credentials.txt):\n"
              << demo_text;
  }
  std::cout << ConnectHints(cfg, listen_ports);
  std::cout << "ready" << std::endl;
  signal_ctx.run();
  server.Wait();
  (*outbound)->Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace correio::app
