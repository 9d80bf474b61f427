#include "store/sqlite/sqlite_store.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <semaphore>
#include <set>
#include <span>
#include <thread>

#include "base/clock.h"
#include "base/shared_counter.h"
#include "base/strings.h"
#include "base/thread_name.h"
#include "store/sqlite/sqlite_db.h"
#include "store/uid_set.h"

namespace correio::store {
namespace {

using sqlite::BlobValue;
using sqlite::Db;
using sqlite::StaticBlob;
using sqlite::Stmt;

#define TRY(expr)                                          \
  do {                                                     \
    if (auto _st = (expr); !_st) return Fail(_st.error()); \
  } while (0)

// Schema migrations, applied in order inside one transaction; index i moves
// user_version i to i+1. Never edit a shipped entry: append a new one.
// docs/schema.md explains every table.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE domains (
  name TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,
  domain TEXT NOT NULL REFERENCES domains(name),
  password_hash TEXT NOT NULL DEFAULT '',
  scram_salt BLOB,
  scram_iterations INTEGER NOT NULL DEFAULT 0,
  scram_stored_key BLOB,
  scram_server_key BLOB,
  quota_bytes INTEGER NOT NULL DEFAULT 0,
  quota_messages INTEGER NOT NULL DEFAULT 0,
  pop3_delete_mode TEXT,
  pop3_download_once INTEGER,
  created INTEGER NOT NULL,
  used_bytes INTEGER NOT NULL DEFAULT 0,
  used_messages INTEGER NOT NULL DEFAULT 0,
  last_uid_validity INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX accounts_domain ON accounts(domain);

CREATE TABLE aliases (
  source TEXT PRIMARY KEY,
  domain TEXT NOT NULL REFERENCES domains(name),
  targets TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX aliases_domain ON aliases(domain);

CREATE TABLE mailboxes (
  id INTEGER PRIMARY KEY,
  account INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  special_use INTEGER NOT NULL DEFAULT 0,
  uid_validity INTEGER NOT NULL,
  uid_next INTEGER NOT NULL DEFAULT 1,
  highest_modseq INTEGER NOT NULL DEFAULT 1,
  UNIQUE (account, name)
);

CREATE TABLE subscriptions (
  account INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  PRIMARY KEY (account, name)
) WITHOUT ROWID;

CREATE TABLE blobs (
  id INTEGER PRIMARY KEY,
  hash BLOB NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  refcount INTEGER NOT NULL,
  summary BLOB NOT NULL,
  data BLOB NOT NULL
);

CREATE VIRTUAL TABLE blob_text USING fts5(headers, body, tokenize='trigram');

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  mailbox INTEGER NOT NULL REFERENCES mailboxes(id),
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  flags INTEGER NOT NULL DEFAULT 0,
  keywords TEXT NOT NULL DEFAULT '',
  internal_date INTEGER NOT NULL,
  save_date INTEGER NOT NULL,
  size INTEGER NOT NULL,
  blob INTEGER NOT NULL REFERENCES blobs(id),
  UNIQUE (mailbox, uid)
);
CREATE INDEX messages_blob ON messages(blob);

CREATE TABLE expunged (
  mailbox INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox, modseq);
)sql",
    // 1 -> 2: UIDVALIDITY from one store-wide counter (unique even when an
    // account is removed and re-created); POP3 download_once marks.
    R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value)
  SELECT 'last_uid_validity',
         max(coalesce((SELECT max(last_uid_validity) FROM accounts), 0),
             coalesce((SELECT max(uid_validity) FROM mailboxes), 0));
ALTER TABLE accounts DROP COLUMN last_uid_validity;
ALTER TABLE messages ADD COLUMN pop3_downloaded INTEGER NOT NULL DEFAULT 0;
)sql",
    // 2 -> 3: the expunge log can be compacted (imap.expunge_log_days):
    // when each record was made, and per mailbox the highest MODSEQ whose
    // records may be gone. Older records count as made at time 0.
    R"sql(
ALTER TABLE expunged ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN expunge_floor INTEGER NOT NULL DEFAULT 0;
CREATE INDEX expunged_at ON expunged(at);
)sql",
    // 3 -> 4: the APOP secret (RFC 1939 §7), kept only while pop3.apop is on.
    R"sql(
ALTER TABLE accounts ADD COLUMN apop_secret TEXT NOT NULL DEFAULT '';
)sql",
    // 4 -> 5: the full-text index moves to its own file (search.db, built
    // by the indexer thread off the delivery path; docs/schema.md). What is
    // not indexed yet waits in fts_pending; blobs whose last reference went
    // away stay (refcount 0) until the indexer has dropped their index row.
    // Blob ids come from a counter and are never reused, so no text in
    // search.db (or a read in flight) can ever name another body.
    R"sql(
INSERT INTO meta(key, value)
  SELECT 'last_blob_id', coalesce(max(id), 0) FROM blobs;
CREATE TABLE fts_pending (
  blob INTEGER PRIMARY KEY,
  headers TEXT NOT NULL,
  body TEXT NOT NULL
);
INSERT INTO fts_pending(blob, headers, body)
  SELECT rowid, headers, body FROM blob_text;
DROP TABLE blob_text;
CREATE INDEX blobs_garbage ON blobs(id) WHERE refcount = 0;
)sql",
    // 5 -> 6: a covering index for ListView (SELECT): the view's columns in
    // uid order without a table lookup per message; 10^6 messages scan in
    // ~180 instead of ~270 ms. It costs about 35 octets a message and one
    // more index entry to rewrite per flag change. And when each pending
    // text was queued (unix seconds; older rows count as long ago), so the
    // indexer can leave young mail for later (SqliteOptions::index_delay);
    // indexed, because the column sits after the text and reading it from
    // the table walks each row's overflow pages.
    R"sql(
CREATE INDEX messages_view ON messages(mailbox, uid, modseq, flags, keywords);
ALTER TABLE fts_pending ADD COLUMN queued_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX fts_pending_queued ON fts_pending(queued_at, blob);
)sql",
    // 6 -> 7: a pending text can be where it stands in its blob's octets
    // (body_at, body_size; body then empty) instead of a second copy: for
    // most mail the decoded text is the body as sent, and the copy doubled
    // what a delivery wrote (NewBlob::search_text_in_data).
    R"sql(
ALTER TABLE fts_pending ADD COLUMN body_at INTEGER;
ALTER TABLE fts_pending ADD COLUMN body_size INTEGER;
)sql",
    // 7 -> 8: reference counts move to a table of their own. A blob's row
    // holds its body, so it fills its own leaf page (and overflow pages),
    // and each refcount change rewrote that page: a POP3 QUIT deleting
    // 6,573 messages dirtied 6,573 pages (26 MB of WAL). blob_refs rows
    // are two integers, hundreds to a page. blobs.refcount stays, unused
    // (new rows write 0): dropping a column rewrites the table, every body
    // in it.
    R"sql(
CREATE TABLE blob_refs (
  id INTEGER PRIMARY KEY,
  refcount INTEGER NOT NULL
);
INSERT INTO blob_refs(id, refcount) SELECT id, refcount FROM blobs;
DROP INDEX blobs_garbage;
CREATE INDEX blob_refs_garbage ON blob_refs(id) WHERE refcount = 0;
)sql",
};
static_assert(std::size(kMigrations) == kSqliteSchemaVersion);

// The full-text index database (schema version 5 on): FTS5 trigram over
// the decoded headers and body of every blob, rowid = blobs.id.
constexpr char kSearchSchema[] =
    "CREATE VIRTUAL TABLE IF NOT EXISTS blob_text USING fts5(headers, body, "
    "tokenize='trigram')";

// Size and summary of a live blob (refcount > 0; a garbage blob waiting
// for the indexer reads as gone): GetBlobInfo and ReadBlobHeads.
constexpr char kLiveBlobInfo[] =
    "SELECT b.size, b.summary FROM blobs b JOIN blob_refs r ON r.id = b.id "
    "WHERE b.id = ? AND r.refcount > 0";

// The indexer moves at most this much text per transaction (at least one
// blob), so one batch never holds search.db's write lock long.
constexpr size_t kIndexBatchBytes = 1 << 20;
constexpr int kIndexBatchRows = 256;
// ScanView reports a mailbox's uid range as the room for its view, up to
// this many entries: a receiver reserves up to ~11 octets each (46 MB of
// address space, untouched beyond the rows). A mailbox of more messages
// than this grows its view as the rows come (copies on the way).
constexpr size_t kMaxViewRoom = size_t{1} << 22;

std::string MailboxKey(std::string_view name) {
  // INBOX is case-insensitive (RFC 9051 §5.1); every other name is exact.
  if (EqualsIgnoreCase(name, "INBOX")) return "INBOX";
  return std::string(name);
}

std::string JoinKeywords(const std::vector<std::string>& k) {
  std::string out;
  for (const auto& s : k) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

std::vector<std::string> SplitKeywords(const std::string& s) {
  std::vector<std::string> out;
  for (auto part : SplitString(s, ' ')) {
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

std::string Sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// FTS5 query syntax: a string in double quotes is one phrase; a double quote
// inside is written twice. With the trigram tokenizer a phrase matches as a
// case-insensitive substring.
std::string FtsPhrase(std::string_view needle) {
  std::string out = "\"";
  for (char c : needle) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// LIKE pattern for a literal substring, '\' as the escape character.
std::string LikePattern(std::string_view needle) {
  std::string out = "%";
  for (char c : needle) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  out += '%';
  return out;
}

#define MAILBOX_COLS                                                     \
  "m.id, m.account, m.name, m.special_use, m.uid_validity, m.uid_next, " \
  "m.highest_modseq, EXISTS(SELECT 1 FROM subscriptions s "              \
  "WHERE s.account = m.account AND s.name = m.name)"

Mailbox ReadMailbox(const Stmt& s) {
  Mailbox m;
  m.id = s.Int(0);
  m.account = s.Int(1);
  m.name = s.Text(2);
  m.special_use = static_cast<SpecialUse>(s.Int(3));
  m.uid_validity = static_cast<uint32_t>(s.Int(4));
  m.uid_next = static_cast<Uid>(s.Int(5));
  m.highest_modseq = static_cast<ModSeq>(s.Int(6));
  m.subscribed = s.Int(7) != 0;
  return m;
}

#define ACCOUNT_COLS                                                  \
  "id, address, password_hash, scram_salt, scram_iterations, "        \
  "scram_stored_key, scram_server_key, quota_bytes, quota_messages, " \
  "pop3_delete_mode, pop3_download_once, created, apop_secret"

// Live bodies the full-text index lacks: neither indexed nor waiting in
// fts_pending (a lost search.db). CheckIntegrity reports them and Reindex
// gives them back.
// Index rows of bodies that are gone (an index restored from a backup
// other than correio.db's): at or below the blob id counter, which
// opening the store raises past every index row (KeepBlobIdsAboveTheIndex),
// and without a blob. Ids are never reused, so such a row never gets one
// back, while a body stored after the snapshot has a higher id and is never
// taken for one. CheckIntegrity reports them and Reindex drops them.
#define STALE_INDEX_ROWS                                                 \
  "FROM fts.blob_text t WHERE t.rowid <= (SELECT value FROM meta WHERE " \
  "key = 'last_blob_id') AND NOT EXISTS (SELECT 1 FROM blobs b WHERE "   \
  "b.id = t.rowid)"

#define UNINDEXED_BLOBS                                                  \
  "FROM blob_refs b WHERE b.refcount > 0 AND NOT EXISTS "                \
  "(SELECT 1 FROM fts.blob_text t WHERE t.rowid = b.id) AND NOT EXISTS " \
  "(SELECT 1 FROM fts_pending p WHERE p.blob = b.id)"

Account ReadAccount(const Stmt& s) {
  Account a;
  a.id = s.Int(0);
  a.address = s.Text(1);
  a.password_hash = s.Text(2);
  a.scram.salt = s.Text(3);
  a.scram.iterations = static_cast<uint32_t>(s.Int(4));
  a.scram.stored_key = s.Text(5);
  a.scram.server_key = s.Text(6);
  a.quota_bytes = static_cast<uint64_t>(s.Int(7));
  a.quota_messages = static_cast<uint64_t>(s.Int(8));
  if (!s.IsNull(9)) a.settings.pop3_delete_mode = s.Text(9);
  if (!s.IsNull(10)) a.settings.pop3_download_once = s.Int(10) != 0;
  a.created = s.Int(11);
  a.apop_secret = s.Text(12);
  return a;
}

#define MESSAGE_COLS                                                      \
  "id, mailbox, uid, modseq, flags, keywords, internal_date, save_date, " \
  "size, blob"

MessageRow ReadMessage(const Stmt& s) {
  MessageRow m;
  m.id = s.Int(0);
  m.mailbox = s.Int(1);
  m.uid = static_cast<Uid>(s.Int(2));
  m.modseq = static_cast<ModSeq>(s.Int(3));
  m.flags.system = static_cast<uint32_t>(s.Int(4));
  m.flags.keywords = SplitKeywords(s.Text(5));
  m.internal_date = s.Int(6);
  m.save_date = s.Int(7);
  m.size = static_cast<uint64_t>(s.Int(8));
  m.blob = s.Int(9);
  return m;
}

// A unit of work for the writer thread (see the header: group commit).
struct Job {
  std::function<Status(Db&, std::vector<Change>&)> fn;
  Status status;
  std::vector<Change> changes;
  // Released by the writer once the batch is over: only this job's caller
  // wakes (a shared condition variable woke every waiting caller per
  // commit). The caller owns the Job; the writer touches it no more after.
  std::binary_semaphore done{0};
  // Set for WriteAsync: called instead (the writer owns such a job).
  std::function<void(Status)> on_done;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteOptions options, ChangeHub* hub, std::unique_ptr<Db> writer,
              std::unique_ptr<Db> indexer, std::unique_ptr<Db> checkpointer,
              std::unique_ptr<SharedCounter> directory)
      : options_(std::move(options)),
        hub_(hub),
        directory_(std::move(directory)),
        writer_(std::move(writer)),
        checkpoint_db_(std::move(checkpointer)),
        indexer_db_(std::move(indexer)) {
    // Replaces SQLite's automatic checkpoint on the writer (see
    // OnWalCommit).
    sqlite3_wal_hook(writer_->raw(), &SqliteStore::OnWalCommit, this);
    checkpoint_thread_ = std::thread([this] {
      SetThreadName("store-ckpt");
      CheckpointLoop();
    });
    thread_ = std::thread([this] {
      SetThreadName("store-writer");
      WriterLoop();
    });
    if (options_.background_index) {
      index_thread_ = std::thread([this] {
        SetThreadName("store-indexer");
        IndexLoop();
      });
    }
  }

  ~SqliteStore() override {
    if (index_thread_.joinable()) {
      {
        std::lock_guard lock(index_wake_mu_);
        index_stop_ = true;
      }
      index_wake_cv_.notify_all();
      index_thread_.join();  // before the writer: it submits write jobs
    }
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    thread_.join();
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpoint_thread_.join();
  }

  // ---- Domains ----
  Status AddDomain(std::string_view name) override {
    std::string n = AsciiLowercase(name);
    if (n.empty()) return Fail(ErrorCode::kInvalid, "empty domain");
    return WriteDirectory([&](Db& db, std::vector<Change>&) -> Status {
      auto s = db.Prepare("SELECT 1 FROM domains WHERE name = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(n).Step();
      if (!row) return Fail(row.error());
      if (*row) return Fail(ErrorCode::kExists, "domain exists: " + n);
      return db.Run("INSERT INTO domains(name) VALUES (?)", n);
    });
  }

  Status RemoveDomain(std::string_view name) override {
    std::string n = AsciiLowercase(name);
    return WriteDirectory([&](Db& db, std::vector<Change>&) -> Status {
      auto s = db.Prepare(
          "SELECT EXISTS(SELECT 1 FROM domains WHERE name = ?1), "
          "EXISTS(SELECT 1 FROM accounts WHERE domain = ?1), "
          "EXISTS(SELECT 1 FROM aliases WHERE domain = ?1)");
      if (!s) return Fail(s.error());
      auto row = s->Bind(n).Step();
      if (!row) return Fail(row.error());
      if (!s->Int(0)) return Fail(ErrorCode::kNotFound, "no domain " + n);
      if (s->Int(1) || s->Int(2)) {
        return Fail(ErrorCode::kInUse, "domain in use: " + n);
      }
      return db.Run("DELETE FROM domains WHERE name = ?", n);
    });
  }

  Result<std::vector<Domain>> ListDomains() override {
    return Read([&](Db& db) -> Result<std::vector<Domain>> {
      auto s = db.Prepare("SELECT name FROM domains ORDER BY name");
      if (!s) return Fail(s.error());
      std::vector<Domain> out;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back(Domain{s->Text(0)});
      }
      return out;
    });
  }

  Result<bool> HasDomain(std::string_view name) override {
    std::string n = AsciiLowercase(name);
    return Read([&](Db& db) -> Result<bool> {
      auto s = db.Prepare("SELECT 1 FROM domains WHERE name = ?");
      if (!s) return Fail(s.error());
      return s->Bind(n).Step();
    });
  }

  uint64_t DirectoryVersion() override {
    // +1: 0 means "not tracked" (no counter file).
    return directory_ ? directory_->Load() + 1 : 0;
  }

  // ---- Accounts ----
  Result<Account> CreateAccount(const Account& account) override {
    Account a = account;
    a.address = NormalizeAddress(account.address);
    auto parts = SplitAddress(a.address);
    if (!parts) return Fail(ErrorCode::kInvalid, "bad address " + a.address);
    a.created = SystemClock().NowSeconds();
    return WriteDirectory<Account>([&](Db& db, auto&) -> Result<Account> {
      auto s = db.Prepare(
          "SELECT EXISTS(SELECT 1 FROM domains WHERE name = ?1), "
          "EXISTS(SELECT 1 FROM accounts WHERE address = ?2), "
          "EXISTS(SELECT 1 FROM aliases WHERE source = ?2)");
      if (!s) return Fail(s.error());
      auto row = s->Bind(parts->domain, a.address).Step();
      if (!row) return Fail(row.error());
      if (!s->Int(0)) {
        return Fail(ErrorCode::kNotFound, "no domain " + parts->domain);
      }
      if (s->Int(1) || s->Int(2)) {
        return Fail(ErrorCode::kExists, "address taken: " + a.address);
      }
      TRY(db.Run(
          "INSERT INTO accounts(address, domain, password_hash, scram_salt, "
          "scram_iterations, scram_stored_key, scram_server_key, quota_bytes, "
          "quota_messages, pop3_delete_mode, pop3_download_once, created, "
          "apop_secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          a.address, parts->domain, a.password_hash, BlobValue{a.scram.salt},
          a.scram.iterations, BlobValue{a.scram.stored_key},
          BlobValue{a.scram.server_key}, a.quota_bytes, a.quota_messages,
          a.settings.pop3_delete_mode, a.settings.pop3_download_once,
          a.created, a.apop_secret));
      a.id = db.LastInsertId();
      for (const auto& d : DefaultMailboxes()) {
        auto m = InsertMailbox(db, a.id, d.name, d.use);
        if (!m) return Fail(m.error());
        TRY(db.Run("INSERT INTO subscriptions(account, name) VALUES (?, ?)",
                   a.id, d.name));
      }
      return a;
    });
  }

  Result<Account> GetAccount(std::string_view address) override {
    std::string addr = NormalizeAddress(address);
    return Read([&](Db& db) -> Result<Account> {
      auto s =
          db.Prepare("SELECT " ACCOUNT_COLS " FROM accounts WHERE address = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(addr).Step();
      if (!row) return Fail(row.error());
      if (!*row) return Fail(ErrorCode::kNotFound, "no account " + addr);
      return ReadAccount(*s);
    });
  }

  Result<Account> GetAccountById(AccountId id) override {
    return Read([&](Db& db) -> Result<Account> {
      auto s = db.Prepare("SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(id).Step();
      if (!row) return Fail(row.error());
      if (!*row) return Fail(ErrorCode::kNotFound, "no account");
      return ReadAccount(*s);
    });
  }

  Result<std::vector<Account>> ListAccounts() override {
    return Read([&](Db& db) -> Result<std::vector<Account>> {
      auto s =
          db.Prepare("SELECT " ACCOUNT_COLS " FROM accounts ORDER BY address");
      if (!s) return Fail(s.error());
      std::vector<Account> out;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back(ReadAccount(*s));
      }
      return out;
    });
  }

  Status SetCredentials(AccountId id, std::string_view password_hash,
                        const ScramCredentials& scram) override {
    std::string hash(password_hash);
    return UpdateAccount([&](Db& db) {
      return db.Run(
          "UPDATE accounts SET password_hash = ?, scram_salt = ?, "
          "scram_iterations = ?, scram_stored_key = ?, scram_server_key = ? "
          "WHERE id = ?",
          hash, BlobValue{scram.salt}, scram.iterations,
          BlobValue{scram.stored_key}, BlobValue{scram.server_key}, id);
    });
  }

  Status SetApopSecret(AccountId id, std::string_view secret) override {
    std::string value(secret);
    return UpdateAccount([&](Db& db) {
      return db.Run("UPDATE accounts SET apop_secret = ? WHERE id = ?", value,
                    id);
    });
  }

  Status SetQuota(AccountId id, uint64_t bytes, uint64_t messages) override {
    return UpdateAccount([&](Db& db) {
      return db.Run(
          "UPDATE accounts SET quota_bytes = ?, quota_messages = ? "
          "WHERE id = ?",
          bytes, messages, id);
    });
  }

  Status SetAccountSettings(AccountId id,
                            const AccountSettings& settings) override {
    return UpdateAccount([&](Db& db) {
      return db.Run(
          "UPDATE accounts SET pop3_delete_mode = ?, pop3_download_once = ? "
          "WHERE id = ?",
          settings.pop3_delete_mode, settings.pop3_download_once, id);
    });
  }

  Status RemoveAccount(AccountId id) override {
    return WriteDirectory([&](Db& db, std::vector<Change>& changes) -> Status {
      auto s = db.Prepare("SELECT id FROM mailboxes WHERE account = ?");
      if (!s) return Fail(s.error());
      s->Bind(id);
      std::vector<MailboxId> boxes;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        boxes.push_back(s->Int(0));
      }
      for (MailboxId m : boxes) TRY(DeleteMailboxIn(db, m, changes));
      TRY(db.Run("DELETE FROM subscriptions WHERE account = ?", id));
      TRY(db.Run("DELETE FROM accounts WHERE id = ?", id));
      if (db.Changes() == 0) return Fail(ErrorCode::kNotFound, "no account");
      return {};
    });
  }

  Result<QuotaUsage> GetQuotaUsage(AccountId id) override {
    return Read([&](Db& db) -> Result<QuotaUsage> {
      auto s = db.Prepare(
          "SELECT used_bytes, used_messages FROM accounts WHERE id = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(id).Step();
      if (!row) return Fail(row.error());
      if (!*row) return Fail(ErrorCode::kNotFound, "no account");
      return QuotaUsage{static_cast<uint64_t>(s->Int(0)),
                        static_cast<uint64_t>(s->Int(1))};
    });
  }

  // ---- Aliases ----
  Status AddAlias(const Alias& alias) override {
    std::string source = AsciiLowercase(alias.source);
    auto at = source.rfind('@');
    if (at == std::string::npos || at + 1 == source.size() ||
        alias.targets.empty()) {
      return Fail(ErrorCode::kInvalid, "bad alias " + source);
    }
    std::string domain = source.substr(at + 1);
    std::string targets;
    for (const auto& t : alias.targets) {
      if (t.find('\n') != std::string::npos) {
        return Fail(ErrorCode::kInvalid, "bad alias target");
      }
      if (!targets.empty()) targets += '\n';
      targets += t;
    }
    return WriteDirectory([&](Db& db, std::vector<Change>&) -> Status {
      auto s = db.Prepare(
          "SELECT EXISTS(SELECT 1 FROM domains WHERE name = ?1), "
          "EXISTS(SELECT 1 FROM accounts WHERE address = ?2), "
          "EXISTS(SELECT 1 FROM aliases WHERE source = ?2)");
      if (!s) return Fail(s.error());
      auto row = s->Bind(domain, source).Step();
      if (!row) return Fail(row.error());
      if (!s->Int(0)) return Fail(ErrorCode::kNotFound, "no domain " + domain);
      if (s->Int(1) || s->Int(2)) {
        return Fail(ErrorCode::kExists, "address taken: " + source);
      }
      return db.Run(
          "INSERT INTO aliases(source, domain, targets) VALUES (?, ?, ?)",
          source, domain, targets);
    });
  }

  Status RemoveAlias(std::string_view source) override {
    std::string src = AsciiLowercase(source);
    return WriteDirectory([&](Db& db, std::vector<Change>&) -> Status {
      TRY(db.Run("DELETE FROM aliases WHERE source = ?", src));
      if (db.Changes() == 0) return Fail(ErrorCode::kNotFound, "no alias");
      return {};
    });
  }

  Result<std::vector<Alias>> ListAliases() override {
    return Read([&](Db& db) -> Result<std::vector<Alias>> {
      auto s =
          db.Prepare("SELECT source, targets FROM aliases ORDER BY source");
      if (!s) return Fail(s.error());
      std::vector<Alias> out;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back(MakeAlias(s->Text(0), s->Text(1)));
      }
      return out;
    });
  }

  Result<Alias> GetAlias(std::string_view source) override {
    std::string src = AsciiLowercase(source);
    return Read([&](Db& db) -> Result<Alias> {
      auto s =
          db.Prepare("SELECT source, targets FROM aliases WHERE source = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(src).Step();
      if (!row) return Fail(row.error());
      if (!*row) return Fail(ErrorCode::kNotFound, "no alias " + src);
      return MakeAlias(s->Text(0), s->Text(1));
    });
  }

  // ---- Mailboxes ----
  Result<std::vector<Mailbox>> ListMailboxes(AccountId account) override {
    return Read([&](Db& db) -> Result<std::vector<Mailbox>> {
      TRY(CheckAccount(db, account));
      auto s = db.Prepare("SELECT " MAILBOX_COLS
                          " FROM mailboxes m WHERE m.account = ? "
                          "ORDER BY m.name");
      if (!s) return Fail(s.error());
      s->Bind(account);
      std::vector<Mailbox> out;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back(ReadMailbox(*s));
      }
      return out;
    });
  }

  Result<Mailbox> GetMailbox(AccountId account,
                             std::string_view name) override {
    std::string key = MailboxKey(name);
    return Read([&](Db& db) { return MailboxByName(db, account, key); });
  }

  Result<Mailbox> GetMailboxById(MailboxId id) override {
    return Read([&](Db& db) { return MailboxById(db, id); });
  }

  Result<Mailbox> CreateMailbox(AccountId account, std::string_view name,
                                SpecialUse use) override {
    if (name.empty()) return Fail(ErrorCode::kInvalid, "empty name");
    std::string key = MailboxKey(name);
    return Write<Mailbox>(
        [&](Db& db, std::vector<Change>& changes) -> Result<Mailbox> {
          TRY(CheckAccount(db, account));
          auto existing = MailboxByName(db, account, key);
          if (existing) return Fail(ErrorCode::kExists, "mailbox exists");
          if (existing.error().code() != ErrorCode::kNotFound) {
            return Fail(existing.error());
          }
          auto id = InsertMailbox(db, account, key, use);
          if (!id) return Fail(id.error());
          auto m = MailboxById(db, *id);
          if (!m) return Fail(m.error());
          Change c;
          c.kind = Change::Kind::kMailboxCreated;
          c.account = account;
          c.mailbox = m->id;
          c.mailbox_name = m->name;
          c.modseq = m->highest_modseq;
          changes.push_back(std::move(c));
          return m;
        });
  }

  Status DeleteMailbox(MailboxId id) override {
    return Write([&](Db& db, std::vector<Change>& changes) -> Status {
      return DeleteMailboxIn(db, id, changes);
    });
  }

  Status RenameMailbox(MailboxId id, std::string_view new_name) override {
    if (new_name.empty()) return Fail(ErrorCode::kInvalid, "empty name");
    std::string to = MailboxKey(new_name);
    return Write([&](Db& db, std::vector<Change>& changes) -> Status {
      auto box = MailboxById(db, id);
      if (!box) return Fail(box.error());
      const std::string& from = box->name;
      if (to == from) return Fail(ErrorCode::kExists, "same name");
      // The mailbox and every "from/..." child move together.
      std::string prefix = from + "/";
      auto s = db.Prepare(
          "SELECT id, name, highest_modseq FROM mailboxes WHERE account = ?1 "
          "AND (name = ?2 OR substr(name, 1, length(?3)) = ?3)");
      if (!s) return Fail(s.error());
      s->Bind(box->account, from, prefix);
      struct MoveOp {
        MailboxId id;
        std::string old_name, new_name;
        ModSeq modseq;
      };
      std::vector<MoveOp> moves;
      std::set<std::string> moving;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        std::string n = s->Text(1);
        moves.push_back({s->Int(0), n, to + n.substr(from.size()),
                         static_cast<ModSeq>(s->Int(2))});
        moving.insert(n);
      }
      for (const auto& m : moves) {
        auto other = MailboxByName(db, box->account, m.new_name);
        if (other && !moving.count(other->name)) {
          return Fail(ErrorCode::kExists, "mailbox exists: " + m.new_name);
        }
      }
      // Two steps so a rename onto a name that itself moves away ("a" to
      // "a/a") never trips UNIQUE(account, name) half way.
      for (const auto& m : moves) {
        TRY(db.Run("UPDATE mailboxes SET name = ? WHERE id = ?",
                   "\x01rename\x01" + std::to_string(m.id), m.id));
      }
      for (const auto& m : moves) {
        TRY(db.Run("UPDATE mailboxes SET name = ? WHERE id = ?", m.new_name,
                   m.id));
        // Subscriptions follow the rename, as Dovecot does.
        TRY(db.Run("DELETE FROM subscriptions WHERE account = ? AND name = ?",
                   box->account, m.old_name));
        if (db.Changes() > 0) {
          TRY(
              db.Run("INSERT OR IGNORE INTO subscriptions(account, name) "
                     "VALUES (?, ?)",
                     box->account, m.new_name));
        }
        Change c;
        c.kind = Change::Kind::kMailboxRenamed;
        c.account = box->account;
        c.mailbox = m.id;
        c.mailbox_name = m.new_name;
        c.old_name = m.old_name;
        c.modseq = m.modseq;
        changes.push_back(std::move(c));
      }
      return {};
    });
  }

  Status SetSubscribed(AccountId account, std::string_view name,
                       bool subscribed) override {
    std::string key = MailboxKey(name);
    return Write([&](Db& db, std::vector<Change>& changes) -> Status {
      TRY(CheckAccount(db, account));
      if (subscribed) {
        TRY(db.Run(
            "INSERT OR IGNORE INTO subscriptions(account, name) VALUES (?, ?)",
            account, key));
      } else {
        TRY(db.Run("DELETE FROM subscriptions WHERE account = ? AND name = ?",
                   account, key));
      }
      Change c;
      c.kind = Change::Kind::kSubscription;
      c.account = account;
      c.mailbox_name = key;
      if (auto m = MailboxByName(db, account, key)) {
        c.mailbox = m->id;
        c.modseq = m->highest_modseq;
      }
      changes.push_back(std::move(c));
      return {};
    });
  }

  Result<std::vector<std::string>> ListSubscriptions(
      AccountId account) override {
    return Read([&](Db& db) -> Result<std::vector<std::string>> {
      TRY(CheckAccount(db, account));
      auto s = db.Prepare(
          "SELECT name FROM subscriptions WHERE account = ? ORDER BY name");
      if (!s) return Fail(s.error());
      s->Bind(account);
      std::vector<std::string> out;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back(s->Text(0));
      }
      return out;
    });
  }

  Result<MailboxStatus> GetMailboxStatus(MailboxId id) override {
    return Read([&](Db& db) -> Result<MailboxStatus> {
      auto box = MailboxById(db, id);
      if (!box) return Fail(box.error());
      auto s = db.Prepare(
          "SELECT count(*), coalesce(sum((flags & ?2) = 0), 0), "
          "coalesce(sum((flags & ?3) != 0), 0), coalesce(sum(size), 0) "
          "FROM messages WHERE mailbox = ?1");
      if (!s) return Fail(s.error());
      auto row = s->Bind(id, kFlagSeen, kFlagDeleted).Step();
      if (!row) return Fail(row.error());
      MailboxStatus st;
      st.messages = static_cast<uint32_t>(s->Int(0));
      st.unseen = static_cast<uint32_t>(s->Int(1));
      st.deleted = static_cast<uint32_t>(s->Int(2));
      st.size = static_cast<uint64_t>(s->Int(3));
      return st;
    });
  }

  // ---- Messages ----
  Result<std::vector<Delivered>> Deliver(
      const NewBlob& blob, const std::vector<DeliveryTarget>& targets,
      uint64_t origin) override {
    if (targets.empty()) return Fail(ErrorCode::kInvalid, "no targets");
    // Hashed on the caller's thread so the writer thread only does SQL.
    std::string hash = Sha256(blob.data);
    int64_t now = SystemClock().NowSeconds();
    return Write<std::vector<Delivered>>(
        [&](Db& db, std::vector<Change>& changes) {
          return DeliverIn(db, blob, hash, targets, now, origin, changes);
        });
  }

  // The caller does not wait: the job carries its inputs, and `done` runs
  // on the writer thread after the batch (STYLE 13: the network thread that
  // calls this never blocks; fewer thread hand-offs than the pool's
  // Deliver, see bench/README.md).
  void DeliverToInboxesAsync(NewBlob blob, std::vector<AccountId> accounts,
                             int64_t internal_date, uint64_t origin,
                             DeliverDone done) override {
    if (accounts.empty()) {
      done(Fail(ErrorCode::kInvalid, "no targets"));
      return;
    }
    std::string hash = Sha256(blob.data);
    int64_t now = SystemClock().NowSeconds();
    // The job owns its inputs (moved in; the job is never copied).
    WriteAsync(
        [blob = std::move(blob), hash = std::move(hash),
         accounts = std::move(accounts), internal_date, now,
         origin](Db& db, std::vector<Change>& changes) -> Status {
          std::vector<DeliveryTarget> targets;
          for (AccountId id : accounts) {
            auto inbox = MailboxByName(db, id, "INBOX");
            if (!inbox) return Fail(inbox.error());
            DeliveryTarget t;
            t.mailbox = inbox->id;
            t.internal_date = internal_date;
            targets.push_back(t);
          }
          auto r = DeliverIn(db, blob, hash, targets, now, origin, changes);
          if (!r) return Fail(r.error());
          return {};
        },
        std::move(done));
  }

  Result<std::vector<Delivered>> AppendMany(
      const std::vector<NewMessage>& messages, uint64_t origin) override {
    if (messages.empty()) return Fail(ErrorCode::kInvalid, "no messages");
    std::vector<std::string> hashes;
    hashes.reserve(messages.size());
    for (const auto& m : messages) hashes.push_back(Sha256(m.blob.data));
    int64_t now = SystemClock().NowSeconds();
    return Write<std::vector<Delivered>>(
        [&](Db& db,
            std::vector<Change>& changes) -> Result<std::vector<Delivered>> {
          std::map<AccountId, QuotaUsage> adds;
          for (const auto& m : messages) {
            auto acc = MailboxAccount(db, m.target.mailbox);
            if (!acc) return Fail(acc.error());
            adds[*acc].bytes += m.blob.data.size();
            adds[*acc].messages++;
          }
          for (const auto& [acc, u] : adds) {
            TRY(CheckQuota(db, acc, u.bytes, u.messages));
          }
          std::vector<Delivered> out;
          for (size_t i = 0; i < messages.size(); ++i) {
            const NewMessage& m = messages[i];
            auto blob_id = AddBlobRef(db, m.blob, hashes[i], 1);
            if (!blob_id) return Fail(blob_id.error());
            auto d = InsertMessage(db, m.target, m.blob.data.size(), *blob_id,
                                   now, origin, changes);
            if (!d) return Fail(d.error());
            out.push_back(*d);
          }
          return out;
        });
  }

  Status ScanView(MailboxId mailbox, ViewReceiver& to) override {
    return Read([&](Db& db) -> Status {
      auto mb = MailboxById(db, mailbox);
      if (!mb) return Fail(mb.error());
      // The uids are the ends of the (mailbox, uid) index, two seeks. The
      // room is their range: the count unless messages were expunged, and
      // counting is a pass over the index of its own (37 ms of a 10^6
      // SELECT's ~250). Receivers reserve the room without touching it,
      // so a range wider than the count costs address space, not memory.
      // MODSEQs are not indexed, so their range is the mailbox's own: min
      // and max in one pass would take it to 150 ms.
      auto b = db.Prepare(
          "SELECT "
          "(SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid LIMIT 1), "
          "(SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid DESC "
          "LIMIT 1)");
      if (!b) return Fail(b.error());
      auto ends = b->Bind(mailbox).Step();
      if (!ends) return Fail(ends.error());
      ViewBounds bounds;
      if (*ends && !b->IsNull(0)) {
        auto lo = static_cast<Uid>(b->Int(0)), hi = static_cast<Uid>(b->Int(1));
        bounds = {std::min<size_t>(size_t{hi} - lo + 1, kMaxViewRoom), lo, hi,
                  0, mb->highest_modseq};
      }
      to.Begin(*mb, bounds);
      auto s = db.Prepare(
          "SELECT uid, modseq, flags, keywords FROM messages "
          "WHERE mailbox = ? ORDER BY uid");
      if (!s) return Fail(s.error());
      s->Bind(mailbox);
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        std::vector<std::string> keywords;
        if (s->Bytes(3) > 0) keywords = SplitKeywords(s->Text(3));
        to.Row({static_cast<Uid>(s->Int(0)), static_cast<uint32_t>(s->Int(2)),
                static_cast<ModSeq>(s->Int(1))},
               std::move(keywords));
      }
      return {};
    });
  }

  Result<std::vector<MessageRow>> GetMessages(MailboxId mailbox,
                                              const UidSet& uids) override {
    return Read([&](Db& db) -> Result<std::vector<MessageRow>> {
      TRY(MailboxAccount(db, mailbox));
      return SelectMessages(db, mailbox, uids);
    });
  }

  Result<BlobInfo> GetBlobInfo(BlobId blob) override {
    return Read([&](Db& db) -> Result<BlobInfo> {
      auto s = db.Prepare(kLiveBlobInfo);
      if (!s) return Fail(s.error());
      auto row = s->Bind(blob).Step();
      if (!row) return Fail(row.error());
      if (!*row) return Fail(ErrorCode::kNotFound, "no blob");
      return BlobInfo{blob, static_cast<uint64_t>(s->Int(0)), s->Text(1)};
    });
  }

  Result<std::string> ReadBlob(BlobId blob, uint64_t offset,
                               uint64_t length) override {
    auto db = AcquireReader();
    if (!db) return Fail(db.error());
    // A garbage blob (refcount 0, not swept yet) reads as gone, as it
    // would once the indexer has dropped it.
    Result<bool> live = [&]() -> Result<bool> {
      auto s =
          (*db)->Prepare("SELECT refcount > 0 FROM blob_refs WHERE id = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(blob).Step();
      if (!row) return Fail(row.error());
      return *row && s->Int(0) != 0;
    }();
    if (!live || !*live) {
      ReleaseReader(std::move(*db));
      if (!live) return Fail(live.error());
      return Fail(ErrorCode::kNotFound, "no blob");
    }
    // Incremental blob I/O reads only the pages of the requested range, so a
    // 20 MB body is streamed without loading it whole.
    sqlite3_blob* handle = nullptr;
    int rc = sqlite3_blob_open((*db)->raw(), "main", "blobs", "data", blob, 0,
                               &handle);
    Result<std::string> out;
    if (rc != SQLITE_OK) {
      bool missing = rc == SQLITE_ERROR;  // "no such rowid"
      out = missing ? Fail(ErrorCode::kNotFound, "no blob")
                    : Fail(sqlite::SqlError((*db)->raw(), rc, "blob open"));
    } else {
      uint64_t size = static_cast<uint64_t>(sqlite3_blob_bytes(handle));
      std::string data;
      if (offset < size) {
        uint64_t n = std::min(length, size - offset);
        data.resize(n);
        rc = sqlite3_blob_read(handle, data.data(), static_cast<int>(n),
                               static_cast<int>(offset));
      }
      if (rc != SQLITE_OK) {
        out = Fail(sqlite::SqlError((*db)->raw(), rc, "blob read"));
      } else {
        out = std::move(data);
      }
      sqlite3_blob_close(handle);
    }
    ReleaseReader(std::move(*db));
    return out;
  }

  Status ReadBlobHeads(const std::vector<BlobId>& blobs,
                       const BlobLength& length, const BlobGot& got) override {
    return Read([&](Db& db) -> Status {
      // One blob handle moved from row to row: sqlite3_blob_reopen costs a
      // seek, sqlite3_blob_open compiles a statement each time.
      sqlite3_blob* handle = nullptr;
      struct Close {
        sqlite3_blob*& h;
        ~Close() { sqlite3_blob_close(h); }
      } close{handle};
      for (size_t i = 0; i < blobs.size(); ++i) {
        std::optional<BlobInfo> info;
        {
          // Cached statement, reset when `s` goes out of scope.
          auto s = db.Prepare(kLiveBlobInfo);
          if (!s) return Fail(s.error());
          auto row = s->Bind(blobs[i]).Step();
          if (!row) return Fail(row.error());
          if (*row) {
            info = BlobInfo{blobs[i], static_cast<uint64_t>(s->Int(0)),
                            s->Text(1)};
          }
        }
        if (!info) {
          got(i, Fail(ErrorCode::kNotFound, "no blob"), "");
          continue;
        }
        std::string data;
        uint64_t n = std::min(length(i, *info), info->size);
        if (n > 0) {
          // In this read transaction's snapshot, like the row above.
          int rc = handle ? sqlite3_blob_reopen(handle, blobs[i])
                          : sqlite3_blob_open(db.raw(), "main", "blobs",
                                              "data", blobs[i], 0, &handle);
          if (rc == SQLITE_OK) {
            data.resize(n);
            rc = sqlite3_blob_read(handle, data.data(), static_cast<int>(n), 0);
          }
          if (rc != SQLITE_OK) {
            return Fail(sqlite::SqlError(db.raw(), rc, "blob read"));
          }
        }
        got(i, std::move(*info), std::move(data));
      }
      return {};
    });
  }

  Result<FlagResult> UpdateFlags(MailboxId mailbox, const UidSet& uids,
                                 const FlagUpdate& update,
                                 uint64_t origin) override {
    Flags given = update.flags;
    given.keywords = NormalizeKeywords(given.keywords);
    return Write<FlagResult>(
        [&](Db& db, std::vector<Change>& changes) -> Result<FlagResult> {
          auto box = MailboxById(db, mailbox);
          if (!box) return Fail(box.error());
          auto rows = SelectMessages(db, mailbox, uids);
          if (!rows) return Fail(rows.error());
          // One new MODSEQ for every message this command changes
          // (RFC 7162 §3.1.1 only asks that it exceed all earlier ones).
          ModSeq modseq = box->highest_modseq + 1;
          FlagResult out;
          for (const auto& m : *rows) {
            if (update.unchanged_since && m.modseq > *update.unchanged_since) {
              out.not_modified.push_back(m.uid);
              continue;
            }
            Flags next = ApplyFlagOp(m.flags, update.op, given);
            if (next == m.flags) continue;
            TRY(db.Run(
                "UPDATE messages SET flags = ?, keywords = ?, modseq = ? "
                "WHERE id = ?",
                next.system, JoinKeywords(next.keywords), modseq, m.id));
            out.changed.push_back(ViewEntry{m.uid, modseq, std::move(next)});
          }
          if (!out.changed.empty()) {
            TRY(db.Run("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?",
                       modseq, mailbox));
            Change c;
            c.kind = Change::Kind::kFlags;
            c.account = box->account;
            c.mailbox = mailbox;
            c.mailbox_name = box->name;
            c.messages = out.changed;
            c.modseq = modseq;
            c.origin = origin;
            changes.push_back(std::move(c));
          }
          return out;
        });
  }

  Result<ExpungeResult> Expunge(MailboxId mailbox, const UidSet& uids,
                                uint64_t origin, bool only_deleted) override {
    return Write<ExpungeResult>(
        [&](Db& db, std::vector<Change>& changes) -> Result<ExpungeResult> {
          auto box = MailboxById(db, mailbox);
          if (!box) return Fail(box.error());
          auto rows = SelectMessages(db, mailbox, uids);
          if (!rows) return Fail(rows.error());
          if (only_deleted) {
            std::erase_if(*rows, [](const MessageRow& m) {
              return !(m.flags.system & kFlagDeleted);
            });
          }
          ExpungeResult out;
          out.modseq = box->highest_modseq;
          if (rows->empty()) return out;
          out.modseq = box->highest_modseq + 1;
          TRY(db.Run("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?",
                     out.modseq, mailbox));
          for (const auto& m : *rows) {
            TRY(RemoveMessage(db, m, out.modseq));
            out.uids.push_back(m.uid);
          }
          TRY(RemoveUsage(db, box->account, *rows));
          Change c;
          c.kind = Change::Kind::kExpunged;
          c.account = box->account;
          c.mailbox = mailbox;
          c.mailbox_name = box->name;
          c.uids = out.uids;
          c.modseq = out.modseq;
          c.origin = origin;
          changes.push_back(std::move(c));
          return out;
        });
  }

  Result<CopyResult> Copy(MailboxId source, const UidSet& uids, MailboxId dest,
                          uint64_t origin) override {
    return CopyOrMove(source, uids, dest, origin, /*move=*/false);
  }

  Result<CopyResult> Move(MailboxId source, const UidSet& uids, MailboxId dest,
                          uint64_t origin) override {
    return CopyOrMove(source, uids, dest, origin, /*move=*/true);
  }

  Result<std::vector<Uid>> ExpungedSince(MailboxId mailbox,
                                         ModSeq since) override {
    return Read([&](Db& db) -> Result<std::vector<Uid>> {
      TRY(MailboxAccount(db, mailbox));
      auto s = db.Prepare(
          "SELECT uid FROM expunged WHERE mailbox = ? AND modseq > ? "
          "ORDER BY uid");
      if (!s) return Fail(s.error());
      s->Bind(mailbox, since);
      return Column<Uid>(*s);
    });
  }

  Result<ModSeq> ExpungeLogFloor(MailboxId mailbox) override {
    return Read([&](Db& db) -> Result<ModSeq> {
      auto s = db.Prepare("SELECT expunge_floor FROM mailboxes WHERE id = ?");
      if (!s) return Fail(s.error());
      auto row = s->Bind(mailbox).Step();
      if (!row) return Fail(row.error());
      if (!*row) return Fail(ErrorCode::kNotFound, "no mailbox");
      return static_cast<ModSeq>(s->Int(0));
    });
  }

  Result<uint64_t> CompactExpungeLog(int64_t before) override {
    return Write<uint64_t>(
        [&](Db& db, std::vector<Change>&) -> Result<uint64_t> {
          TRY(db.Run(
              "UPDATE mailboxes SET expunge_floor = max(expunge_floor, "
              "(SELECT max(e.modseq) FROM expunged e WHERE e.mailbox = "
              "mailboxes.id AND e.at < ?1)) WHERE id IN (SELECT mailbox FROM "
              "expunged WHERE at < ?1)",
              before));
          TRY(db.Run("DELETE FROM expunged WHERE at < ?", before));
          return static_cast<uint64_t>(db.Changes());
        });
  }

  Result<std::vector<Uid>> SearchText(MailboxId mailbox, TextField field,
                                      std::string_view needle) override {
    // Whatever of this mailbox the indexer has not reached yet is indexed
    // now, on this thread (as Dovecot's fts does at SEARCH).
    TRY(CatchUpIndex(mailbox));
    return Read([&](Db& db) -> Result<std::vector<Uid>> {
      TRY(MailboxAccount(db, mailbox));
      return IndexedUids(db, mailbox, field, needle);
    });
  }

  Result<std::vector<Uid>> HeaderCandidates(MailboxId mailbox,
                                            std::string_view needle,
                                            size_t messages_hint) override {
    // A few pending messages are cheaper to check by their headers than to
    // index; many (a mailbox just filled by a migration, younger than the
    // index delay) are indexed first, as SearchText would.
    constexpr size_t kMaxPendingCandidates = 16;
    auto candidates = PendingAndIndexed(mailbox, needle, messages_hint);
    if (!candidates) return Fail(candidates.error());
    if (candidates->second <= kMaxPendingCandidates) {
      return std::move(candidates->first);
    }
    TRY(CatchUpIndex(mailbox));
    candidates = PendingAndIndexed(mailbox, needle, messages_hint);
    if (!candidates) return Fail(candidates.error());
    return std::move(candidates->first);
  }

  // HeaderCandidates' answer, and how many of the candidates are pending.
  Result<std::pair<std::vector<Uid>, size_t>> PendingAndIndexed(
      MailboxId mailbox, std::string_view needle, size_t messages_hint) {
    using Out = std::pair<std::vector<Uid>, size_t>;
    return Read([&](Db& db) -> Result<Out> {
      TRY(MailboxAccount(db, mailbox));
      // Pending first: the indexer commits search.db before it deletes the
      // pending row, and each attached file's snapshot starts at its first
      // read, so a blob leaving fts_pending after this read is already in
      // the index the next read sees. Nothing falls between the two.
      //
      // Two ways to the mailbox's pending messages. A mailbox of up to
      // kProbeMessages is walked and each message looked up in
      // fts_pending (its primary key). A larger one (or an unknown size)
      // walks fts_pending instead, CROSS JOIN keeping it the outer loop:
      // that is every user's mail of the last index_delay, so it must not
      // be the way for the common small mailbox (1,500 pending messages of
      // other accounts made SEARCH SUBJECT 2 -> 10 ms).
      constexpr size_t kProbeMessages = 20000;
      bool probe = messages_hint != 0 && messages_hint <= kProbeMessages;
      auto s = db.Prepare(
          probe ? "SELECT m.uid FROM messages m WHERE m.mailbox = ? AND "
                  "EXISTS (SELECT 1 FROM fts_pending p WHERE p.blob = m.blob "
                  "AND p.queued_at >= 0)"
                : "SELECT m.uid FROM fts_pending p CROSS JOIN messages m "
                  "ON m.blob = p.blob WHERE m.mailbox = ? AND "
                  "p.queued_at >= 0");
      if (!s) return Fail(s.error());
      s->Bind(mailbox);
      auto pending = Column<Uid>(*s);
      if (!pending) return Fail(pending.error());
      auto indexed = IndexedUids(db, mailbox, TextField::kHeaders, needle);
      if (!indexed) return Fail(indexed.error());
      std::vector<Uid> out = std::move(*indexed);
      out.insert(out.end(), pending->begin(), pending->end());
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      return Out{std::move(out), pending->size()};
    });
  }

  // UIDs of `mailbox` whose indexed text has `needle` in `field`, from
  // search.db as it stands (pending text not included).
  static Result<std::vector<Uid>> IndexedUids(Db& db, MailboxId mailbox,
                                              TextField field,
                                              std::string_view needle) {
    // The trigram tokenizer needs at least 3 characters to use its index;
    // shorter needles are answered by LIKE over the same stored text
    // (ASCII case-insensitive, like the index).
    if (Utf8Length(needle) < 3) {
      std::string pattern = LikePattern(needle);
      const char* sql = nullptr;
      switch (field) {
        case TextField::kBody:
          sql = "SELECT m.uid FROM messages m JOIN fts.blob_text t "
                "ON t.rowid = m.blob WHERE m.mailbox = ?1 "
                "AND t.body LIKE ?2 ESCAPE '\\' ORDER BY m.uid";
          break;
        case TextField::kHeaders:
          sql = "SELECT m.uid FROM messages m JOIN fts.blob_text t "
                "ON t.rowid = m.blob WHERE m.mailbox = ?1 "
                "AND t.headers LIKE ?2 ESCAPE '\\' ORDER BY m.uid";
          break;
        case TextField::kText:
          sql = "SELECT m.uid FROM messages m JOIN fts.blob_text t "
                "ON t.rowid = m.blob WHERE m.mailbox = ?1 "
                "AND (t.body LIKE ?2 ESCAPE '\\' OR "
                "t.headers LIKE ?2 ESCAPE '\\') ORDER BY m.uid";
          break;
      }
      auto s = db.Prepare(sql);
      if (!s) return Fail(s.error());
      s->Bind(mailbox, pattern);
      return Column<Uid>(*s);
    }
    std::string query = FtsPhrase(needle);
    if (field == TextField::kBody) query = "body : " + query;
    if (field == TextField::kHeaders) query = "headers : " + query;
    auto s = db.Prepare(
        "SELECT uid FROM messages WHERE mailbox = ?1 AND blob IN "
        "(SELECT rowid FROM fts.blob_text WHERE blob_text MATCH ?2) "
        "ORDER BY uid");
    if (!s) return Fail(s.error());
    s->Bind(mailbox, query);
    return Column<Uid>(*s);
  }

  // ---- POP3 ----
  Status MarkPop3Downloaded(MailboxId mailbox, const UidSet& uids) override {
    return Write([&](Db& db, std::vector<Change>&) -> Status {
      TRY(MailboxAccount(db, mailbox));
      // No MODSEQ bump and no change event: invisible to IMAP.
      for (const auto& r : uids) {
        TRY(
            db.Run("UPDATE messages SET pop3_downloaded = 1 WHERE mailbox = ? "
                   "AND uid >= ? AND uid <= ? AND pop3_downloaded = 0",
                   mailbox, r.first, r.last));
      }
      return {};
    });
  }

  Result<std::vector<Uid>> Pop3Downloaded(MailboxId mailbox) override {
    return Read([&](Db& db) -> Result<std::vector<Uid>> {
      TRY(MailboxAccount(db, mailbox));
      auto s = db.Prepare(
          "SELECT uid FROM messages WHERE mailbox = ? AND pop3_downloaded "
          "ORDER BY uid");
      if (!s) return Fail(s.error());
      s->Bind(mailbox);
      return Column<Uid>(*s);
    });
  }

  StoreStats Stats() override {
    std::lock_guard lock(mu_);
    StoreStats out = stats_;
    out.queued = queue_.size();
    out.running = running_;
    out.index_wakes = index_wakes_.load(std::memory_order_relaxed);
    return out;
  }

  Result<std::vector<std::string>> CheckIntegrity() override {
    return Read([&](Db& db) -> Result<std::vector<std::string>> {
      std::vector<std::string> problems;
      auto collect = [&](const char* sql, const std::string& label) -> Status {
        auto s = db.Prepare(sql);
        if (!s) return Fail(s.error());
        for (;;) {
          auto row = s->Step();
          if (!row) return Fail(row.error());
          if (!*row) return {};
          std::string v = s->Text(0);
          if (v == "ok" && label == "integrity_check") continue;
          problems.push_back(label + ": " + v);
        }
      };
      TRY(collect("PRAGMA integrity_check", "integrity_check"));
      TRY(
          collect("SELECT \"table\" || ' row ' || rowid || ' -> ' || parent "
                  "FROM pragma_foreign_key_check",
                  "foreign key"));
      TRY(
          collect("SELECT 'message ' || m.id || ' names missing blob ' || "
                  "m.blob FROM messages m LEFT JOIN blobs b ON b.id = m.blob "
                  "WHERE b.id IS NULL",
                  "blob"));
      TRY(
          collect("SELECT 'blob ' || b.id || ' refcount ' || "
                  "coalesce(r.refcount, 'missing') || ' but ' || "
                  "(SELECT count(*) FROM messages m WHERE m.blob = b.id) || "
                  "' messages' FROM blobs b LEFT JOIN blob_refs r ON "
                  "r.id = b.id WHERE r.refcount IS NULL OR r.refcount != "
                  "(SELECT count(*) FROM messages m WHERE m.blob = b.id)",
                  "refcount"));
      TRY(
          collect("SELECT 'refcount of missing blob ' || r.id FROM "
                  "blob_refs r LEFT JOIN blobs b ON b.id = r.id "
                  "WHERE b.id IS NULL",
                  "refcount"));
      TRY(
          collect("SELECT 'blob ' || id || ' size ' || size || ' != ' || "
                  "length(data) FROM blobs WHERE size != length(data)",
                  "size"));
      TRY(
          collect("SELECT 'blob ' || b.id || ' neither indexed nor "
                  "pending' " UNINDEXED_BLOBS,
                  "fts"));
      // The sweep drops an index row before its blob row: one left behind
      // comes from an index restored apart from the store.
      TRY(collect(
          "SELECT 'index row ' || t.rowid || ' without blob' " STALE_INDEX_ROWS,
          "fts"));
      TRY(
          collect("SELECT 'blob ' || id || ' above the id counter' FROM blobs "
                  "WHERE id > (SELECT value FROM meta "
                  "WHERE key = 'last_blob_id')",
                  "blob id"));
      TRY(
          collect("SELECT 'pending index row ' || p.blob || ' without blob' "
                  "FROM fts_pending p WHERE NOT EXISTS (SELECT 1 FROM blobs "
                  "b WHERE b.id = p.blob)",
                  "fts"));
      TRY(
          collect("SELECT a.address || ' usage ' || a.used_bytes || '/' || "
                  "a.used_messages || ' but messages sum to ' || "
                  "coalesce(u.bytes, 0) || '/' || coalesce(u.n, 0) "
                  "FROM accounts a LEFT JOIN (SELECT mb.account AS account, "
                  "sum(m.size) AS bytes, count(*) AS n FROM messages m "
                  "JOIN mailboxes mb ON mb.id = m.mailbox "
                  "GROUP BY mb.account) u ON u.account = a.id "
                  "WHERE a.used_bytes != coalesce(u.bytes, 0) "
                  "OR a.used_messages != coalesce(u.n, 0)",
                  "quota"));
      TRY(
          collect("SELECT 'mailbox ' || mb.id || ' uid ' || m.uid || "
                  "' >= uid_next ' || mb.uid_next FROM messages m "
                  "JOIN mailboxes mb ON mb.id = m.mailbox "
                  "WHERE m.uid >= mb.uid_next OR m.modseq > mb.highest_modseq",
                  "uid"));
      // QRESYNC (RFC 7162 §3.2.5.2): the expunge log must agree with the
      // mailbox, or VANISHED would report live messages or skip some.
      TRY(
          collect("SELECT 'mailbox ' || e.mailbox || ' expunged uid ' || "
                  "e.uid || ' modseq ' || e.modseq || ' is ahead or live' "
                  "FROM expunged e JOIN mailboxes mb ON mb.id = e.mailbox "
                  "WHERE e.modseq > mb.highest_modseq OR e.uid >= mb.uid_next "
                  "OR EXISTS (SELECT 1 FROM messages m "
                  "WHERE m.mailbox = e.mailbox AND m.uid = e.uid)",
                  "expunged"));
      TRY(
          collect("SELECT 'expunge log names missing mailbox ' || e.mailbox "
                  "FROM expunged e WHERE NOT EXISTS (SELECT 1 FROM mailboxes "
                  "mb WHERE mb.id = e.mailbox) GROUP BY e.mailbox",
                  "expunged"));
      TRY(
          collect("SELECT 'account ' || account || ' has UIDVALIDITY ' || "
                  "uid_validity || ' twice' FROM mailboxes "
                  "GROUP BY account, uid_validity HAVING count(*) > 1",
                  "uidvalidity"));
      TRY(
          collect("SELECT 'mailbox ' || mb.id || ' UIDVALIDITY ' || "
                  "mb.uid_validity || ' above the counter' FROM mailboxes mb "
                  "WHERE mb.uid_validity > (SELECT value FROM meta "
                  "WHERE key = 'last_uid_validity')",
                  "uidvalidity"));
      return problems;
    });
  }

  Result<ReindexCounts> Reindex(const TextExtractor& extract,
                                ReindexScope scope) override {
    ReindexCounts counts;
    auto dropped = DropStaleIndexRows();
    if (!dropped) return Fail(dropped.error());
    counts.dropped = *dropped;
    // Each body, and whether the index has a text of it already: then the
    // new text is a refresh (QueueAs::kRefresh), left to the background
    // pass while the old one answers searches.
    struct Body {
      BlobId id;
      bool indexed;
    };
    auto ids = Read([&](Db& db) -> Result<std::vector<Body>> {
      auto s =
          scope == ReindexScope::kAll
              ? db.Prepare(
                    "SELECT b.id, EXISTS (SELECT 1 FROM fts.blob_text t WHERE "
                    "t.rowid = b.id) FROM blob_refs b WHERE b.refcount > 0 "
                    "ORDER BY b.id")
              : db.Prepare("SELECT b.id, 0 " UNINDEXED_BLOBS " ORDER BY b.id");
      if (!s) return Fail(s.error());
      std::vector<Body> out;
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) return out;
        out.push_back({s->Int(0), s->Int(1) != 0});
      }
    });
    if (!ids) return Fail(ids.error());
    if (!ids->empty()) {
      spdlog::info("store: reindex: {} message bodies to read", ids->size());
    }
    // Bodies are read and decoded here, off the writer; each batch of
    // texts is one write, about as large as an indexer pass, so that
    // deliveries never queue long behind it.
    constexpr size_t kBatchBytes = 2 << 20;
    auto last_report = std::chrono::steady_clock::now();
    std::vector<std::pair<Body, NewBlob>> batch;
    size_t batch_bytes = 0;
    auto flush = [&]() -> Status {
      uint64_t rows = 0;
      TRY(Write([&](Db& db, std::vector<Change>&) -> Status {
        for (const auto& [body, blob] : batch) {
          TRY(QueueText(db, body.id, blob,
                        body.indexed ? QueueAs::kRefresh : QueueAs::kReindex));
          rows += db.Changes();
        }
        return {};
      }));
      counts.queued += rows;
      batch.clear();
      batch_bytes = 0;
      return {};
    };
    for (size_t i = 0; i < ids->size(); ++i) {
      const BlobId id = (*ids)[i].id;
      if (auto now = std::chrono::steady_clock::now();
          now - last_report >= std::chrono::seconds(10)) {
        spdlog::info("store: reindex: {} of {} bodies read", i, ids->size());
        last_report = now;
      }
      auto data = ReadBlob(id, 0, std::numeric_limits<uint64_t>::max());
      if (!data && data.error().code() == ErrorCode::kNotFound) continue;
      if (!data) return Fail(data.error());
      const size_t size = data->size();
      auto blob = extract(std::move(*data));
      if (!blob || blob->data.size() != size) {
        // As for a text the index refuses (IndexPending): one body must
        // not stop the rest. A slice is only valid in the octets stored.
        spdlog::error("store: reindex: blob {} gives no text: {}", id,
                      blob ? "its octets changed" : blob.error().ToString());
        continue;
      }
      // The queue keeps a slice as a place in the stored body: the copy
      // need not wait in memory for the write.
      std::string().swap(blob->data);
      batch_bytes += size + blob->search_text.size();
      batch.emplace_back((*ids)[i], std::move(*blob));
      if (batch_bytes >= kBatchBytes) TRY(flush());
    }
    if (!batch.empty()) TRY(flush());
    return counts;
  }

  // Deletes the index rows of bodies that are gone (STALE_INDEX_ROWS): an
  // index older than correio.db holds rows of bodies deleted since, one
  // newer holds rows above the counter as it was. Returns how many. Reads
  // every index row once.
  Result<uint64_t> DropStaleIndexRows() {
    auto stale = Read([&](Db& db) -> Result<std::vector<BlobId>> {
      auto s =
          db.Prepare("SELECT t.rowid " STALE_INDEX_ROWS " ORDER BY t.rowid");
      if (!s) return Fail(s.error());
      return Column<BlobId>(*s);
    });
    if (!stale) return Fail(stale.error());
    // A few rows per transaction, as the sweep deletes them.
    std::span<const BlobId> left(*stale);
    while (!left.empty()) {
      std::lock_guard lock(index_mu_);
      auto done =
          DeleteIndexRows(left.first(std::min(left.size(), kSweepRows)));
      if (!done) return Fail(done.error());
      left = left.subspan(*done);
    }
    return stale->size();
  }

 private:
  struct NextIds {
    Uid uid;
    ModSeq modseq;
    AccountId account;
    std::string name;
  };

  // ---- Write path: group commit ----
  template <class T, class F>
  Result<T> Write(F&& fn) {
    std::optional<T> value;
    Status st = Write([&](Db& db, std::vector<Change>& changes) -> Status {
      Result<T> r = fn(db, changes);
      if (!r) return Fail(r.error());
      value = std::move(*r);
      return {};
    });
    if (!st) return Fail(st.error());
    return std::move(*value);
  }

  // Write, for domains, accounts and aliases: once it is over, committed
  // or not, every DirectoryVersion read before it is stale.
  template <class T, class F>
  Result<T> WriteDirectory(F&& fn) {
    Result<T> r = Write<T>(std::forward<F>(fn));
    if (directory_) directory_->Increment();
    return r;
  }
  Status WriteDirectory(std::function<Status(Db&, std::vector<Change>&)> fn) {
    Status st = Write(std::move(fn));
    if (directory_) directory_->Increment();
    return st;
  }

  Status Write(std::function<Status(Db&, std::vector<Change>&)> fn) {
    Job job;
    job.fn = std::move(fn);
    {
      std::lock_guard lock(mu_);
      if (stop_) return Fail(ErrorCode::kTemp, "store is closing");
      queue_.push_back(&job);
    }
    work_cv_.notify_one();
    job.done.acquire();
    return job.status;
  }

  // Write without waiting: `done` gets the job's status on the writer
  // thread once the batch is over (durable or failed).
  void WriteAsync(std::function<Status(Db&, std::vector<Change>&)> fn,
                  std::function<void(Status)> done) {
    auto job = std::make_unique<Job>();
    job->fn = std::move(fn);
    job->on_done = std::move(done);
    {
      std::lock_guard lock(mu_);
      if (!stop_) {
        queue_.push_back(job.release());
      }
    }
    if (job) {
      job->on_done(Fail(ErrorCode::kTemp, "store is closing"));
      return;
    }
    work_cv_.notify_one();
  }

  void WriterLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      std::vector<Job*> batch(queue_.begin(), queue_.end());
      queue_.clear();
      running_ = batch.size();
      stats_.largest_batch =
          std::max<uint64_t>(stats_.largest_batch, batch.size());
      lock.unlock();
      bool committed = RunBatch(batch);
      lock.lock();
      running_ = 0;
      if (committed) stats_.commits++;
      for (Job* j : batch) {
        stats_.write_calls++;
        if (!j->status) stats_.failed_calls++;
      }
      lock.unlock();
      for (Job* j : batch) {
        if (j->on_done) {
          std::unique_ptr<Job> owned(j);
          owned->on_done(std::move(owned->status));
        } else {
          j->done.release();
        }
      }
      lock.lock();
    }
  }

  static bool FailAll(const std::vector<Job*>& batch, const Error& e) {
    for (Job* j : batch) {
      j->status = Fail(e);
      j->changes.clear();
    }
    return false;
  }

  // One transaction, one savepoint per job, one commit (one fsync), then
  // the changes in commit order. Runs on the writer thread only. True if
  // the batch committed.
  // A job alone gets no savepoint: its failure rolls the transaction back.
  // A savepoint costs a copy of every page the job changes (SQLite's
  // sub-journal); about half the batches of a delivery load are one job.
  bool RunBatch(const std::vector<Job*>& batch) {
    Db& db = *writer_;
    const bool alone = batch.size() == 1;
    if (auto s = db.Run("BEGIN IMMEDIATE"); !s)
      return FailAll(batch, s.error());
    for (Job* j : batch) {
      if (auto s = alone ? Status{} : db.Run("SAVEPOINT job"); !s) {
        (void)db.Run("ROLLBACK");
        return FailAll(batch, s.error());
      }
      Status st;
      try {
        st = j->fn(db, j->changes);
      } catch (const std::exception& e) {
        st = Fail(ErrorCode::kInternal, std::string("write job: ") + e.what());
      }
      if (!db.InTransaction()) {
        // SQLite rolled the whole transaction back (I/O error, disk full):
        // every job of the batch is lost, not just this one.
        return FailAll(
            batch, st ? Error(ErrorCode::kTemp, "rolled back") : st.error());
      }
      if (st) {
        if (!alone) st = db.Run("RELEASE job");
        if (!st) {
          (void)db.Run("ROLLBACK");
          return FailAll(batch, st.error());
        }
      } else if (alone) {
        j->changes.clear();
        j->status = std::move(st);
        (void)db.Run("ROLLBACK");
        return false;
      } else {
        j->changes.clear();
        Status rb = db.Run("ROLLBACK TO job");
        if (rb) rb = db.Run("RELEASE job");
        if (!rb) {
          (void)db.Run("ROLLBACK");
          return FailAll(batch, rb.error());
        }
      }
      j->status = std::move(st);
    }
    if (auto s = db.Run("COMMIT"); !s) {
      if (db.InTransaction()) (void)db.Run("ROLLBACK");
      return FailAll(batch, s.error());
    }
    // Committed and durable: publish before waking the callers, so a caller
    // that returns has had its change published.
    if (hub_) {
      for (Job* j : batch) {
        for (auto& c : j->changes) hub_->Publish(std::move(c));
      }
    }
    for (Job* j : batch) j->changes.clear();
    // With an index delay the text a delivery queues is young, and a wake-up
    // per commit had the indexer read twice and find nothing: a second
    // thread woken per commit, on the path every delivery waits for (0.4
    // wake-ups per 1 KB message at 10 SMTP sessions). Its 2 s timer finds
    // the text once it is due, and what is due at once (an expunge's
    // garbage, texts queued by a reindex) waits for it too.
    if (options_.index_delay.count() == 0) WakeIndexer();
    return true;
  }

  // ---- WAL checkpoints ----
  // By default SQLite checkpoints on the committing connection: once the
  // WAL passes 1,000 pages, the writer's COMMIT also copies the WAL into
  // the database file and fsyncs it, and every caller queued behind that
  // batch waits for it (39% of the writer's time with 100 KB messages,
  // bench/README.md). Here the writer only reports the WAL's size, and a
  // thread with its own connection checkpoints in PASSIVE mode, which
  // blocks neither the writer nor readers: the writer appends to the WAL
  // while the checkpointer copies the frames before them. The writer
  // restarts the WAL from its start at its next transaction once every
  // frame is copied, so the file stays near kCheckpointPages. If the
  // checkpointer falls far behind (a long read pins old frames, or the
  // disk is slow), the writer checkpoints itself, as SQLite would have, and
  // the WAL stays bounded.
  static constexpr int kCheckpointPages = 1000;  // SQLite's default
  static constexpr int kWriterCheckpointPages = 4 * kCheckpointPages;

  // sqlite3_wal_hook: after each commit on the writer, with the number of
  // frames now in the WAL. Runs on the writer thread.
  static int OnWalCommit(void* self, sqlite3* db, const char* schema,
                         int pages) {
    if (pages >= kWriterCheckpointPages) {
      // SQLITE_BUSY if the checkpointer is at it: fine, it is catching up.
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                nullptr);
    } else if (pages >= kCheckpointPages) {
      static_cast<SqliteStore*>(self)->WakeCheckpointer();
    }
    return SQLITE_OK;
  }

  void WakeCheckpointer() {
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_hint_ = true;
    }
    checkpoint_cv_.notify_one();
  }

  void CheckpointLoop() {
    std::unique_lock lock(checkpoint_mu_);
    for (;;) {
      checkpoint_cv_.wait(lock,
                          [&] { return checkpoint_stop_ || checkpoint_hint_; });
      if (checkpoint_stop_) return;
      checkpoint_hint_ = false;
      lock.unlock();
      int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->raw(), "main",
                                         SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                         nullptr);
      if (rc == SQLITE_OK) {
        std::lock_guard stats_lock(mu_);
        stats_.checkpoints++;
      } else if (rc != SQLITE_BUSY) {
        spdlog::warn("store: WAL checkpoint failed: {}",
                     sqlite::SqlError(checkpoint_db_->raw(), rc, "checkpoint")
                         .ToString());
      }
      lock.lock();
    }
  }

  // ---- Full-text indexer ----
  // Bodies are indexed (FTS5 trigram in search.db) by a background thread,
  // not in the delivery transaction: the writer thread is every delivery's
  // bottleneck, and tokenizing a 100 KB body there cost more than the rest
  // of the delivery. fts_pending holds the text until it is indexed;
  // SearchText catches up a mailbox's pending rows before it answers, so a
  // search never misses a message. Garbage blobs (refcount 0) are dropped
  // here too, index row first, so a blob id is reused only once nothing in
  // search.db names it.
  void WakeIndexer() {
    if (!index_thread_.joinable()) return;
    {
      std::lock_guard lock(index_wake_mu_);
      index_hint_ = true;
    }
    index_wake_cv_.notify_one();
  }

  void IndexLoop() {
    // Below the sessions: indexing yields the CPU to deliveries and
    // commands, and catches up when they pause (a search that needs it
    // indexes its own mailbox on its own thread at normal priority).
    // SCHED_IDLE rather than a nice level: a nice thread still takes its
    // share of a busy core, and a session thread that wakes waits for the
    // scheduler's granularity before it preempts it; an idle-class thread
    // runs only on a core nothing else wants, and any wakeup preempts it
    // at once. Unprivileged on Linux; falls back to nice 19.
    // The price is priority inversion: a search catching up its mailbox
    // (CatchUpIndex) waits for index_mu_, which this thread may hold while
    // it gets no CPU. So a waiting search makes this pass stop after the
    // text it is tokenizing (index_waiters_) and stay out until it is
    // done; the search then indexes at its own priority.
    sched_param idle{};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0)
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
    bool failed = false;
    for (;;) {
      {
        std::unique_lock lock(index_wake_mu_);
        if (failed) {
          // Store busy or failing: back off instead of retrying at every
          // commit.
          index_wake_cv_.wait_for(lock, std::chrono::seconds(5),
                                  [&] { return index_stop_; });
        } else {
          // Also on a timer: another process (the admin CLI) may have
          // delivered or deleted, and with an index delay commits do not
          // wake this thread (RunBatch): the timer finds their text.
          index_wake_cv_.wait_for(lock, std::chrono::seconds(2),
                                  [&] { return index_stop_ || index_hint_; });
        }
        if (index_stop_) return;
        index_hint_ = false;
      }
      index_wakes_.fetch_add(1, std::memory_order_relaxed);
      failed = false;
      for (;;) {
        // A search is catching up: leave index_mu_ to it (woken after).
        if (SearchWaiting()) {
          index_stepped_aside_.store(true, std::memory_order_relaxed);
          break;
        }
        Result<bool> swept, indexed;
        {
          std::lock_guard lock(index_mu_);
          swept = SweepGarbage();
          if (swept) indexed = IndexPending(std::nullopt);
        }
        if (!swept || !indexed) {
          spdlog::warn("store: indexer: {}",
                       (!swept ? swept : indexed).error().ToString());
          failed = true;
          break;
        }
        if (!*swept && !*indexed) break;
        std::lock_guard lock(index_wake_mu_);
        if (index_stop_) return;
      }
    }
  }

  // Blocks until no message of `mailbox` waits for the index. Indexes only
  // that mailbox's pending text (not the whole store's backlog, which
  // after an upgrade from v4 is everything).
  Status CatchUpIndex(MailboxId mailbox) {
    index_waiters_.fetch_add(1, std::memory_order_relaxed);
    Status done = [&]() -> Status {
      for (;;) {
        std::lock_guard lock(index_mu_);
        auto did = IndexPending(mailbox);
        if (!did) return Fail(did.error());
        if (!*did) return {};
      }
    }();
    // The background pass stepped aside for us: let it go on.
    if (index_waiters_.fetch_sub(1, std::memory_order_relaxed) == 1 &&
        index_stepped_aside_.exchange(false, std::memory_order_relaxed)) {
      WakeIndexer();
    }
    return done;
  }

  // True while a search waits in CatchUpIndex. The background pass
  // (IndexLoop, at idle priority) checks it between texts.
  bool SearchWaiting() const {
    return index_waiters_.load(std::memory_order_relaxed) > 0;
  }

  // Drops the index rows and then the blob rows of up to kSweepRows
  // garbage blobs (refcount 0). True if there were any. index_mu_ held.
  // search.db commits first, so a crash in between only repeats the work.
  Result<bool> SweepGarbage() {
    auto garbage = Read([&](Db& db) -> Result<std::vector<BlobId>> {
      auto s =
          db.Prepare("SELECT id FROM blob_refs WHERE refcount = 0 LIMIT ?");
      if (!s) return Fail(s.error());
      s->Bind(static_cast<int64_t>(kSweepRows));
      return Column<BlobId>(*s);
    });
    if (!garbage) return Fail(garbage.error());
    if (garbage->empty()) return false;
    auto done = DeleteIndexRows(*garbage);
    if (!done) return Fail(done.error());
    garbage->resize(*done);
    TRY(Write([&](Db& db, std::vector<Change>&) -> Status {
      for (BlobId id : *garbage) {
        // Re-referenced since we looked (a new copy of the same body): it
        // keeps its row, and its pending text (AddBlobRef queued it).
        TRY(db.Run("DELETE FROM blob_refs WHERE id = ? AND refcount = 0", id));
        if (db.Changes() == 0) continue;
        TRY(db.Run("DELETE FROM fts_pending WHERE blob = ?", id));
        TRY(db.Run("DELETE FROM blobs WHERE id = ?", id));
      }
      return {};
    }));
    return true;
  }

  // Deleting from an FTS5 table re-tokenizes the row: a few at a time.
  static constexpr size_t kSweepRows = 32;

  // Deletes the index rows of `ids` in one search.db transaction, stopping
  // early (after at least one) when a search waits (IndexLoop). Returns
  // how many of `ids` are done. index_mu_ held.
  Result<size_t> DeleteIndexRows(std::span<const BlobId> ids) {
    Db& fts = *indexer_db_;
    TRY(fts.Run("BEGIN IMMEDIATE"));
    size_t done = 0;
    for (; done < ids.size(); ++done) {
      if (done > 0 && SearchWaiting()) break;
      if (auto st = fts.Run("DELETE FROM blob_text WHERE rowid = ?", ids[done]);
          !st) {
        (void)fts.Run("ROLLBACK");
        return Fail(st.error());
      }
    }
    if (auto st = fts.Run("COMMIT"); !st) {
      if (fts.InTransaction()) (void)fts.Run("ROLLBACK");
      return Fail(st.error());
    }
    return done;
  }

  // Indexes up to kIndexBatchBytes of pending text of live blobs (of one
  // mailbox, or of the store), then deletes those fts_pending rows. True
  // if there was any. index_mu_ held. search.db commits first; rows are
  // written with OR REPLACE, so a crash in between only repeats the work.
  // Blob ids are never reused (meta last_blob_id), so a row read here can
  // only ever carry this blob's text.
  Result<bool> IndexPending(std::optional<MailboxId> mailbox) {
    Db& fts = *indexer_db_;
    struct Text {
      BlobId blob;
      std::string headers, body;
    };
    auto batch = Read([&](Db& db) -> Result<std::vector<Text>> {
      // Garbage blobs are left to SweepGarbage: a message downloaded and
      // deleted before the indexer got to it costs no index work.
      // A text kept as a place in the blob (QueueText) is cut out of it.
      auto s =
          mailbox
              ? db.Prepare(
                    "SELECT p.blob, p.headers, CASE WHEN p.body_at IS NULL "
                    "THEN p.body ELSE CAST(substr(b.data, p.body_at + 1, "
                    "p.body_size) AS TEXT) END FROM fts_pending p JOIN blobs "
                    "b ON b.id = p.blob JOIN blob_refs r ON r.id = p.blob "
                    "WHERE r.refcount > 0 AND p.queued_at >= 0 AND p.blob IN "
                    "(SELECT blob FROM messages WHERE mailbox = ?) "
                    "ORDER BY p.blob LIMIT ?")
              : db.Prepare(
                    "SELECT p.blob, p.headers, CASE WHEN p.body_at IS NULL "
                    "THEN p.body ELSE CAST(substr(b.data, p.body_at + 1, "
                    "p.body_size) AS TEXT) END FROM fts_pending p JOIN blobs "
                    "b ON b.id = p.blob JOIN blob_refs r ON r.id = p.blob "
                    "WHERE r.refcount > 0 AND "
                    "p.queued_at <= ? ORDER BY p.queued_at, p.blob LIMIT ?");
      if (!s) return Fail(s.error());
      if (mailbox) {
        s->Bind(*mailbox, kIndexBatchRows);
      } else {
        // The background pass: only text older than index_delay.
        s->Bind(SystemClock().NowSeconds() - options_.index_delay.count(),
                kIndexBatchRows);
      }
      std::vector<Text> out;
      size_t bytes = 0;
      while (bytes < kIndexBatchBytes) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back({s->Int(0), s->Text(1), s->Text(2)});
        bytes += out.back().headers.size() + out.back().body.size();
      }
      return out;
    });
    if (!batch) return Fail(batch.error());
    if (batch->empty()) return false;
    auto insert = [&](size_t first, size_t count) -> Status {
      TRY(fts.Run("BEGIN IMMEDIATE"));
      for (size_t i = first; i < first + count; ++i) {
        // The background pass stops for a waiting search (IndexLoop) and
        // commits the texts it has done; the rest stay pending.
        if (!mailbox && i > first && SearchWaiting()) {
          batch->resize(i);
          break;
        }
        const Text& t = (*batch)[i];
        if (auto st = fts.Run(
                "INSERT OR REPLACE INTO blob_text(rowid, headers, body) "
                "VALUES (?, ?, ?)",
                t.blob, t.headers, t.body);
            !st) {
          (void)fts.Run("ROLLBACK");
          return st;
        }
      }
      if (auto st = fts.Run("COMMIT"); !st) {
        if (fts.InTransaction()) (void)fts.Run("ROLLBACK");
        return st;
      }
      return {};
    };
    // Busy or full: the whole batch waits for the next round. Only a text
    // refused on its own below is given up (a full disk is not that: it
    // used to be, and then the DELETE below, which may fit in reused log
    // space, threw every pending text of the batch away).
    auto retry_later = [](const Error& e) {
      return e.code() == ErrorCode::kTemp || e.code() == ErrorCode::kNoSpace;
    };
    if (auto st = insert(0, batch->size()); !st) {
      if (retry_later(st.error())) return Fail(st.error());
      // One text the index refuses must not stop the others (they come in
      // blob order, so it would lead every batch): one at a time, and a
      // text refused on its own is dropped from the queue and logged. Its
      // message is then not found by body search; CheckIntegrity names it.
      for (size_t i = 0; i < batch->size(); ++i) {
        if (auto one = insert(i, 1); !one) {
          if (retry_later(one.error())) return Fail(one.error());
          spdlog::error("store: indexer: blob {} cannot be indexed: {}",
                        (*batch)[i].blob, one.error().ToString());
        }
      }
    }
    TRY(Write([&](Db& db, std::vector<Change>&) -> Status {
      for (const Text& t : *batch) {
        TRY(db.Run("DELETE FROM fts_pending WHERE blob = ?", t.blob));
      }
      return {};
    }));
    return true;
  }

  // ---- Read path ----
  Result<std::unique_ptr<Db>> AcquireReader() {
    {
      std::lock_guard lock(pool_mu_);
      if (!readers_.empty()) {
        auto db = std::move(readers_.back());
        readers_.pop_back();
        return db;
      }
    }
    auto db = Db::Open(options_.path, options_.fsync,
                       options_.busy_timeout_ms, options_.vfs);
    if (!db) return Fail(db.error());
    // Searches join messages (here) with the index (search.db).
    if (auto st = (*db)->Run("ATTACH DATABASE ? AS fts",
                             SearchIndexPath(options_.path));
        !st) {
      return Fail(st.error());
    }
    return db;
  }

  void ReleaseReader(std::unique_ptr<Db> db) {
    constexpr size_t kMaxIdleReaders = 8;
    std::lock_guard lock(pool_mu_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(db));
  }

  // Runs `fn` in one read transaction (one WAL snapshot).
  template <class F>
  auto Read(F&& fn) -> decltype(fn(std::declval<Db&>())) {
    auto db = AcquireReader();
    if (!db) return Fail(db.error());
    if (auto s = (*db)->Run("BEGIN"); !s) return Fail(s.error());
    auto result = fn(**db);
    if (!(*db)->Run("COMMIT")) (void)(*db)->Run("ROLLBACK");
    if (!(*db)->InTransaction()) ReleaseReader(std::move(*db));
    return result;
  }

  // ---- Helpers used inside transactions ----
  Status UpdateAccount(const std::function<Status(Db&)>& fn) {
    return WriteDirectory([&](Db& db, std::vector<Change>&) -> Status {
      TRY(fn(db));
      if (db.Changes() == 0) return Fail(ErrorCode::kNotFound, "no account");
      return {};
    });
  }

  static Alias MakeAlias(std::string source, const std::string& targets) {
    Alias a;
    a.source = std::move(source);
    for (auto t : SplitString(targets, '\n')) a.targets.emplace_back(t);
    return a;
  }

  template <class T>
  static Result<std::vector<T>> Column(Stmt& s) {
    std::vector<T> out;
    for (;;) {
      auto row = s.Step();
      if (!row) return Fail(row.error());
      if (!*row) return out;
      out.push_back(static_cast<T>(s.Int(0)));
    }
  }

  static Status CheckAccount(Db& db, AccountId account) {
    auto s = db.Prepare("SELECT 1 FROM accounts WHERE id = ?");
    if (!s) return Fail(s.error());
    auto row = s->Bind(account).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kNotFound, "no account");
    return {};
  }

  static Result<AccountId> MailboxAccount(Db& db, MailboxId mailbox) {
    auto s = db.Prepare("SELECT account FROM mailboxes WHERE id = ?");
    if (!s) return Fail(s.error());
    auto row = s->Bind(mailbox).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kNotFound, "no mailbox");
    return s->Int(0);
  }

  static Result<Mailbox> MailboxById(Db& db, MailboxId id) {
    auto s =
        db.Prepare("SELECT " MAILBOX_COLS " FROM mailboxes m WHERE m.id = ?");
    if (!s) return Fail(s.error());
    auto row = s->Bind(id).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kNotFound, "no mailbox");
    return ReadMailbox(*s);
  }

  // Deliver's transaction body: every target and quota checked before
  // anything changes, one blob reference per target, one message each.
  static Result<std::vector<Delivered>> DeliverIn(
      Db& db, const NewBlob& blob, const std::string& hash,
      const std::vector<DeliveryTarget>& targets, int64_t now,
      uint64_t origin, std::vector<Change>& changes) {
    std::map<AccountId, uint64_t> adds;
    for (const auto& t : targets) {
      auto acc = MailboxAccount(db, t.mailbox);
      if (!acc) return Fail(acc.error());
      adds[*acc]++;
    }
    for (const auto& [acc, n] : adds) {
      TRY(CheckQuota(db, acc, n * blob.data.size(), n));
    }
    auto blob_id = AddBlobRef(db, blob, hash, targets.size());
    if (!blob_id) return Fail(blob_id.error());
    std::vector<Delivered> out;
    for (const auto& t : targets) {
      auto d = InsertMessage(db, t, blob.data.size(), *blob_id, now, origin,
                             changes);
      if (!d) return Fail(d.error());
      out.push_back(*d);
    }
    return out;
  }

  static Result<Mailbox> MailboxByName(Db& db, AccountId account,
                                       const std::string& name) {
    auto s = db.Prepare("SELECT " MAILBOX_COLS
                        " FROM mailboxes m WHERE m.account = ? AND m.name = ?");
    if (!s) return Fail(s.error());
    auto row = s->Bind(account, name).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kNotFound, "no mailbox " + name);
    return ReadMailbox(*s);
  }

  static Result<MailboxId> InsertMailbox(Db& db, AccountId account,
                                         const std::string& name,
                                         SpecialUse use) {
    // A fresh UIDVALIDITY per created mailbox from one store-wide counter
    // that only grows (and starts at the clock, so a restored older backup
    // does not repeat values either): a re-created name, even in a removed
    // and re-created account, never reuses a UIDVALIDITY, so a client's
    // cached UIDs cannot be mistaken (RFC 9051 §2.3.1.1).
    TRY(CheckAccount(db, account));
    int64_t now = SystemClock().NowSeconds();
    auto s = db.Prepare(
        "UPDATE meta SET value = max(?, value + 1) "
        "WHERE key = 'last_uid_validity' RETURNING value");
    if (!s) return Fail(s.error());
    auto row = s->Bind(now).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kInternal, "meta row missing");
    int64_t uid_validity = s->Int(0);
    TRY(s->Run());
    if (uid_validity > 0xFFFFFFFFll) {
      return Fail(ErrorCode::kInternal, "UIDVALIDITY exhausted");
    }
    TRY(db.Run(
        "INSERT INTO mailboxes(account, name, special_use, uid_validity) "
        "VALUES (?, ?, ?, ?)",
        account, name, static_cast<int>(use), uid_validity));
    return db.LastInsertId();
  }

  static Result<NextIds> NextUidAndModSeq(Db& db, MailboxId mailbox,
                                          uint32_t count) {
    auto s = db.Prepare(
        "UPDATE mailboxes SET uid_next = uid_next + ?2, "
        "highest_modseq = highest_modseq + 1 WHERE id = ?1 "
        "RETURNING uid_next - ?2, highest_modseq, account, name");
    if (!s) return Fail(s.error());
    auto row = s->Bind(mailbox, count).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kNotFound, "no mailbox");
    NextIds n{static_cast<Uid>(s->Int(0)), static_cast<ModSeq>(s->Int(1)),
              s->Int(2), s->Text(3)};
    TRY(s->Run());
    if (static_cast<uint64_t>(n.uid) + count > 0xFFFFFFFFull) {
      return Fail(ErrorCode::kTooBig, "UID space of mailbox exhausted");
    }
    return n;
  }

  // Adds one message row naming `blob` (whose reference the caller took)
  // with the next UID and MODSEQ of the target mailbox.
  static Result<Delivered> InsertMessage(Db& db, const DeliveryTarget& t,
                                         uint64_t size, BlobId blob,
                                         int64_t now, uint64_t origin,
                                         std::vector<Change>& changes) {
    auto next = NextUidAndModSeq(db, t.mailbox, 1);
    if (!next) return Fail(next.error());
    Flags flags = t.flags;
    flags.keywords = NormalizeKeywords(flags.keywords);
    TRY(
        db.Run("INSERT INTO messages(mailbox, uid, modseq, flags, keywords, "
               "internal_date, save_date, size, blob) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               t.mailbox, next->uid, next->modseq, flags.system,
               JoinKeywords(flags.keywords), t.internal_date, now, size, blob));
    MessageId id = db.LastInsertId();
    TRY(AddUsage(db, next->account, static_cast<int64_t>(size), 1));
    Change c;
    c.kind = Change::Kind::kAppended;
    c.account = next->account;
    c.mailbox = t.mailbox;
    c.mailbox_name = next->name;
    c.messages.push_back(ViewEntry{next->uid, next->modseq, flags});
    c.modseq = next->modseq;
    c.origin = origin;
    changes.push_back(std::move(c));
    return Delivered{t.mailbox, next->uid, next->modseq, id};
  }

  static Status CheckQuota(Db& db, AccountId account, uint64_t bytes,
                           uint64_t messages) {
    auto s = db.Prepare(
        "SELECT quota_bytes, quota_messages, used_bytes, used_messages "
        "FROM accounts WHERE id = ?");
    if (!s) return Fail(s.error());
    auto row = s->Bind(account).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kNotFound, "no account");
    uint64_t qb = s->Int(0), qm = s->Int(1), ub = s->Int(2), um = s->Int(3);
    if ((qb && ub + bytes > qb) || (qm && um + messages > qm)) {
      return Fail(ErrorCode::kOverQuota, "quota exceeded");
    }
    return {};
  }

  static Status AddUsage(Db& db, AccountId account, int64_t bytes,
                         int64_t messages) {
    return db.Run(
        "UPDATE accounts SET used_bytes = used_bytes + ?, "
        "used_messages = used_messages + ? WHERE id = ?",
        bytes, messages, account);
  }

  static Status RemoveUsage(Db& db, AccountId account,
                            const std::vector<MessageRow>& removed) {
    if (removed.empty()) return {};
    int64_t bytes = 0;
    for (const auto& m : removed) bytes += static_cast<int64_t>(m.size);
    return AddUsage(db, account, -bytes,
                    -static_cast<int64_t>(removed.size()));
  }

  // Stores the body once per content hash and takes `refs` references.
  static Result<BlobId> AddBlobRef(Db& db, const NewBlob& blob,
                                   const std::string& hash, uint64_t refs) {
    auto s = db.Prepare(
        "UPDATE blob_refs SET refcount = refcount + ?1 WHERE id = "
        "(SELECT id FROM blobs WHERE hash = ?2) RETURNING id, refcount - ?1");
    if (!s) return Fail(s.error());
    auto row = s->Bind(refs, BlobValue{hash}).Step();
    if (!row) return Fail(row.error());
    if (*row) {
      BlobId id = s->Int(0);
      bool was_garbage = s->Int(1) == 0;
      TRY(s->Run());
      if (was_garbage) {
        // The indexer may be dropping its index row right now: queue the
        // text again (IndexPass keeps a re-referenced blob's pending row).
        TRY(QueueText(db, id, blob));
      }
      return id;
    }
    TRY(s->Run());
    auto next = db.Prepare(
        "UPDATE meta SET value = value + 1 WHERE key = 'last_blob_id' "
        "RETURNING value");
    if (!next) return Fail(next.error());
    auto counted = next->Step();
    if (!counted) return Fail(counted.error());
    if (!*counted) return Fail(ErrorCode::kInternal, "no last_blob_id");
    BlobId id = next->Int(0);
    TRY(next->Run());
    if (blob.data.size() <= kInlineBlobBytes) {
      TRY(
          db.Run("INSERT INTO blobs(id, hash, size, refcount, summary, data) "
                 "VALUES (?, ?, ?, 0, ?, ?)",
                 id, BlobValue{hash}, blob.data.size(), BlobValue{blob.summary},
                 StaticBlob{blob.data}));
    } else {
      // A large body goes in by incremental blob I/O into a zeroblob:
      // binding it whole makes SQLite build the record in memory, a second
      // full copy of the message (a 50 MB message peaked at 150 MB).
      TRY(
          db.Run("INSERT INTO blobs(id, hash, size, refcount, summary, data) "
                 "VALUES (?, ?, ?, 0, ?, zeroblob(?))",
                 id, BlobValue{hash}, blob.data.size(), BlobValue{blob.summary},
                 blob.data.size()));
      TRY(WriteBlobData(db, id, blob.data));
    }
    TRY(db.Run("INSERT INTO blob_refs(id, refcount) VALUES (?, ?)", id, refs));
    // Indexed later by the indexer thread, off this transaction (a 100 KB
    // body costs ~10 ms of trigram tokenizing; docs/storage.md).
    TRY(QueueText(db, id, blob));
    return id;
  }

  // kNew: a body just stored, indexed once it is
  // search.index_delay_seconds old. kReindex: a live body Reindex read,
  // due at once, and only if it is still live and not queued meanwhile (a
  // sweep may have dropped it since it was read). kRefresh: as kReindex,
  // for a body the index has an older text of (`reindex --all`); queued at
  // kRefreshQueuedAt, for the background pass only, while the old text
  // answers searches. A search catching up its mailbox (CatchUpIndex) or
  // counting its pending messages (PendingAndIndexed) skips such rows: it
  // would otherwise re-tokenize the whole mailbox first.
  enum class QueueAs { kNew, kReindex, kRefresh };
  static constexpr int64_t kRefreshQueuedAt = -1;

  // Queues the blob's text for the indexer: a copy of the decoded body
  // text, or where it stands in the blob (IndexPending reads it there).
  static Status QueueText(Db& db, BlobId id, const NewBlob& blob,
                          QueueAs as = QueueAs::kNew) {
    std::optional<int64_t> at, size;
    if (blob.search_text_in_data) {
      at = static_cast<int64_t>(blob.search_text_in_data->offset);
      size = static_cast<int64_t>(blob.search_text_in_data->size);
    }
    if (as != QueueAs::kNew) {
      return db.Run(
          "INSERT OR IGNORE INTO fts_pending(blob, headers, body, body_at, "
          "body_size, queued_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS "
          "(SELECT 1 FROM blob_refs WHERE id = ?1 AND refcount > 0)",
          id, blob.search_headers, blob.search_text, at, size,
          as == QueueAs::kRefresh ? kRefreshQueuedAt : int64_t{0});
    }
    return db.Run(
        "INSERT OR REPLACE INTO fts_pending(blob, headers, body, body_at, "
        "body_size, queued_at) VALUES (?, ?, ?, ?, ?, ?)",
        id, blob.search_headers, blob.search_text,  // empty for a slice
        at, size, SystemClock().NowSeconds());
  }

  static constexpr size_t kInlineBlobBytes = 1 << 20;

  static Status WriteBlobData(Db& db, BlobId id, std::string_view data) {
    sqlite3_blob* handle = nullptr;
    int rc =
        sqlite3_blob_open(db.raw(), "main", "blobs", "data", id, 1, &handle);
    if (rc != SQLITE_OK) {
      sqlite3_blob_close(handle);
      return Fail(sqlite::SqlError(db.raw(), rc, "blob open for write"));
    }
    constexpr size_t kPiece = 1 << 20;
    for (size_t off = 0; off < data.size() && rc == SQLITE_OK; off += kPiece) {
      size_t n = std::min(kPiece, data.size() - off);
      rc = sqlite3_blob_write(handle, data.data() + off, static_cast<int>(n),
                              static_cast<int>(off));
    }
    Status st;
    if (rc != SQLITE_OK) st = Fail(sqlite::SqlError(db.raw(), rc, "blob write"));
    sqlite3_blob_close(handle);
    return st;
  }

  static Status ReleaseBlob(Db& db, BlobId id) {
    auto s = db.Prepare(
        "UPDATE blob_refs SET refcount = refcount - 1 WHERE id = ? "
        "RETURNING refcount");
    if (!s) return Fail(s.error());
    auto row = s->Bind(id).Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(ErrorCode::kInternal, "message names no blob");
    TRY(s->Run());
    // At 0 the blob is garbage: IndexPass drops its index row, then the row
    // itself (blobs_garbage), off the caller's transaction.
    return {};
  }

  // Deletes one message row and its blob reference; logs it for QRESYNC
  // unless `modseq` is 0 (the mailbox itself goes away). The caller takes
  // the usage of all it removes off in one update (RemoveUsage): one per
  // message made a POP3 QUIT of 6,573 deletions update the same account
  // row 6,573 times.
  static Status RemoveMessage(Db& db, const MessageRow& m, ModSeq modseq) {
    TRY(db.Run("DELETE FROM messages WHERE id = ?", m.id));
    TRY(ReleaseBlob(db, m.blob));
    if (modseq) {
      TRY(
          db.Run("INSERT OR REPLACE INTO expunged(mailbox, uid, modseq, at) "
                 "VALUES (?, ?, ?, ?)",
                 m.mailbox, m.uid, modseq,
                 static_cast<int64_t>(std::time(nullptr))));
    }
    return {};
  }

  static Result<std::vector<MessageRow>> SelectMessages(Db& db,
                                                        MailboxId mailbox,
                                                        const UidSet& uids) {
    std::vector<MessageRow> out;
    for (const auto& r : uids) {
      auto s = db.Prepare("SELECT " MESSAGE_COLS
                          " FROM messages WHERE mailbox = ? AND uid >= ? "
                          "AND uid <= ? ORDER BY uid");
      if (!s) return Fail(s.error());
      s->Bind(mailbox, r.first, r.last);
      for (;;) {
        auto row = s->Step();
        if (!row) return Fail(row.error());
        if (!*row) break;
        out.push_back(ReadMessage(*s));
      }
    }
    // A UidSet is ascending and without overlaps, so the rows come sorted
    // and once each; a set that breaks that is put right here.
    if (std::ranges::adjacent_find(out, std::greater_equal{},
                                   &MessageRow::uid) != out.end()) {
      std::ranges::sort(out, {}, &MessageRow::uid);
      auto dups = std::ranges::unique(out, {}, &MessageRow::uid);
      out.erase(dups.begin(), dups.end());
    }
    return out;
  }

  static Status DeleteMailboxIn(Db& db, MailboxId id,
                                std::vector<Change>& changes) {
    auto box = MailboxById(db, id);
    if (!box) return Fail(box.error());
    auto rows = SelectMessages(db, id, {{1, 0xFFFFFFFFu}});
    if (!rows) return Fail(rows.error());
    for (const auto& m : *rows) TRY(RemoveMessage(db, m, 0));
    TRY(RemoveUsage(db, box->account, *rows));
    TRY(db.Run("DELETE FROM expunged WHERE mailbox = ?", id));
    TRY(db.Run("DELETE FROM mailboxes WHERE id = ?", id));
    Change c;
    c.kind = Change::Kind::kMailboxDeleted;
    c.account = box->account;
    c.mailbox = id;
    c.mailbox_name = box->name;
    c.modseq = box->highest_modseq;
    changes.push_back(std::move(c));
    return {};
  }

  Result<CopyResult> CopyOrMove(MailboxId source, const UidSet& uids,
                                MailboxId dest, uint64_t origin, bool move) {
    int64_t now = SystemClock().NowSeconds();
    return Write<CopyResult>(
        [&](Db& db, std::vector<Change>& changes) -> Result<CopyResult> {
          auto src = MailboxById(db, source);
          if (!src) return Fail(src.error());
          auto dst = MailboxById(db, dest);
          if (!dst) return Fail(dst.error());
          auto rows = SelectMessages(db, source, uids);
          if (!rows) return Fail(rows.error());
          CopyResult out;
          out.dest_uid_validity = dst->uid_validity;
          if (rows->empty()) return out;
          bool cross = src->account != dst->account;
          uint64_t bytes = 0;
          for (const auto& m : *rows) bytes += m.size;
          if (!move || cross) {
            TRY(CheckQuota(db, dst->account, bytes, rows->size()));
          }
          auto next = NextUidAndModSeq(db, dest, rows->size());
          if (!next) return Fail(next.error());
          Change added;
          added.kind = Change::Kind::kAppended;
          added.account = dst->account;
          added.mailbox = dest;
          added.mailbox_name = dst->name;
          added.modseq = next->modseq;
          added.origin = origin;
          Uid uid = next->uid;
          for (const auto& m : *rows) {
            if (move) {
              // The row keeps its id: stable across MOVE (RFC 8474 EMAILID).
              TRY(
                  db.Run("UPDATE messages SET mailbox = ?, uid = ?, modseq = ? "
                         "WHERE id = ?",
                         dest, uid, next->modseq, m.id));
            } else {
              TRY(db.Run(
                  "INSERT INTO messages(mailbox, uid, modseq, flags, keywords, "
                  "internal_date, save_date, size, blob) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  dest, uid, next->modseq, m.flags.system,
                  JoinKeywords(m.flags.keywords), m.internal_date, now, m.size,
                  m.blob));
              TRY(db.Run(
                  "UPDATE blob_refs SET refcount = refcount + 1 WHERE id = ?",
                  m.blob));
            }
            out.source_uids.push_back(m.uid);
            out.dest_uids.push_back(uid);
            added.messages.push_back(ViewEntry{uid, next->modseq, m.flags});
            ++uid;
          }
          if (!move || cross) {
            TRY(AddUsage(db, dst->account, bytes, rows->size()));
          }
          changes.push_back(std::move(added));
          if (move) {
            if (cross) {
              TRY(AddUsage(db, src->account, -static_cast<int64_t>(bytes),
                           -static_cast<int64_t>(rows->size())));
            }
            ModSeq modseq = src->highest_modseq + 1;
            if (source == dest) modseq = next->modseq + 1;
            TRY(db.Run("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?",
                       modseq, source));
            for (const auto& m : *rows) {
              TRY(db.Run(
                  "INSERT OR REPLACE INTO expunged(mailbox, uid, modseq, at) "
                  "VALUES (?, ?, ?, ?)",
                  source, m.uid, modseq,
                  static_cast<int64_t>(std::time(nullptr))));
            }
            // Published after the target's new messages so a watcher never
            // sees the message gone from both mailboxes.
            Change c;
            c.kind = Change::Kind::kExpunged;
            c.account = src->account;
            c.mailbox = source;
            c.mailbox_name = src->name;
            c.uids = out.source_uids;
            c.modseq = modseq;
            c.origin = origin;
            changes.push_back(std::move(c));
          }
          return out;
        });
  }

  SqliteOptions options_;
  ChangeHub* hub_;
  // DirectoryVersion, shared with every process on this store; null when
  // the file cannot be made (nothing is then remembered from the
  // directory).
  std::unique_ptr<SharedCounter> directory_;
  std::unique_ptr<Db> writer_;  // used only on thread_

  std::mutex mu_;  // guards queue_, stop_, running_, stats_
  std::condition_variable work_cv_;
  std::deque<Job*> queue_;
  bool stop_ = false;
  size_t running_ = 0;  // jobs of the batch on the writer now
  StoreStats stats_;    // queued/running are filled in by Stats()
  std::thread thread_;

  // ---- WAL checkpoints (CheckpointLoop) ----
  std::unique_ptr<Db> checkpoint_db_;  // used only on checkpoint_thread_
  std::mutex checkpoint_mu_;           // guards checkpoint_stop_, _hint_
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;
  bool checkpoint_hint_ = false;
  std::thread checkpoint_thread_;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Db>> readers_;

  // ---- Full-text indexer (IndexPass) ----
  std::unique_ptr<Db> indexer_db_;  // search.db; used under index_mu_ only
  std::mutex index_mu_;             // one IndexPass at a time
  std::atomic<int> index_waiters_{0};             // searches in CatchUpIndex
  std::atomic<bool> index_stepped_aside_{false};  // IndexLoop, for them
  std::mutex index_wake_mu_;        // guards index_stop_, index_hint_
  std::condition_variable index_wake_cv_;
  bool index_stop_ = false;
  bool index_hint_ = false;
  std::atomic<uint64_t> index_wakes_{0};  // StoreStats::index_wakes
  std::thread index_thread_;
};

Status Migrate(Db& db) {
  TRY(db.Run("BEGIN IMMEDIATE"));
  auto s = db.Prepare("PRAGMA user_version");
  if (!s) return Fail(s.error());
  auto row = s->Step();
  if (!row) return Fail(row.error());
  int64_t version = s->Int(0);
  TRY(s->Run());
  if (version > kSqliteSchemaVersion) {
    (void)db.Run("ROLLBACK");
    return Fail(ErrorCode::kInternal,
                "database schema " + std::to_string(version) +
                    " is newer than this build (" +
                    std::to_string(kSqliteSchemaVersion) + ")");
  }
  for (int64_t v = version; v < kSqliteSchemaVersion; ++v) {
    if (auto st = db.Exec(kMigrations[v]); !st) {
      (void)db.Run("ROLLBACK");
      return st;
    }
  }
  if (version < kSqliteSchemaVersion) {
    // PRAGMA takes no bound parameters; the value is our own constant.
    std::string set =
        "PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion);
    if (auto st = db.Exec(set.c_str()); !st) {
      (void)db.Run("ROLLBACK");
      return st;
    }
  }
  return db.Run("COMMIT");
}

}  // namespace

namespace {
// correio.db -> correio<suffix>
std::string BesideDb(std::string_view db_path, std::string_view suffix) {
  std::string path(db_path);
  if (path.ends_with(".db")) path.resize(path.size() - 3);
  return path + std::string(suffix);
}
}  // namespace

std::string SearchIndexPath(std::string_view db_path) {
  return BesideDb(db_path, "-search.db");
}

std::string DirectoryVersionPath(std::string_view db_path) {
  return BesideDb(db_path, "-directory.version");
}

namespace {
// A lost or replaced index file comes back empty, and every search (body
// keys, and header keys through HeaderCandidates) then misses the mail
// stored before. The server (the one process that runs the indexer) says
// so at start. Counting costs a pass over the blobs, and only when the
// index is empty.
void WarnIfIndexLost(Db& db, Db& search, std::string_view path) {
  auto empty = search.Prepare("SELECT NOT EXISTS (SELECT 1 FROM blob_text)");
  auto row = empty ? empty->Step() : Result<bool>(false);
  if (!row || !*row || empty->Int(0) == 0) return;
  auto s = db.Prepare(
      "SELECT count(*) FROM blob_refs WHERE refcount > 0 AND NOT EXISTS "
      "(SELECT 1 FROM fts_pending p WHERE p.blob = blob_refs.id)");
  row = s ? s->Step() : Result<bool>(false);
  if (row && *row && s->Int(0) > 0) {
    spdlog::warn(
        "store: the search index {} is empty: searches miss {} stored "
        "message bodies until `correio store reindex`",
        SearchIndexPath(path), s->Int(0));
  }
}

// Index and store restored from different backups: an index newer than
// correio.db holds rows above its blob id counter, and new bodies would
// take those ids, each searchable by the old text until its own is
// indexed. The counter is raised past every index row before anything is
// stored (a read, and a write only when the two disagree), which also
// lets Reindex tell such rows from new ones (DropStaleIndexRows).
Status KeepBlobIdsAboveTheIndex(Db& db, Db& search) {
  // The first column of the first row, if there is one (the statement is
  // reset when it goes out of scope, ending its read).
  auto first = [](Db& on, const char* sql) -> Result<std::optional<int64_t>> {
    auto s = on.Prepare(sql);
    if (!s) return Fail(s.error());
    auto row = s->Step();
    if (!row) return Fail(row.error());
    return *row ? std::optional<int64_t>(s->Int(0)) : std::nullopt;
  };
  auto top =
      first(search, "SELECT rowid FROM blob_text ORDER BY rowid DESC LIMIT 1");
  if (!top) return Fail(top.error());
  if (!*top) return {};  // an empty index
  const int64_t highest = **top;
  auto counter = first(db, "SELECT value FROM meta WHERE key = 'last_blob_id'");
  if (!counter) return Fail(counter.error());
  if (*counter && **counter >= highest) return {};
  spdlog::warn(
      "store: the search index names message bodies up to {}, past the "
      "store's last; new bodies start above them",
      highest);
  return db.Run(
      "UPDATE meta SET value = ?1 WHERE key = 'last_blob_id' AND value < ?1",
      highest);
}
}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               ChangeHub* hub) {
  auto db = Db::Open(options.path, options.fsync, options.busy_timeout_ms,
                     options.vfs);
  if (!db) return Fail(db.error());
  if (auto st = Migrate(**db); !st) return Fail(st.error());
  auto search = Db::Open(SearchIndexPath(options.path), options.fsync,
                         options.busy_timeout_ms, options.vfs);
  if (!search) return Fail(search.error());
  if (auto st = (*search)->Exec(kSearchSchema); !st) return Fail(st.error());
  if (options.background_index) WarnIfIndexLost(**db, **search, options.path);
  if (auto st = KeepBlobIdsAboveTheIndex(**db, **search); !st) {
    return Fail(st.error());
  }
  auto checkpointer = Db::Open(options.path, options.fsync,
                               options.busy_timeout_ms, options.vfs);
  if (!checkpointer) return Fail(checkpointer.error());
  auto directory = SharedCounter::Open(DirectoryVersionPath(options.path));
  if (!directory) {
    spdlog::warn("store: directory lookups are not cached: {}",
                 directory.error().ToString());
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(
      options, hub, std::move(*db), std::move(*search),
      std::move(*checkpointer), directory ? std::move(*directory) : nullptr));
}

}  // namespace correio::store
