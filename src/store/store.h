// The mail store interface (ARCHITECTURE "Storage"; STYLE 18).
//
// One narrow, transactional interface with value types; backends: sqlite/
// (embedded default), memory/ (reference for tests), postgres/ (later). No
// backend type or SQL text crosses this header.
//
// Every call is one transaction: it either happens whole or not at all.
// UIDs and MODSEQs are assigned inside the commit. Calls may block (disk,
// fsync): network threads reach them through one awaitable entry
// (net/blocking.h), never directly. A write returns only after it is durable.
// After each commit the backend publishes what changed on the ChangeHub it
// was given.
//
// Thread-safety: a Store may be called from many threads at once.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/change_hub.h"
#include "store/types.h"

namespace correio::store {

// The mailboxes every new account gets (RFC 6154 special-use).
struct DefaultMailbox {
  const char* name;
  SpecialUse use;
};
const std::vector<DefaultMailbox>& DefaultMailboxes();

// Which text a full-text search looks in (IMAP SEARCH BODY vs TEXT).
// kBody: decoded body text; kHeaders: decoded header text (a superset
// filter for header SEARCH keys: callers verify each hit); kText: both.
enum class TextField : uint8_t { kBody, kText, kHeaders };

// Where Store::ScanView delivers a mailbox's view: Begin once, then Row
// for each message.
class ViewReceiver {
 public:
  virtual ~ViewReceiver() = default;
  virtual void Begin(const Mailbox& mailbox, const ViewBounds& bounds) = 0;
  // Ascending uid; `keywords` empty for most messages.
  virtual void Row(const MailboxView::Entry& entry,
                   std::vector<std::string>&& keywords) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- Domains (names are lowercase) ----
  virtual Status AddDomain(std::string_view name) = 0;  // kExists
  // kInUse while accounts or aliases of the domain exist.
  virtual Status RemoveDomain(std::string_view name) = 0;
  virtual Result<std::vector<Domain>> ListDomains() = 0;
  virtual Result<bool> HasDomain(std::string_view name) = 0;

  // ---- The directory: domains, accounts and aliases ----
  // A stamp that changes after every committed write to domains, accounts
  // (any field of the account itself; not its mail or usage) or aliases,
  // made by this process or by any other on the same store (the admin
  // CLI). Never blocks, so a network thread may call it directly (as it
  // may DeliverToInboxesAsync), to tell whether something it remembers
  // from a directory read is still current (mail/recipient_cache.h). Read
  // it before the read it stamps. 0: not tracked (SQLite without its
  // counter file), remember nothing.
  virtual uint64_t DirectoryVersion() = 0;

  // ---- Accounts ----
  // Creates the account and its DefaultMailboxes(). The domain must exist
  // (kNotFound); the address must be free of accounts and aliases (kExists).
  virtual Result<Account> CreateAccount(const Account& account) = 0;
  virtual Result<Account> GetAccount(std::string_view address) = 0;
  virtual Result<Account> GetAccountById(AccountId id) = 0;
  virtual Result<std::vector<Account>> ListAccounts() = 0;
  virtual Status SetCredentials(AccountId id, std::string_view password_hash,
                                const ScramCredentials& scram) = 0;
  // The APOP shared secret (RFC 1939 §7); empty removes it.
  virtual Status SetApopSecret(AccountId id, std::string_view secret) = 0;
  virtual Status SetQuota(AccountId id, uint64_t bytes, uint64_t messages) = 0;
  virtual Status SetAccountSettings(AccountId id,
                                    const AccountSettings& settings) = 0;
  // Removes the account, its mailboxes and messages; frees unreferenced blobs.
  virtual Status RemoveAccount(AccountId id) = 0;
  // Exact: kept in the same transaction as every change to the messages.
  virtual Result<QuotaUsage> GetQuotaUsage(AccountId id) = 0;

  // ---- Aliases ----
  // source is "user@domain" or a catch-all "@domain" (domain must exist).
  virtual Status AddAlias(const Alias& alias) = 0;
  virtual Status RemoveAlias(std::string_view source) = 0;  // kNotFound
  virtual Result<std::vector<Alias>> ListAliases() = 0;
  virtual Result<Alias> GetAlias(std::string_view source) = 0;  // kNotFound

  // ---- Mailboxes ----
  virtual Result<std::vector<Mailbox>> ListMailboxes(AccountId account) = 0;
  // INBOX matches case-insensitively; other names exactly.
  virtual Result<Mailbox> GetMailbox(AccountId account,
                                     std::string_view name) = 0;
  virtual Result<Mailbox> GetMailboxById(MailboxId id) = 0;
  // kExists if the name is taken. A fresh UIDVALIDITY that never repeats for
  // a name within the account.
  virtual Result<Mailbox> CreateMailbox(AccountId account,
                                        std::string_view name,
                                        SpecialUse use) = 0;
  // Deletes the mailbox and its messages (not its children).
  virtual Status DeleteMailbox(MailboxId id) = 0;
  // Renames the mailbox and every "name/..." child; kExists if taken.
  // (Renaming INBOX, which moves its messages, is a mail/ operation.)
  virtual Status RenameMailbox(MailboxId id, std::string_view new_name) = 0;
  // Subscriptions are by name and may name a mailbox that does not exist
  // (RFC 9051 §6.3.7).
  virtual Status SetSubscribed(AccountId account, std::string_view name,
                               bool subscribed) = 0;
  virtual Result<std::vector<std::string>> ListSubscriptions(
      AccountId account) = 0;
  virtual Result<MailboxStatus> GetMailboxStatus(MailboxId id) = 0;

  // ---- Messages ----
  // Stores the body once (deduplicated by content hash) and adds one message
  // to each target mailbox, all in one transaction, with fresh UIDs and
  // MODSEQs. Fails whole with kOverQuota if any target account would exceed
  // its quota. `origin` is the session id for the published change.
  virtual Result<std::vector<Delivered>> Deliver(
      const NewBlob& blob, const std::vector<DeliveryTarget>& targets,
      uint64_t origin = 0) = 0;
  // Deliver to the INBOX of each account (each named once), without
  // waiting: with DirectoryVersion, the calls a network thread may make
  // directly. `done` gets the outcome once the transaction is durable (or
  // has failed), on a thread of the backend's choosing (SQLite: its writer
  // thread), so it must only hand the result on, e.g. post it to the
  // caller's executor (net::AwaitCallback). kInvalid if `accounts` is empty;
  // otherwise as Deliver. The default runs GetMailbox and Deliver inline, which
  // only a backend that never blocks (memory/) may keep.
  using DeliverDone = std::function<void(Status)>;
  virtual void DeliverToInboxesAsync(NewBlob blob,
                                     std::vector<AccountId> accounts,
                                     int64_t internal_date, uint64_t origin,
                                     DeliverDone done);
  // Stores several messages in one transaction: all or none (RFC 3502
  // MULTIAPPEND), each body deduplicated as in Deliver. Quota is checked
  // against the sum per account (kOverQuota changes nothing); kInvalid if
  // `messages` is empty. One Delivered per message, in order; a mailbox
  // named twice gets ascending UIDs in the given order (APPENDUID).
  virtual Result<std::vector<Delivered>> AppendMany(
      const std::vector<NewMessage>& messages, uint64_t origin = 0) = 0;
  // Every message of the mailbox in ascending UID order, from one snapshot,
  // handed to `to` as it is read (Begin, then Row for each), so a caller
  // that keeps the entries in its own form never holds them twice: what an
  // IMAP session's view is built from (a 10^6-message mailbox is 10 MB as
  // MailboxView entries, 7 MB encoded). kNotFound if the mailbox does not
  // exist (nothing is called). The receiver runs on the caller's thread,
  // inside the read: it must not call the store.
  virtual Status ScanView(MailboxId mailbox, ViewReceiver& to) = 0;
  // ScanView collected into a MailboxView.
  Result<MailboxView> ListView(MailboxId mailbox);
  virtual Result<std::vector<MessageRow>> GetMessages(MailboxId mailbox,
                                                      const UidSet& uids) = 0;
  virtual Result<BlobInfo> GetBlobInfo(BlobId blob) = 0;
  // Reads [offset, offset+length) of the body, clipped to its end, so large
  // messages are streamed in pieces.
  virtual Result<std::string> ReadBlob(BlobId blob, uint64_t offset,
                                       uint64_t length) = 0;
  // Many bodies' info and leading octets in one snapshot (a message list's
  // headers): for each blob (by its index in `blobs`), `length` says how
  // many leading octets to read given its info (0: none), then `got`
  // receives the info and the octets, or kNotFound for a blob that is gone.
  // Fails at the first other error.
  using BlobLength = std::function<uint64_t(size_t index, const BlobInfo&)>;
  using BlobGot =
      std::function<void(size_t index, Result<BlobInfo> info, std::string data)>;
  virtual Status ReadBlobHeads(const std::vector<BlobId>& blobs,
                               const BlobLength& length,
                               const BlobGot& got) = 0;
  // Changes flags of the messages in `uids` that exist; MODSEQ is bumped
  // only for messages whose flags really change.
  virtual Result<FlagResult> UpdateFlags(MailboxId mailbox, const UidSet& uids,
                                         const FlagUpdate& update,
                                         uint64_t origin = 0) = 0;
  // Removes exactly the listed messages that exist and logs them for
  // QRESYNC. With `only_deleted`, only those of them that have \Deleted at
  // the moment of the commit (IMAP EXPUNGE and CLOSE: a session's view of
  // the flags may be behind another session's STORE).
  virtual Result<ExpungeResult> Expunge(MailboxId mailbox, const UidSet& uids,
                                        uint64_t origin = 0,
                                        bool only_deleted = false) = 0;
  // COPY/MOVE with UID mapping (UIDPLUS). Quota is enforced for COPY and for
  // MOVE across accounts (never happens today: mailboxes are per account).
  virtual Result<CopyResult> Copy(MailboxId source, const UidSet& uids,
                                  MailboxId dest, uint64_t origin = 0) = 0;
  virtual Result<CopyResult> Move(MailboxId source, const UidSet& uids,
                                  MailboxId dest, uint64_t origin = 0) = 0;
  // UIDs expunged with a MODSEQ greater than `since` (QRESYNC VANISHED),
  // as far as the log still has them: see ExpungeLogFloor.
  virtual Result<std::vector<Uid>> ExpungedSince(MailboxId mailbox,
                                                 ModSeq since) = 0;
  // Expunges with a MODSEQ up to this may have been dropped from the log
  // (CompactExpungeLog); 0: the log is complete. A client resyncing from a
  // MODSEQ below it must be told of every UID it knew that is gone.
  virtual Result<ModSeq> ExpungeLogFloor(MailboxId mailbox) = 0;
  // Drops the expunge records made before `before` (unix seconds) in every
  // mailbox, raising each mailbox's floor over them; how many went.
  virtual Result<uint64_t> CompactExpungeLog(int64_t before) = 0;
  // UIDs of messages whose decoded text contains `needle`, compared
  // case-insensitively, answered from an index.
  virtual Result<std::vector<Uid>> SearchText(MailboxId mailbox,
                                              TextField field,
                                              std::string_view needle) = 0;
  // A superset of the messages with `needle` in their header text: those
  // whose indexed headers contain it, plus every message the index has not
  // reached yet. The caller checks each candidate against the header
  // itself (IMAP SEARCH FROM/SUBJECT/HEADER ...). Unlike SearchText this
  // never waits for the indexer, so a header search right after a
  // delivery costs a header read, not indexing the new body.
  // messages_hint: about how many messages the mailbox holds (the
  // caller's view; 0 if unknown), to pick the cheaper way to find the
  // pending ones.
  virtual Result<std::vector<Uid>> HeaderCandidates(
      MailboxId mailbox, std::string_view needle, size_t messages_hint) = 0;

  // ---- POP3 ----
  // POP3 download_once mode: remembers that POP3 has handed these messages
  // out, so later POP3 sessions hide them. The mark belongs to the message
  // (MessageRow::id): it follows a MOVE, is not copied by COPY, and goes
  // away with the message. It is invisible to IMAP: no MODSEQ bump, no
  // published change. UIDs that do not exist are ignored; kNotFound if the
  // mailbox does not exist.
  virtual Status MarkPop3Downloaded(MailboxId mailbox, const UidSet& uids) = 0;
  // UIDs of the mailbox's messages marked by MarkPop3Downloaded, ascending.
  virtual Result<std::vector<Uid>> Pop3Downloaded(MailboxId mailbox) = 0;

  // ---- Maintenance ----
  // Checks references (message -> blob, counts, quota sums). Empty: healthy.
  virtual Result<std::vector<std::string>> CheckIntegrity() = 0;
  // Rebuilds the full-text index (`correio store reindex`). First drops the
  // index rows of bodies that are gone (an index restored from a backup
  // other than the store's; CheckIntegrity names them). Then reads the
  // live bodies `scope` names, passes each to `extract`, and queues the
  // text it returns for the indexer as due at once; until the indexer has
  // it, an indexed body keeps its old text. `extract` is mail::PrepareBlob:
  // decoding MIME is not the store's work. A store whose index cannot fall
  // behind (the memory store) does nothing.
  enum class ReindexScope {
    kMissing,  // bodies neither indexed nor pending (a lost index)
    kAll,      // every live body (after a change in how text is decoded)
  };
  struct ReindexCounts {
    uint64_t dropped = 0;  // index rows of gone bodies deleted
    uint64_t queued = 0;   // bodies whose text was queued
  };
  using TextExtractor = std::function<Result<NewBlob>(std::string data)>;
  virtual Result<ReindexCounts> Reindex(const TextExtractor& extract,
                                        ReindexScope scope) = 0;
  // Counters of the write path since the store was opened (for metrics and
  // for tests that show writes share commits).
  virtual StoreStats Stats() = 0;
};

// One target per account: its INBOX, with `internal_date` (what a delivery
// to local accounts files into).
Result<std::vector<DeliveryTarget>> InboxTargets(
    Store& store, const std::vector<AccountId>& accounts,
    int64_t internal_date);

}  // namespace correio::store
