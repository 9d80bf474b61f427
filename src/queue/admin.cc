#include "queue/admin.h"

#include <fmt/format.h>

#include <filesystem>

#include "base/strings.h"
#include "queue/dsn.h"
#include "queue/spool.h"

namespace correio::queue {

namespace {

constexpr const char* kUsage =
    "usage: correio queue list | show ID | retry ID|--all | flush | "
    "delete ID\n";

std::string Sender(const std::string& s) { return s.empty() ? "<>" : s; }

void PrintEntry(const EntryInfo& e, bool detail, std::ostream& out) {
  out << fmt::format("{}  {}  {} bytes  from {}\n", e.id,
                     FormatRfc5322Date(e.created), e.size, Sender(e.mail_from));
  for (const auto& r : e.recipients) {
    out << fmt::format("    {}  {}", r.address, RecipientStateName(r.state));
    if (r.state == RecipientState::kPending) {
      out << fmt::format("  attempts {}  next {}", r.attempts,
                         FormatRfc5322Date(r.next_attempt));
    }
    out << "\n";
    if (!r.last_error.empty() &&
        (detail || r.state != RecipientState::kDelivered)) {
      out << "      last: " << r.last_error << "\n";
    }
  }
}

}  // namespace

std::string QueuePath(const config::Config& cfg) {
  return (std::filesystem::path(cfg.data_dir) / "queue.db").string();
}

int RunQueueCommand(const config::Config& cfg,
                    const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err, const Clock& clock) {
  if (args.empty()) {
    err << kUsage;
    return 2;
  }
  const std::string& cmd = args[0];
  auto id_arg = [&]() -> std::optional<uint64_t> {
    if (args.size() != 2) return std::nullopt;
    return ParseUint64(args[1]);
  };
  bool known = cmd == "list" || cmd == "show" || cmd == "retry" ||
               cmd == "flush" || cmd == "delete" || cmd == "remove";
  if (!known) {
    err << kUsage;
    return 2;
  }
  std::error_code ec;
  if (!std::filesystem::exists(QueuePath(cfg), ec)) {
    // Nothing was ever queued; do not create a database as a side effect.
    if (cmd == "list") {
      out << "queue is empty\n";
      return 0;
    }
  }
  SpoolOptions so;
  so.retry_schedule = cfg.queue.retry_schedule;
  so.max_age_seconds = cfg.queue.max_age_seconds;
  so.delay_warning_seconds = cfg.queue.delay_warning_seconds;
  auto spool = Spool::Open(QueuePath(cfg), so, clock);
  if (!spool) {
    err << "correio: " << spool.error().message() << "\n";
    return 1;
  }
  if (cmd == "list") {
    if (args.size() != 1) {
      err << kUsage;
      return 2;
    }
    auto list = (*spool)->List();
    if (!list) {
      err << "correio: " << list.error().message() << "\n";
      return 1;
    }
    if (list->empty()) out << "queue is empty\n";
    for (const auto& e : *list) PrintEntry(e, false, out);
    return 0;
  }
  if (cmd == "show") {
    auto id = id_arg();
    if (!id) {
      err << kUsage;
      return 2;
    }
    auto e = (*spool)->Show(*id);
    if (!e) {
      err << "correio: " << e.error().message() << "\n";
      return 1;
    }
    PrintEntry(*e, true, out);
    return 0;
  }
  if (cmd == "retry" || cmd == "flush") {
    std::optional<uint64_t> id;
    bool all = cmd == "flush" ? args.size() == 1
                              : args.size() == 2 && args[1] == "--all";
    if (!all) {
      id = id_arg();
      if (!id || cmd == "flush") {
        err << kUsage;
        return 2;
      }
    }
    auto n = (*spool)->Retry(id);
    if (!n) {
      err << "correio: " << n.error().message() << "\n";
      return 1;
    }
    out << fmt::format("{} recipient(s) due now\n", *n);
    return 0;
  }
  // delete / remove
  auto id = id_arg();
  if (!id) {
    err << kUsage;
    return 2;
  }
  if (auto st = (*spool)->Remove(*id); !st) {
    err << "correio: " << st.error().message() << "\n";
    return 1;
  }
  out << fmt::format("removed {}\n", *id);
  return 0;
}

}  // namespace correio::queue
