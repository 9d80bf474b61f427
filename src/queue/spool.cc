#include "queue/spool.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <map>

#include "base/strings.h"
#include "queue/dsn.h"
#include "queue/retry.h"

namespace correio::queue {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS message (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mail_from TEXT NOT NULL,
  envid TEXT NOT NULL,
  ret INTEGER NOT NULL,
  smtputf8 INTEGER NOT NULL,
  eight_bit INTEGER NOT NULL,
  require_tls INTEGER NOT NULL,
  auth_user TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  created INTEGER NOT NULL,
  warned INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS recipient (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL REFERENCES message(id),
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  notify INTEGER NOT NULL,
  orcpt TEXT NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS recipient_due ON recipient(state, next_attempt);
CREATE INDEX IF NOT EXISTS recipient_message ON recipient(message_id);
)sql";

// A prepared statement with bound parameters only (STYLE 11).
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      stmt_ = nullptr;
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return stmt_ != nullptr; }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }
  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    bool full = (sqlite3_errcode(db) & 0xff) == SQLITE_FULL;
    return Fail(full ? ErrorCode::kNoSpace : ErrorCode::kTemp,
                "queue database: " + msg);
  }
  return {};
}

std::unexpected<Error> DbError(sqlite3* db, std::string_view what) {
  // A full disk is told apart so SMTP can say 452 4.3.1 (docs/smtp.md).
  bool full = (sqlite3_errcode(db) & 0xff) == SQLITE_FULL;
  return Fail(full ? ErrorCode::kNoSpace : ErrorCode::kTemp,
              fmt::format("queue database: {}: {}", what, sqlite3_errmsg(db)));
}

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  Status Begin() { return Exec(db_, "BEGIN IMMEDIATE"); }
  Status Commit() {
    auto st = Exec(db_, "COMMIT");
    if (st) done_ = true;
    return st;
  }
  ~Transaction() {
    if (!done_) (void)Exec(db_, "ROLLBACK");
  }

 private:
  sqlite3* db_;
  bool done_ = false;
};

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return AsciiLowercase(address.substr(at + 1));
}

bool WantsFailure(uint8_t notify) {
  return notify == kNotifyDefault || (notify & kNotifyFailure);
}
bool WantsDelay(uint8_t notify) {
  return notify == kNotifyDefault || (notify & kNotifyDelay);
}
// Success is reported only when asked for (RFC 3461 §4.1: the default is
// FAILURE,DELAY or FAILURE).
bool WantsSuccess(uint8_t notify) {
  return notify != kNotifyDefault && !(notify & kNotifyNever) &&
         (notify & kNotifySuccess);
}

}  // namespace

std::string_view RecipientStateName(RecipientState s) {
  switch (s) {
    case RecipientState::kPending:
      return "pending";
    case RecipientState::kDelivered:
      return "delivered";
    case RecipientState::kFailed:
      return "failed";
  }
  return "?";
}

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& path,
                                           SpoolOptions options,
                                           const Clock& clock) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(
          path.c_str(), &db,
          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
          nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kTemp, "cannot open " + path + ": " + msg);
  }
  std::unique_ptr<Spool> spool(new Spool(db, std::move(options), clock));
  sqlite3_busy_timeout(db, 10000);
  // WAL + synchronous=FULL: a commit is fsynced before it returns, so
  // Enqueue's caller may answer 250 (RFC 5321 §6.1 "MUST NOT lose").
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON"}) {
    if (auto st = Exec(db, pragma); !st) return Fail(st.error());
  }
  if (auto st = Exec(db, kSchema); !st) return Fail(st.error());
  return spool;
}

Spool::Spool(sqlite3* db, SpoolOptions options, const Clock& clock)
    : db_(db), options_(std::move(options)), clock_(clock) {}

Spool::~Spool() { sqlite3_close(db_); }

Result<uint64_t> Spool::InsertLocked(const Envelope& e, std::string_view data,
                                     int64_t now) {
  Stmt m(db_,
         "INSERT INTO message (mail_from, envid, ret, smtputf8, eight_bit, "
         "require_tls, auth_user, client_ip, created, size, data) "
         "VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  m.Bind(1, e.mail_from)
      .Bind(2, e.envid)
      .Bind(3, static_cast<int64_t>(e.ret))
      .Bind(4, int64_t{e.smtputf8})
      .Bind(5, int64_t{e.eight_bit})
      .Bind(6, int64_t{e.require_tls})
      .Bind(7, e.authenticated_user)
      .Bind(8, e.client_ip)
      .Bind(9, now)
      .Bind(10, static_cast<int64_t>(data.size()))
      .BindBlob(11, data);
  if (m.Step() != SQLITE_DONE) return DbError(db_, "insert message");
  uint64_t id = static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
  for (const auto& r : e.recipients) {
    Stmt q(db_,
           "INSERT INTO recipient (message_id, address, domain, notify, "
           "orcpt, next_attempt) VALUES (?,?,?,?,?,?)");
    q.Bind(1, static_cast<int64_t>(id))
        .Bind(2, r.address)
        .Bind(3, DomainOf(r.address))
        .Bind(4, int64_t{r.notify})
        .Bind(5, r.orcpt)
        .Bind(6, now);
    if (q.Step() != SQLITE_DONE) return DbError(db_, "insert recipient");
  }
  return id;
}

Result<uint64_t> Spool::Enqueue(const Envelope& envelope,
                                std::string_view data) {
  if (envelope.recipients.empty()) {
    return Fail(ErrorCode::kInvalid, "no recipients");
  }
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  if (auto st = tx.Begin(); !st) return Fail(st.error());
  auto id = InsertLocked(envelope, data, clock_.NowSeconds());
  if (!id) return id;
  if (auto st = tx.Commit(); !st) return Fail(st.error());
  return id;
}

Result<std::vector<WorkMessage>> Spool::Due(int64_t now, size_t limit,
                                            const std::set<uint64_t>& busy) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT r.id, r.address, r.domain, r.notify, r.orcpt, r.attempts, "
         "m.id, m.mail_from, m.envid, m.ret, m.smtputf8, m.eight_bit, "
         "m.require_tls, m.auth_user, m.client_ip, m.created, m.size "
         "FROM recipient r JOIN message m ON m.id = r.message_id "
         "WHERE r.state = 0 AND r.next_attempt <= ? "
         "ORDER BY r.next_attempt, r.id LIMIT ?");
  q.Bind(1, now).Bind(2, static_cast<int64_t>(limit + busy.size()));
  std::vector<WorkMessage> out;
  std::map<uint64_t, size_t> index;
  size_t taken = 0;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    uint64_t rid = static_cast<uint64_t>(q.Int(0));
    if (busy.count(rid)) continue;
    if (taken >= limit) break;
    ++taken;
    uint64_t mid = static_cast<uint64_t>(q.Int(6));
    auto it = index.find(mid);
    if (it == index.end()) {
      WorkMessage m;
      m.id = mid;
      m.envelope.mail_from = q.Text(7);
      m.envelope.envid = q.Text(8);
      m.envelope.ret = static_cast<Ret>(q.Int(9));
      m.envelope.smtputf8 = q.Int(10) != 0;
      m.envelope.eight_bit = q.Int(11) != 0;
      m.envelope.require_tls = q.Int(12) != 0;
      m.envelope.authenticated_user = q.Text(13);
      m.envelope.client_ip = q.Text(14);
      m.created = q.Int(15);
      m.size = static_cast<uint64_t>(q.Int(16));
      it = index.emplace(mid, out.size()).first;
      out.push_back(std::move(m));
    }
    WorkRecipient r;
    r.id = rid;
    r.address = q.Text(1);
    r.domain = q.Text(2);
    r.notify = static_cast<uint8_t>(q.Int(3));
    r.orcpt = q.Text(4);
    r.attempts = static_cast<uint32_t>(q.Int(5));
    out[it->second].recipients.push_back(std::move(r));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return DbError(db_, "due");
  return out;
}

Result<std::optional<int64_t>> Spool::NextDue(const std::set<uint64_t>& busy) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT id, next_attempt FROM recipient WHERE state = 0 "
         "ORDER BY next_attempt LIMIT ?");
  q.Bind(1, static_cast<int64_t>(busy.size() + 1));
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    if (!busy.count(static_cast<uint64_t>(q.Int(0)))) {
      return std::optional<int64_t>(q.Int(1));
    }
  }
  if (rc != SQLITE_DONE) return DbError(db_, "next due");
  return std::optional<int64_t>();
}

Result<std::string> Spool::LoadData(uint64_t message_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT data FROM message WHERE id = ?");
  q.Bind(1, static_cast<int64_t>(message_id));
  int rc = q.Step();
  if (rc == SQLITE_ROW) return q.Text(0);
  if (rc == SQLITE_DONE) return Fail(ErrorCode::kNotFound, "no such message");
  return DbError(db_, "load data");
}

Status Spool::Record(uint64_t message_id,
                     const std::vector<Outcome>& outcomes) {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowSeconds();
  Transaction tx(db_);
  if (auto st = tx.Begin(); !st) return st;
  Stmt mq(db_,
          "SELECT mail_from, envid, ret, smtputf8, created, warned, data "
          "FROM message WHERE id = ?");
  mq.Bind(1, static_cast<int64_t>(message_id));
  int rc = mq.Step();
  // Removed by `correio queue delete` while being delivered: nothing to do.
  if (rc == SQLITE_DONE) return {};
  if (rc != SQLITE_ROW) return DbError(db_, "record");
  std::string mail_from = mq.Text(0);
  int64_t created = mq.Int(4);
  bool warned = mq.Int(5) != 0;
  std::vector<DsnRecipient> failed, delayed, succeeded;
  for (const auto& o : outcomes) {
    Stmt rq(db_,
            "SELECT address, notify, orcpt, attempts, state FROM recipient "
            "WHERE id = ? AND message_id = ?");
    rq.Bind(1, static_cast<int64_t>(o.recipient_id))
        .Bind(2, static_cast<int64_t>(message_id));
    if (rq.Step() != SQLITE_ROW) continue;
    if (rq.Int(4) != 0) continue;  // already final
    DsnRecipient d;
    d.address = rq.Text(0);
    uint8_t notify = static_cast<uint8_t>(rq.Int(1));
    d.orcpt = rq.Text(2);
    uint32_t attempts = static_cast<uint32_t>(rq.Int(3)) + 1;
    d.status = o.status;
    d.diagnostic = o.diagnostic;
    d.remote_mta = o.remote_mta;
    d.explanation = o.explanation;
    d.last_attempt = now;
    std::string last_error =
        !o.diagnostic.empty() ? o.diagnostic : o.explanation;
    int64_t state = 0;
    int64_t next = 0;
    switch (o.kind) {
      case OutcomeKind::kDelivered:
        state = 1;
        break;
      case OutcomeKind::kFailed:
        state = 2;
        break;
      case OutcomeKind::kDeferred:
        next = NextAttempt(options_.retry_schedule, attempts, created, now,
                           options_.max_age_seconds);
        if (next < 0) {
          // RFC 3463 §3.5: 4.4.7 delivery time expired; reported as failed.
          state = 2;
          d.status = "4.4.7";
          if (d.explanation.empty()) {
            d.explanation = "delivery time expired";
          } else {
            d.explanation =
                "delivery time expired; last error: " + d.explanation;
          }
        }
        break;
    }
    Stmt up(db_,
            "UPDATE recipient SET state = ?, attempts = ?, next_attempt = ?, "
            "last_error = ? WHERE id = ?");
    up.Bind(1, state)
        .Bind(2, static_cast<int64_t>(attempts))
        .Bind(3, next)
        .Bind(4, last_error)
        .Bind(5, static_cast<int64_t>(o.recipient_id));
    if (up.Step() != SQLITE_DONE) return DbError(db_, "update recipient");
    if (state == 2 && WantsFailure(notify)) {
      d.action = "failed";
      failed.push_back(d);
    } else if (state == 1 && !o.success_action.empty() &&
               WantsSuccess(notify)) {
      d.action = o.success_action;
      succeeded.push_back(d);
    } else if (state == 0 && options_.delay_warning_seconds > 0 && !warned &&
               now - created >=
                   static_cast<int64_t>(options_.delay_warning_seconds) &&
               WantsDelay(notify)) {
      d.action = "delayed";
      delayed.push_back(d);
    }
  }
  // Never bounce a bounce (RFC 5321 §6.1, RFC 3461 §6.2): null sender.
  if (!mail_from.empty()) {
    for (auto* list : {&failed, &delayed, &succeeded}) {
      if (list->empty()) continue;
      DsnInput in;
      in.reporting_mta = options_.hostname;
      in.original_sender = mail_from;
      in.envid = mq.Text(1);
      in.ret = static_cast<Ret>(mq.Int(2));
      in.smtputf8 = mq.Int(3) != 0;
      in.arrival = created;
      in.now = now;
      in.recipients = *list;
      std::string original = mq.Text(6);
      in.original = original;
      // Record runs once per destination domain: the first recipient's
      // id keeps two reports about one message apart (Message-ID).
      in.unique = fmt::format("{}.{}.{}", message_id,
                              list == &failed    ? 1
                              : list == &delayed ? 2
                                                 : 3,
                              outcomes.front().recipient_id);
      std::string dsn = BuildDsn(in);
      auto id = InsertLocked(DsnEnvelope(mail_from, in.smtputf8), dsn, now);
      if (!id) return Fail(id.error());
    }
    if (!delayed.empty()) {
      Stmt w(db_, "UPDATE message SET warned = 1 WHERE id = ?");
      w.Bind(1, static_cast<int64_t>(message_id));
      if (w.Step() != SQLITE_DONE) return DbError(db_, "mark warned");
    }
  }
  // A message with no pending recipient is done.
  Stmt pending(db_,
               "SELECT COUNT(*) FROM recipient WHERE message_id = ? AND "
               "state = 0");
  pending.Bind(1, static_cast<int64_t>(message_id));
  if (pending.Step() != SQLITE_ROW) return DbError(db_, "count pending");
  if (pending.Int(0) == 0) {
    Stmt dr(db_, "DELETE FROM recipient WHERE message_id = ?");
    dr.Bind(1, static_cast<int64_t>(message_id));
    Stmt dm(db_, "DELETE FROM message WHERE id = ?");
    dm.Bind(1, static_cast<int64_t>(message_id));
    if (dr.Step() != SQLITE_DONE || dm.Step() != SQLITE_DONE) {
      return DbError(db_, "delete message");
    }
  }
  return tx.Commit();
}

Result<std::vector<EntryInfo>> Spool::List() {
  std::lock_guard lock(mu_);
  std::vector<EntryInfo> out;
  std::map<uint64_t, size_t> index;
  Stmt q(db_,
         "SELECT m.id, m.mail_from, m.created, m.size, r.id, r.address, "
         "r.state, r.attempts, r.next_attempt, r.last_error FROM message m "
         "JOIN recipient r ON r.message_id = m.id ORDER BY m.id, r.id");
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    uint64_t mid = static_cast<uint64_t>(q.Int(0));
    auto it = index.find(mid);
    if (it == index.end()) {
      EntryInfo e;
      e.id = mid;
      e.mail_from = q.Text(1);
      e.created = q.Int(2);
      e.size = static_cast<uint64_t>(q.Int(3));
      it = index.emplace(mid, out.size()).first;
      out.push_back(std::move(e));
    }
    RecipientInfo r;
    r.id = static_cast<uint64_t>(q.Int(4));
    r.address = q.Text(5);
    r.state = static_cast<RecipientState>(q.Int(6));
    r.attempts = static_cast<uint32_t>(q.Int(7));
    r.next_attempt = q.Int(8);
    r.last_error = q.Text(9);
    out[it->second].recipients.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "list");
  return out;
}

Result<EntryInfo> Spool::Show(uint64_t id) {
  auto all = List();
  if (!all) return Fail(all.error());
  for (auto& e : *all) {
    if (e.id == id) return std::move(e);
  }
  return Fail(ErrorCode::kNotFound, fmt::format("no queue entry {}", id));
}

Result<uint64_t> Spool::Retry(std::optional<uint64_t> id) {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowSeconds();
  if (id) {
    Stmt e(db_, "SELECT 1 FROM message WHERE id = ?");
    e.Bind(1, static_cast<int64_t>(*id));
    if (e.Step() != SQLITE_ROW) {
      return Fail(ErrorCode::kNotFound, fmt::format("no queue entry {}", *id));
    }
  }
  Stmt q(db_, id ? "UPDATE recipient SET next_attempt = ? WHERE state = 0 "
                   "AND message_id = ?"
                 : "UPDATE recipient SET next_attempt = ? WHERE state = 0");
  q.Bind(1, now);
  if (id) q.Bind(2, static_cast<int64_t>(*id));
  if (q.Step() != SQLITE_DONE) return DbError(db_, "retry");
  return static_cast<uint64_t>(sqlite3_changes(db_));
}

Status Spool::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  if (auto st = tx.Begin(); !st) return st;
  Stmt dr(db_, "DELETE FROM recipient WHERE message_id = ?");
  dr.Bind(1, static_cast<int64_t>(id));
  if (dr.Step() != SQLITE_DONE) return DbError(db_, "remove");
  Stmt dm(db_, "DELETE FROM message WHERE id = ?");
  dm.Bind(1, static_cast<int64_t>(id));
  if (dm.Step() != SQLITE_DONE) return DbError(db_, "remove");
  if (sqlite3_changes(db_) == 0) {
    return Fail(ErrorCode::kNotFound, fmt::format("no queue entry {}", id));
  }
  return tx.Commit();
}

}  // namespace correio::queue
