// The IMAP session engine (internal to imap/server).
//
// One Session per connection, living on the connection's io_context for
// life (STYLE 12): no locks on session state. Commands are read whole by
// the CommandAssembler, parsed into typed Commands, checked against the
// command table (states, TLS, expunge rules: STYLE 5) and run by one
// handler per command (cmd_*.cc, STYLE 4). Handlers append untagged
// responses to out_ and return the tagged Reply; the dispatcher sends
// pending updates from other sessions first (RFC 9051 §7.5.1), then the
// tagged line.
//
// Store calls go through net::RunBlocking (STYLE 13). Changes from other
// sessions arrive from the ChangeHub on the publisher's thread and are
// posted to this session's executor into pending_; they are applied to
// the view at command ends or at once in IDLE.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "imap/proto/assembler.h"
#include "imap/proto/command.h"
#include "imap/proto/parser.h"
#include "imap/proto/sequence.h"
#include "imap/server/session.h"
#include "imap/server/view_entries.h"
#include "mail/env.h"
#include "mime/message.h"
#include "store/change_hub.h"
#include "store/types.h"

namespace correio::imap {

using net::awaitable;

// Output is flushed when this much is buffered (large FETCH responses).
inline constexpr size_t kFlushAt = 256 * 1024;

enum class SessionState : uint8_t {
  kNotAuthenticated = 1,
  kAuthenticated = 2,
  kSelected = 4,
  kLogout = 8,
};

// The tagged completion of a command.
struct Reply {
  std::string status = "OK";  // OK, NO, BAD
  std::string text;           // "[CODE] human text"
  static Reply Ok(std::string t) { return {"OK", std::move(t)}; }
  static Reply No(std::string t) { return {"NO", std::move(t)}; }
  static Reply Bad(std::string t) { return {"BAD", std::move(t)}; }
};

// The selected mailbox as this session sees it: sequence number i+1 is
// entries[i]. Compact (5 to 7 octets a message, shared with the other
// sessions whose view is the same: view_entries.h; keywords only for
// messages that have any) so that a 10^6-message mailbox costs ~7 MB.
struct View {
  // uid, system (store::Flag bits), modseq() (store/types.h), by value.
  using Entry = ViewEntries::Entry;
  store::Mailbox mailbox;
  bool read_only = false;
  ViewEntries entries;
  std::unordered_map<store::Uid, std::vector<std::string>> keywords;
  store::ModSeq highest_modseq = 0;
  uint32_t uid_next = 1;

  std::vector<uint32_t> Uids() const;
  // Index of `uid`, or -1.
  int64_t Find(store::Uid uid) const;
  store::Flags FlagsAt(size_t i) const;
  void SetFlags(size_t i, const store::Flags& f, store::ModSeq modseq);
  // Removes every entry whose uid is in `uids` (any order) and returns
  // their 1-based sequence numbers as they were, highest first: the order
  // in which EXPUNGE responses keep every number valid (RFC 9051 §7.5.1).
  std::vector<uint32_t> RemoveUids(const std::vector<store::Uid>& uids);
};

// A NOTIFY event about a mailbox other than the selected one, waiting for
// ResolveNotes to turn it into a STATUS or LIST response.
struct NotifyNote {
  enum Kind : uint8_t { kStatus, kList, kSubscription };
  Kind kind = kStatus;
  store::MailboxId mailbox = 0;
  std::string name;      // internal UTF-8
  std::string old_name;  // kList after a rename
  bool deleted = false;  // kList after a delete
};

class Session;
awaitable<void> IdleWriter(std::shared_ptr<Session> self);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<net::Connection> conn, mail::Env env,
          SessionOptions options);
  ~Session();
  awaitable<void> Run();

  // Posted to our executor by the ChangeHub callback.
  void OnChange(std::shared_ptr<const store::Change> change);

  // The IDLE writer (session.cc), beside CmdIdle's pending read: IdleStep
  // queues pending updates into out_ and says whether to Flush.
  bool IdleStep();
  void IdleWriteFailed();
  awaitable<bool> Flush();
  // NOTIFY: turns the notes taken since the last call into responses
  // (reads the store). A no-op without NOTIFY.
  awaitable<void> ResolveNotes();

 private:
  using Handler = awaitable<Reply> (Session::*)(Command cmd);
  struct CommandSpec {
    const char* name;
    bool uid;         // the "UID name" form
    uint8_t states;   // SessionState bits where allowed
    uint8_t flags;    // kSpec* below
    Handler handler;
  };
  static constexpr uint8_t kSpecDefersExpunge = 1;  // RFC 9051 §7.5.1
  // The response describes one snapshot (SELECT, EXAMINE): changes
  // committed while it was read stay pending until the next command (or
  // IDLE). Not inside the response: a QRESYNC client reconciles its cache
  // with exactly its EXISTS, VANISHED (EARLIER) and FETCH set. Nor right
  // after it, when no command is in progress: RFC 9051 §7.5.1 forbids an
  // EXPUNGE there, and a client that sent FETCH 952:1001 on the
  // `* 1001 EXISTS` it had just read found 1001 gone (BAD).
  static constexpr uint8_t kSpecSnapshotReply = 2;
  static const CommandSpec kCommands[];
  static const CommandSpec* FindSpec(const std::string& name, bool uid);

  // ---- plumbing (session.cc) ----
  struct ReadResult {
    std::optional<Command> command;
    std::optional<ParseError> error;
    bool too_big = false;  // a literal over the limit
    bool closed = false;
  };
  awaitable<ReadResult> ReadCommand();
  void Send(std::string_view s) { out_.append(s); }
  awaitable<void> Goodbye(std::string_view reason);
  std::string Capabilities() const;
  bool TlsRequiredForLogin() const;
  AssemblerLimits Limits() const;
  // STYLE 8: the one Error -> reply mapping. Logs internals.
  Reply ErrorReply(const Error& e, std::string_view action);
  // Forwards so that RunBlocking's guard against owning temporaries
  // (net/blocking.h, GCC 12) still applies to our callers.
  template <class F>
  auto Blocking(F&& f) {
    return net::RunBlocking(*env_.pool, std::forward<F>(f));
  }

  // Mailbox names: wire <-> internal UTF-8, validated.
  Result<std::string> DecodeMailboxName(std::string_view wire) const;
  std::string EncodeMailboxName(std::string_view utf8) const;
  std::string FlagsString(const store::Flags& f) const;
  Result<store::Flags> ParseFlags(const std::vector<std::string>& flags,
                                  bool allow_recent) const;

  // Changes from other sessions.
  // Sends what can be sent now; with `expunge_allowed` false, expunges of
  // the selected mailbox stay queued and everything else is applied.
  void ApplyPending(bool expunge_allowed);
  // Applies the queued flag changes of other sessions to the messages the
  // view has, leaving everything queued (run before each command).
  void ApplyPendingFlags();
  // Another session's flag change to the selected mailbox: the view's
  // messages that it makes newer, each reported with a FETCH.
  void ApplyFlagChange(const store::Change& c);
  void ApplyChange(const store::Change& c);
  void ResetSelection();
  // "* n FETCH (UID u FLAGS (...))" for view index i.
  std::string FlagsFetch(size_t i, bool with_uid) const;
  // Drops `uids` from the view and queues their EXPUNGE responses (one
  // VANISHED response once QRESYNC is enabled, RFC 7162 §3.2.10).
  void SendExpunges(const std::vector<store::Uid>& uids);
  // A CONDSTORE-enabling command (RFC 7162 §3.1): from now on FETCH
  // responses carry MODSEQ. In the selected state the client learns the
  // HIGHESTMODSEQ at once.
  void EnableCondstore();
  // QRESYNC: the expunge log since a MODSEQ (run on the blocking pool;
  // the floor is read after the list, so a compaction in between shows).
  struct ExpungeLog {
    std::vector<store::Uid> uids;
    bool incomplete = false;  // records past imap.expunge_log_days dropped
  };
  static Result<ExpungeLog> ReadExpungeLog(store::Store* store,
                                           store::MailboxId mailbox,
                                           store::ModSeq since);
  // The VANISHED (EARLIER) set ("a:b,c") within `ranges`: the logged UIDs
  // the view does not have; with an incomplete log, every UID of `ranges`
  // the view does not have (all gone: UIDs are never reused; RFC 7162
  // §3.2.5.2 allows more than the minimum).
  std::string VanishedSet(
      const ExpungeLog& log,
      const std::vector<std::pair<uint32_t, uint32_t>>& ranges) const;

  // Resolves a set (sequence numbers or UIDs) against the view to indexes.
  Result<std::vector<uint32_t>> Resolve(const SequenceSet& set, bool uid);
  store::UidSet UidSetOf(const std::vector<uint32_t>& indexes) const;

  // ---- handlers (cmd_*.cc) ----
  awaitable<Reply> CmdCapability(Command cmd);
  awaitable<Reply> CmdNoop(Command cmd);
  awaitable<Reply> CmdLogout(Command cmd);
  awaitable<Reply> CmdId(Command cmd);
  awaitable<Reply> CmdEnable(Command cmd);
  awaitable<Reply> CmdNamespace(Command cmd);
  awaitable<Reply> CmdGetQuota(Command cmd);
  awaitable<Reply> CmdGetQuotaRoot(Command cmd);
  awaitable<Reply> CmdStartTls(Command cmd);
  awaitable<Reply> CmdLogin(Command cmd);
  awaitable<Reply> CmdAuthenticate(Command cmd);
  awaitable<Reply> CmdSelect(Command cmd);
  awaitable<Reply> CmdClose(Command cmd);
  awaitable<Reply> CmdUnselect(Command cmd);
  awaitable<Reply> CmdCreate(Command cmd);
  awaitable<Reply> CmdDelete(Command cmd);
  awaitable<Reply> CmdRename(Command cmd);
  awaitable<Reply> CmdSubscribe(Command cmd);
  awaitable<Reply> CmdStatus(Command cmd);
  awaitable<Reply> CmdList(Command cmd);
  awaitable<Reply> CmdAppend(Command cmd);
  awaitable<Reply> CmdExpunge(Command cmd);
  awaitable<Reply> CmdFetch(Command cmd);
  awaitable<Reply> CmdStore(Command cmd);
  awaitable<Reply> CmdCopy(Command cmd);
  awaitable<Reply> CmdSearch(Command cmd);
  awaitable<Reply> CmdSort(Command cmd);
  awaitable<Reply> CmdThread(Command cmd);
  awaitable<Reply> CmdIdle(Command cmd);
  awaitable<Reply> CmdCompress(Command cmd);
  awaitable<Reply> CmdNotify(Command cmd);

  // NOTIFY (cmd_notify.cc): the events the filters give a mailbox name, a
  // note for each change that needs a response, and the responses.
  uint32_t NotifyEventsFor(std::string_view name) const;
  void NoteChange(const store::Change& c);

  // Shared by LOGIN and AUTHENTICATE: wait the throttle delay, then enter
  // the authenticated state.
  awaitable<void> Delay(std::chrono::seconds d);
  void LoggedIn(const store::Account& account);
  // STATUS items for one mailbox ("MESSAGES 3 UIDNEXT 9").
  Result<std::string> StatusItems(const store::Mailbox& mb,
                                  const std::vector<std::string>& items);
  // SEARCH evaluation shared by SEARCH, SORT, THREAD: view indexes that
  // match, ascending.
  awaitable<Result<std::vector<uint32_t>>> Evaluate(const SearchKey& key);
  // Performs flag changes and reports them (STORE, \Seen by FETCH).
  awaitable<Result<store::FlagResult>> UpdateFlags(
      const std::vector<uint32_t>& indexes, const store::FlagUpdate& update);
  // Expunges those of `uids` that have \Deleted (decided by the store at
  // commit) and sends EXPUNGE responses.
  // `report` false: silently (CLOSE).
  awaitable<Status> ExpungeDeleted(const store::UidSet& uids,
                                   bool report = true);

  std::shared_ptr<net::Connection> conn_;
  mail::Env env_;
  SessionOptions options_;
  const config::Config& cfg_;
  uint64_t origin_;
  boost::asio::any_io_executor executor_;
  std::string log_;  // "imap#12"

  SessionState state_ = SessionState::kNotAuthenticated;
  store::Account account_;
  bool utf8_ = false;       // ENABLE UTF8=ACCEPT (RFC 6855)
  bool rev2_ = false;       // ENABLE IMAP4rev2 (RFC 9051 §6.3.1)
  bool condstore_ = false;  // CONDSTORE enabled (RFC 7162)
  bool qresync_ = false;    // QRESYNC enabled (RFC 7162 §3.2.3)
  // SELECT/EXAMINE is loading its snapshot: changes are kept (not
  // dropped for want of a view) so none committed meanwhile is lost.
  bool selecting_ = false;
  std::optional<NotifyArgs> notify_;  // NOTIFY SET in force (names UTF-8)
  std::vector<FetchItem> notify_new_fetch_;  // MessageNew (fetch-att ...)
  std::vector<uint32_t> notify_new_uids_;    // ... to fetch next
  std::vector<NotifyNote> notes_;
  std::set<std::string> notify_subscribed_;  // for the SUBSCRIBED filter
  bool notify_subscriptions_stale_ = false;
  std::optional<View> view_;
  std::vector<store::Uid> saved_;  // SEARCHRES $ (RFC 5182), as UIDs
  uint32_t bad_ = 0;

  CommandAssembler assembler_;
  std::string out_;
  store::ChangeHub::Subscription subscription_;
  std::deque<std::shared_ptr<const store::Change>> pending_;
  bool idling_ = false;
  bool idle_writer_running_ = false;
  boost::asio::steady_timer* idle_wait_ = nullptr;  // IDLE waits for writer
  bool current_uid_ = false;  // the command being run is a UID command
};

}  // namespace correio::imap
