// The spool: the queue's durable state in its own SQLite database
// (<data_dir>/queue.db, WAL, synchronous=FULL so a commit is on disk when
// it returns). One row per message (envelope + exact octets) and one per
// recipient with its state, attempt count, next attempt time and last
// error. Nothing is kept "in flight" on disk: after a crash every pending
// recipient is simply due again (at-least-once; the window for a duplicate
// is between a remote 250 and our commit of it).
//
// Record() is where results become durable: in one transaction it marks
// recipients delivered/failed/deferred, computes the next attempt
// (retry.h), queues the DSN for the sender (dsn.h) as a new message from
// the null sender, and deletes messages with nothing left to do. A bounce
// is therefore never lost and never sent for a message whose sender was <>.
//
// Thread-safety: all methods may be called from any thread (one mutex);
// they block on disk, so network threads call them via net::RunBlocking.
// Several processes may open the same file (the CLI beside the server).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "queue/queue.h"

struct sqlite3;

namespace correio::queue {

struct SpoolOptions {
  std::vector<uint32_t> retry_schedule = {300, 600, 1800, 3600, 7200, 14400};
  uint32_t max_age_seconds = 5 * 86400;
  uint32_t delay_warning_seconds = 4 * 3600;  // 0: never
  std::string hostname = "localhost";         // Reporting-MTA of DSNs
};

enum class RecipientState : uint8_t {
  kPending = 0,
  kDelivered = 1,
  kFailed = 2
};
std::string_view RecipientStateName(RecipientState s);

struct WorkRecipient {
  uint64_t id = 0;
  std::string address;
  std::string domain;  // lowercase
  uint8_t notify = kNotifyDefault;
  std::string orcpt;
  uint32_t attempts = 0;
};

struct WorkMessage {
  uint64_t id = 0;
  Envelope envelope;  // recipients empty: see `recipients`
  int64_t created = 0;
  uint64_t size = 0;
  std::vector<WorkRecipient> recipients;  // the due ones only
};

enum class OutcomeKind : uint8_t { kDelivered, kDeferred, kFailed };

struct Outcome {
  uint64_t recipient_id = 0;
  OutcomeKind kind = OutcomeKind::kDeferred;
  std::string status;       // RFC 3463 "5.1.1"
  std::string diagnostic;   // the remote SMTP reply, "" when none
  std::string remote_mta;   // host name or address, "" when none
  std::string explanation;  // our own words when there is no reply
  // For kDelivered: the RFC 3464 action a NOTIFY=SUCCESS sender is told,
  // "delivered" (into a local mailbox) or "relayed" (to a server without
  // the DSN extension); "" when the next hop took the NOTIFY on itself.
  std::string success_action;
};

struct RecipientInfo {
  uint64_t id = 0;
  std::string address;
  RecipientState state = RecipientState::kPending;
  uint32_t attempts = 0;
  int64_t next_attempt = 0;
  std::string last_error;
};

struct EntryInfo {
  uint64_t id = 0;
  std::string mail_from;
  int64_t created = 0;
  uint64_t size = 0;
  std::vector<RecipientInfo> recipients;
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> Open(const std::string& path,
                                             SpoolOptions options,
                                             const Clock& clock);
  ~Spool();

  // Durable when it returns. Recipients are due at once.
  Result<uint64_t> Enqueue(const Envelope& envelope, std::string_view data);
  // Pending recipients due at `now`, grouped by message, at most `limit`
  // recipients, skipping the ids in `busy` (being delivered right now).
  Result<std::vector<WorkMessage>> Due(int64_t now, size_t limit,
                                       const std::set<uint64_t>& busy);
  // Earliest next attempt of any pending recipient not in `busy`.
  Result<std::optional<int64_t>> NextDue(const std::set<uint64_t>& busy);
  Result<std::string> LoadData(uint64_t message_id);
  // Outcomes for recipients of one message, at clock.NowSeconds().
  Status Record(uint64_t message_id, const std::vector<Outcome>& outcomes);

  // Administration (correio queue ...).
  Result<std::vector<EntryInfo>> List();
  Result<EntryInfo> Show(uint64_t id);  // kNotFound
  // Makes pending recipients due now (one message, or all when nullopt);
  // returns how many recipients. kNotFound for an unknown id.
  Result<uint64_t> Retry(std::optional<uint64_t> id);
  // Deletes a message and its recipients without a bounce. kNotFound.
  Status Remove(uint64_t id);

 private:
  Spool(sqlite3* db, SpoolOptions options, const Clock& clock);
  Result<uint64_t> InsertLocked(const Envelope& envelope, std::string_view data,
                                int64_t now);

  sqlite3* db_;
  SpoolOptions options_;
  const Clock& clock_;
  std::mutex mu_;
};

}  // namespace correio::queue
