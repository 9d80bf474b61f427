#include "imap/server/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth/sasl.h"
#include "base/strings.h"
#include "imap/proto/envelope.h"
#include "imap/proto/mutf7.h"
#include "imap/proto/parser.h"
#include "imap/proto/sequence.h"
#include "imap/proto/writer.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

namespace asio = boost::asio;

namespace {
constexpr uint8_t kAny = 1 | 2 | 4;
constexpr uint8_t kNotAuth = 1;
constexpr uint8_t kAuth = 2 | 4;
constexpr uint8_t kSel = 4;
constexpr uint8_t kAuthOnly = 2;
// Room for the command itself beside its literals.
constexpr uint64_t kCommandSlack = 1 << 20;
}  // namespace

// STYLE 5: the one command table. The dispatcher enforces states; handlers
// assume them.
const Session::CommandSpec Session::kCommands[] = {
    {"CAPABILITY", false, kAny, 0, &Session::CmdCapability},
    {"NOOP", false, kAny, 0, &Session::CmdNoop},
    {"LOGOUT", false, kAny, 0, &Session::CmdLogout},
    {"ID", false, kAny, 0, &Session::CmdId},
    {"STARTTLS", false, kNotAuth, 0, &Session::CmdStartTls},
    {"LOGIN", false, kNotAuth, 0, &Session::CmdLogin},
    {"AUTHENTICATE", false, kNotAuth, 0, &Session::CmdAuthenticate},
    {"ENABLE", false, kAuthOnly, 0, &Session::CmdEnable},
    {"SELECT", false, kAuth, kSpecSnapshotReply, &Session::CmdSelect},
    {"EXAMINE", false, kAuth, kSpecSnapshotReply, &Session::CmdSelect},
    {"CREATE", false, kAuth, 0, &Session::CmdCreate},
    {"DELETE", false, kAuth, 0, &Session::CmdDelete},
    {"RENAME", false, kAuth, 0, &Session::CmdRename},
    {"SUBSCRIBE", false, kAuth, 0, &Session::CmdSubscribe},
    {"UNSUBSCRIBE", false, kAuth, 0, &Session::CmdSubscribe},
    {"LIST", false, kAuth, 0, &Session::CmdList},
    {"LSUB", false, kAuth, 0, &Session::CmdList},
    {"NAMESPACE", false, kAuth, 0, &Session::CmdNamespace},
    {"STATUS", false, kAuth, 0, &Session::CmdStatus},
    {"APPEND", false, kAuth, 0, &Session::CmdAppend},
    {"IDLE", false, kAuth, 0, &Session::CmdIdle},
    {"COMPRESS", false, kAuth, 0, &Session::CmdCompress},
    {"NOTIFY", false, kAuth, 0, &Session::CmdNotify},
    {"GETQUOTA", false, kAuth, 0, &Session::CmdGetQuota},
    {"GETQUOTAROOT", false, kAuth, 0, &Session::CmdGetQuotaRoot},
    {"CHECK", false, kSel, 0, &Session::CmdNoop},
    {"CLOSE", false, kSel, 0, &Session::CmdClose},
    {"UNSELECT", false, kSel, 0, &Session::CmdUnselect},
    {"EXPUNGE", false, kSel, 0, &Session::CmdExpunge},
    {"EXPUNGE", true, kSel, 0, &Session::CmdExpunge},
    {"FETCH", false, kSel, kSpecDefersExpunge, &Session::CmdFetch},
    {"FETCH", true, kSel, 0, &Session::CmdFetch},
    {"STORE", false, kSel, kSpecDefersExpunge, &Session::CmdStore},
    {"STORE", true, kSel, 0, &Session::CmdStore},
    {"COPY", false, kSel, 0, &Session::CmdCopy},
    {"COPY", true, kSel, 0, &Session::CmdCopy},
    {"MOVE", false, kSel, 0, &Session::CmdCopy},
    {"MOVE", true, kSel, 0, &Session::CmdCopy},
    {"SEARCH", false, kSel, kSpecDefersExpunge, &Session::CmdSearch},
    {"SEARCH", true, kSel, 0, &Session::CmdSearch},
    {"SORT", false, kSel, kSpecDefersExpunge, &Session::CmdSort},
    {"SORT", true, kSel, 0, &Session::CmdSort},
    {"THREAD", false, kSel, kSpecDefersExpunge, &Session::CmdThread},
    {"THREAD", true, kSel, 0, &Session::CmdThread},
};

const Session::CommandSpec* Session::FindSpec(const std::string& name,
                                              bool uid) {
  for (const auto& s : kCommands) {
    if (s.uid == uid && name == s.name) return &s;
  }
  return nullptr;
}

// ---- View ----

std::vector<uint32_t> View::Uids() const {
  std::vector<uint32_t> u;
  u.reserve(entries.size());
  for (const auto& e : entries) u.push_back(e.uid());
  return u;
}

int64_t View::Find(store::Uid uid) const {
  auto it = std::lower_bound(
      entries.begin(), entries.end(), uid,
      [](const Entry& e, store::Uid u) { return e.uid() < u; });
  if (it == entries.end() || it->uid() != uid) return -1;
  return it - entries.begin();
}

store::Flags View::FlagsAt(size_t i) const {
  store::Flags f;
  f.system = entries[i].system;
  auto it = keywords.find(entries[i].uid());
  if (it != keywords.end()) f.keywords = it->second;
  return f;
}

void View::SetFlags(size_t i, const store::Flags& f, store::ModSeq modseq) {
  Entry e = entries[i];
  e.system = static_cast<uint8_t>(f.system);
  if (modseq > e.modseq()) e.set_modseq(modseq);
  entries.Set(i, e);
  if (modseq > highest_modseq) highest_modseq = modseq;
  if (f.keywords.empty()) {
    keywords.erase(e.uid());
  } else {
    keywords[e.uid()] = f.keywords;
  }
}

std::vector<uint32_t> View::RemoveUids(const std::vector<store::Uid>& uids) {
  std::vector<uint32_t> seqs;
  for (store::Uid u : uids) {
    int64_t i = Find(u);
    if (i >= 0) seqs.push_back(static_cast<uint32_t>(i + 1));
  }
  if (seqs.empty()) return seqs;
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  std::vector<uint32_t> indexes;
  indexes.reserve(seqs.size());
  for (uint32_t s : seqs) {
    if (!keywords.empty()) keywords.erase(entries[s - 1].uid());
    indexes.push_back(s - 1);
  }
  entries.EraseAt(indexes);
  std::reverse(seqs.begin(), seqs.end());
  return seqs;
}

void Session::SendExpunges(const std::vector<store::Uid>& uids) {
  if (qresync_) {
    std::vector<uint32_t> gone;
    for (store::Uid u : uids) {
      if (view_->Find(u) >= 0) gone.push_back(u);
    }
    view_->RemoveUids(gone);
    std::sort(gone.begin(), gone.end());
    if (!gone.empty()) Send("* VANISHED " + FormatNumberSet(gone) + "\r\n");
    return;
  }
  for (uint32_t seq : view_->RemoveUids(uids)) {
    Send("* " + std::to_string(seq) + " EXPUNGE\r\n");
  }
}

Result<Session::ExpungeLog> Session::ReadExpungeLog(store::Store* store,
                                                    store::MailboxId mailbox,
                                                    store::ModSeq since) {
  auto uids = store->ExpungedSince(mailbox, since);
  if (!uids) return Fail(uids.error());
  auto floor = store->ExpungeLogFloor(mailbox);
  if (!floor) return Fail(floor.error());
  return ExpungeLog{std::move(*uids), *floor > since};
}

std::string Session::VanishedSet(
    const ExpungeLog& log,
    const std::vector<std::pair<uint32_t, uint32_t>>& ranges) const {
  auto in_ranges = [&](uint32_t u) {
    return std::any_of(ranges.begin(), ranges.end(), [u](const auto& r) {
      return u >= r.first && u <= r.second;
    });
  };
  if (!log.incomplete) {
    std::vector<uint32_t> gone;
    for (store::Uid u : log.uids) {
      if (view_->Find(u) < 0 && in_ranges(u)) gone.push_back(u);
    }
    std::sort(gone.begin(), gone.end());
    gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
    return FormatNumberSet(gone);
  }
  std::string out;
  auto add = [&](uint32_t lo, uint32_t hi) {
    if (!out.empty()) out += ',';
    out += std::to_string(lo);
    if (hi != lo) out += ':' + std::to_string(hi);
  };
  const auto& e = view_->entries;
  for (const auto& [first, last] : ranges) {
    uint32_t next = first;  // lowest UID of the range not yet accounted for
    auto it = std::lower_bound(
        e.begin(), e.end(), first,
        [](const View::Entry& x, uint32_t u) { return x.uid() < u; });
    for (; it != e.end() && it->uid() <= last; ++it) {
      if (it->uid() > next) add(next, it->uid() - 1);
      next = it->uid() + 1;
    }
    if (next <= last && next != 0) add(next, last);
  }
  return out;
}

void Session::EnableCondstore() {
  if (condstore_) return;
  condstore_ = true;
  if (view_) {
    Send("* OK [HIGHESTMODSEQ " + std::to_string(view_->highest_modseq) +
         "] Highest\r\n");
  }
}

// ---- Session ----

Session::Session(std::shared_ptr<net::Connection> conn, mail::Env env,
                 SessionOptions options)
    : conn_(std::move(conn)),
      env_(std::move(env)),
      options_(std::move(options)),
      cfg_(*env_.config),
      origin_(env_.NextOrigin()),
      log_("imap#" + std::to_string(conn_->id())),
      assembler_(AssemblerLimits{}) {}

Session::~Session() = default;

AssemblerLimits Session::Limits() const {
  AssemblerLimits l;
  l.max_line = options_.max_line_length;
  // STYLE 9 / issue 5: literals are small until the client has logged in.
  l.max_literal = state_ == SessionState::kNotAuthenticated
                      ? cfg_.limits.max_literal_before_auth
                      : cfg_.limits.max_literal_size;
  l.max_command = l.max_literal + kCommandSlack;
  return l;
}

bool Session::TlsRequiredForLogin() const {
  // RFC 9051 §6.2.3 / §7.1.4 LOGINDISABLED: no password in the clear
  // unless the operator allows it.
  return !conn_->tls_active() && !cfg_.auth.allow_plaintext;
}

std::string Session::Capabilities() const {
  std::string c = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE";
  if (state_ == SessionState::kNotAuthenticated) {
    if (options_.offer_starttls && options_.tls && !conn_->tls_active()) {
      c += " STARTTLS";
    }
    if (TlsRequiredForLogin()) {
      c += " LOGINDISABLED";
    } else {
      for (const auto& m : auth::SaslMechanisms(conn_->tls_active(),
                                                cfg_.auth.allow_plaintext)) {
        c += " AUTH=" + m;
      }
    }
    return c;
  }
  c +=
      " IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED "
      "LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES SORT "
      "ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES MULTIAPPEND BINARY "
      "UTF8=ACCEPT WITHIN SAVEDATE PREVIEW OBJECTID QUOTA QUOTA=RES-STORAGE "
      "QUOTA=RES-MESSAGE STATUS=SIZE CONDSTORE QRESYNC NOTIFY";
  if (!conn_->compressed()) c += " COMPRESS=DEFLATE";
  c += " APPENDLIMIT=" + std::to_string(cfg_.limits.max_message_size);
  return c;
}

Reply Session::ErrorReply(const Error& e, std::string_view action) {
  switch (e.code()) {
    case ErrorCode::kNotFound:
      return Reply::No("[NONEXISTENT] No such mailbox");
    case ErrorCode::kExists:
      return Reply::No("[ALREADYEXISTS] Mailbox already exists");
    case ErrorCode::kOverQuota:
      return Reply::No("[OVERQUOTA] Quota exceeded");
    case ErrorCode::kTooBig:
      return Reply::No("[TOOBIG] Message too big");
    case ErrorCode::kInUse:
      return Reply::No("[INUSE] Mailbox in use, try again");
    case ErrorCode::kPerm:
      return Reply::No("[NOPERM] " + std::string(action) + " not permitted");
    case ErrorCode::kInvalid:
      return Reply::No("[CANNOT] " + std::string(action) + " failed");
    case ErrorCode::kTemp:
      spdlog::warn("{} {}: {}", log_, action, e.ToString());
      return Reply::No("[UNAVAILABLE] Temporary failure, try again");
    case ErrorCode::kNoSpace:
      // Not [OVERQUOTA]: that tells the user to delete mail, and the
      // user's quota is not what is full (RFC 5530 UNAVAILABLE: a
      // subsystem is down for now).
      spdlog::error("{} {}: {}", log_, action, e.ToString());
      return Reply::No("[UNAVAILABLE] Server storage full, try again later");
    case ErrorCode::kInternal:
      break;
  }
  spdlog::error("{} {}: {}", log_, action, e.ToString());
  return Reply::No("[SERVERBUG] Internal error");
}

awaitable<bool> Session::Flush() {
  if (out_.empty()) co_return true;
  std::string data;
  data.swap(out_);
  auto st = co_await conn_->Write(data);
  co_return st.has_value();
}

awaitable<void> Session::Goodbye(std::string_view reason) {
  out_ += "* BYE ";
  out_ += reason;
  out_ += "\r\n";
  co_await Flush();
}

awaitable<Session::ReadResult> Session::ReadCommand() {
  ReadResult r;
  assembler_.set_limits(Limits());
  assembler_.Reset();
  for (;;) {
    if (assembler_.in_literal()) {
      size_t want = static_cast<size_t>(
          std::min<uint64_t>(assembler_.literal_remaining(), 1 << 18));
      auto data = co_await conn_->ReadSome(want);
      if (!data) {
        r.closed = true;
        co_return r;
      }
      assembler_.Feed(*data);
    } else {
      auto line = co_await conn_->ReadLine(options_.max_line_length);
      if (!line) {
        if (line.error().code() == ErrorCode::kTooBig) {
          // The connection dropped the line through its LF.
          // The tag comes from the command so far (a line after a
          // literal) or from the head of the dropped line.
          r.error = ParseError{assembler_.error_tag(), "Line too long"};
          if (r.error->tag.empty()) {
            std::string_view c = assembler_.command();
            if (c.empty()) c = conn_->too_long_head();
            r.error->tag = TagOf(c);
          }
          co_return r;
        }
        r.closed = true;
        co_return r;
      }
      if (line->bare_lf) {
        r.error = ParseError{"", "Line must end with CRLF"};
        co_return r;
      }
      std::string l(line->text);
      l += "\r\n";
      assembler_.Feed(l);
    }
    switch (assembler_.state()) {
      case CommandAssembler::State::kNeedMore:
        break;
      case CommandAssembler::State::kNeedContinuation:
        if (!co_await conn_->Write("+ Ready for literal data\r\n")) {
          r.closed = true;
          co_return r;
        }
        break;
      case CommandAssembler::State::kError:
        r.error = ParseError{assembler_.error_tag(), assembler_.error()};
        r.too_big = assembler_.error() == "Literal too big";
        co_return r;
      case CommandAssembler::State::kComplete: {
        std::string bytes = assembler_.TakeCommand();
        auto c = ParseCommand(bytes);
        if (c) {
          r.command = std::move(*c);
        } else {
          r.error = std::move(c.error());
        }
        co_return r;
      }
    }
  }
}

awaitable<void> Session::Run() {
  executor_ = co_await asio::this_coro::executor;
  conn_->SetTimeout(std::chrono::seconds(options_.idle_timeout_seconds));
  Send("* OK [CAPABILITY " + Capabilities() + "] " + options_.hostname +
       " correio IMAP4rev2 ready\r\n");
  if (!co_await Flush()) co_return;
  for (;;) {
    ReadResult rr = co_await ReadCommand();
    if (rr.closed) {
      if (conn_->stopping()) {
        co_await Goodbye("Server shutting down");
      } else if (conn_->timed_out()) {
        co_await Goodbye("Autologout; idle for too long");
      }
      co_return;
    }
    Reply reply;
    std::string tag;
    if (rr.error) {
      tag = rr.error->tag;
      if (rr.too_big && !tag.empty()) {
        // RFC 7889 §4 / RFC 9051 §7.1: a literal over APPENDLIMIT gets
        // NO [TOOBIG] before the data is sent.
        reply = Reply::No("[TOOBIG] Literal too big");
      } else {
        reply = Reply::Bad(rr.error->message);
      }
      ++bad_;
    } else {
      Command& cmd = *rr.command;
      tag = cmd.tag;
      const CommandSpec* spec = FindSpec(cmd.name, cmd.uid);
      if (!spec) {
        reply = Reply::Bad("Unknown command");
        ++bad_;
      } else if (!(spec->states & static_cast<uint8_t>(state_))) {
        reply = Reply::Bad(state_ == SessionState::kAuthenticated &&
                                   spec->states == kSel
                               ? "No mailbox selected"
                               : "Command not valid in this state");
        ++bad_;
      } else {
        current_uid_ = cmd.uid;
        // Let change notifications already posted to this executor run
        // first: a change committed before this command arrived (another
        // session's STORE or MOVE the client waited for) must be in
        // pending_ now, not after the command. Without this the socket's
        // completion could be handled ahead of them, and a NOOP right
        // after another session's MOVE reported nothing (seen as a rare
        // test_imap_model divergence).
        co_await asio::post(executor_, asio::use_awaitable);
        // Other sessions' flag changes first, so the command works on the
        // flags as they are (a STORE reports real flags, a FETCH BODY[]
        // sees \Seen taken off elsewhere). New messages and expunges wait
        // until after it: they would change what "*" and the client's
        // sequence numbers mean.
        if (view_) ApplyPendingFlags();
        reply = co_await (this->*(spec->handler))(std::move(cmd));
        if (reply.status == "BAD") ++bad_;
        if (state_ != SessionState::kLogout && reply.status != "") {
          if (spec->flags & kSpecSnapshotReply) {
            // The changes wait in pending_ (kSpecSnapshotReply); the view
            // is consistent as loaded, so it may be shared now.
            if (view_) view_->entries.Share();
          } else {
            // RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE or
            // SEARCH by sequence number (they would shift the numbers).
            ApplyPending(!(spec->flags & kSpecDefersExpunge) || current_uid_);
            if (notify_) co_await ResolveNotes();  // no frame otherwise
          }
        }
      }
    }
    if (reply.status.empty()) {
      // The handler answered itself (STARTTLS).
    } else {
      Send((tag.empty() ? "*" : tag) + " " + reply.status + " " + reply.text +
           "\r\n");
    }
    if (!co_await Flush()) co_return;
    if (state_ == SessionState::kLogout) co_return;
    if (bad_ > options_.max_bad_commands) {
      co_await Goodbye("Too many invalid commands");
      co_return;
    }
    if (conn_->stopping()) {
      co_await Goodbye("Server shutting down");
      co_return;
    }
  }
}

// ---- names and flags ----

Result<std::string> Session::DecodeMailboxName(std::string_view wire) const {
  std::string name;
  if (utf8_) {
    // RFC 6855 §3: after ENABLE UTF8=ACCEPT names are UTF-8 on the wire.
    if (!IsValidUtf8(wire)) {
      return Fail(ErrorCode::kInvalid, "Mailbox name is not valid UTF-8");
    }
    name.assign(wire);
  } else {
    bool ascii = std::all_of(wire.begin(), wire.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x80;
    });
    auto d = ascii ? DecodeMutf7(wire) : std::nullopt;
    if (!d) {
      return Fail(ErrorCode::kInvalid,
                  "Mailbox name is not valid modified UTF-7");
    }
    name = std::move(*d);
  }
  if (name.empty()) return Fail(ErrorCode::kInvalid, "Empty mailbox name");
  if (name.size() > 1000) {
    return Fail(ErrorCode::kInvalid, "Mailbox name too long");
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return Fail(ErrorCode::kInvalid, "Control character in mailbox name");
    }
    if (c == '*' || c == '%') {
      return Fail(ErrorCode::kInvalid, "Wildcard in mailbox name");
    }
  }
  // Levels: no empty level, no "." or ".." (names must not be able to
  // reach outside the account in any file-backed store).
  for (auto level : SplitString(name, '/')) {
    if (level.empty()) {
      return Fail(ErrorCode::kInvalid, "Empty level in mailbox name");
    }
    if (level == "." || level == ".." || level.find("..") != level.npos) {
      return Fail(ErrorCode::kInvalid, "\"..\" in mailbox name");
    }
  }
  // RFC 9051 §5.1: INBOX is case-insensitive, also as the first level.
  if (StartsWithIgnoreCase(name, "INBOX") &&
      (name.size() == 5 || name[5] == '/')) {
    name.replace(0, 5, "INBOX");
  }
  return name;
}

std::string Session::EncodeMailboxName(std::string_view utf8) const {
  std::string out;
  if (utf8_) {
    AppendAstring(out, utf8, true);
  } else {
    AppendAstring(out, EncodeMutf7(utf8), false);
  }
  return out;
}

std::string Session::FlagsString(const store::Flags& f) const {
  std::string out = "(";
  auto add = [&](std::string_view s) {
    if (out.size() > 1) out += ' ';
    out += s;
  };
  if (f.system & store::kFlagSeen) add("\\Seen");
  if (f.system & store::kFlagAnswered) add("\\Answered");
  if (f.system & store::kFlagFlagged) add("\\Flagged");
  if (f.system & store::kFlagDeleted) add("\\Deleted");
  if (f.system & store::kFlagDraft) add("\\Draft");
  for (const auto& k : f.keywords) add(k);
  out += ')';
  return out;
}

Result<store::Flags> Session::ParseFlags(const std::vector<std::string>& flags,
                                         bool allow_recent) const {
  store::Flags f;
  for (const auto& s : flags) {
    if (s.starts_with('\\')) {
      if (EqualsIgnoreCase(s, "\\Seen")) {
        f.system |= store::kFlagSeen;
      } else if (EqualsIgnoreCase(s, "\\Answered")) {
        f.system |= store::kFlagAnswered;
      } else if (EqualsIgnoreCase(s, "\\Flagged")) {
        f.system |= store::kFlagFlagged;
      } else if (EqualsIgnoreCase(s, "\\Deleted")) {
        f.system |= store::kFlagDeleted;
      } else if (EqualsIgnoreCase(s, "\\Draft")) {
        f.system |= store::kFlagDraft;
      } else if (EqualsIgnoreCase(s, "\\Recent") && allow_recent) {
        // \Recent is not kept (RFC 9051 removed it); ignored.
      } else {
        return Fail(ErrorCode::kInvalid, "Invalid system flag " + s);
      }
    } else {
      if (s.size() > 200) return Fail(ErrorCode::kInvalid, "Keyword too long");
      f.keywords.push_back(s);
    }
  }
  std::sort(f.keywords.begin(), f.keywords.end());
  f.keywords.erase(std::unique(f.keywords.begin(), f.keywords.end()),
                   f.keywords.end());
  return f;
}

// ---- selection and updates ----

Result<std::vector<uint32_t>> Session::Resolve(const SequenceSet& set,
                                               bool uid) {
  const View& v = *view_;
  if (set.saved) {
    // RFC 5182 §2.1: "$" is the last SEARCH ... SAVE result; messages
    // expunged since are left out.
    std::vector<uint32_t> out;
    for (store::Uid u : saved_) {
      int64_t i = v.Find(u);
      if (i >= 0) out.push_back(static_cast<uint32_t>(i));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  if (uid) {
    auto uids = v.Uids();
    return ResolveUidSet(set, uids);
  }
  return ResolveSequenceSet(set, static_cast<uint32_t>(v.entries.size()));
}

store::UidSet Session::UidSetOf(const std::vector<uint32_t>& indexes) const {
  store::UidSet set;
  for (uint32_t i : indexes) {
    store::Uid u = view_->entries[i].uid();
    if (!set.empty() && set.back().last + 1 == u) {
      set.back().last = u;
    } else {
      set.push_back({u, u});
    }
  }
  return set;
}

void Session::ResetSelection() {
  view_.reset();
  saved_.clear();
  pending_.clear();
  if (state_ == SessionState::kSelected) state_ = SessionState::kAuthenticated;
}

std::string Session::FlagsFetch(size_t i, bool with_uid) const {
  std::string s = "* " + std::to_string(i + 1) + " FETCH (";
  // RFC 7162 §3.2.4: with QRESYNC every FETCH carries the UID.
  if (with_uid || qresync_) {
    s += "UID " + std::to_string(view_->entries[i].uid()) + " ";
  }
  s += "FLAGS " + FlagsString(view_->FlagsAt(i));
  // RFC 7162 §3.1.4.2: MODSEQ in flag updates once CONDSTORE is on.
  if (condstore_) s += " MODSEQ (" + std::to_string(view_->entries[i].modseq()) + ")";
  s += ")\r\n";
  return s;
}

void Session::OnChange(std::shared_ptr<const store::Change> change) {
  if (!notify_ && !selecting_ &&
      (!view_ || change->mailbox != view_->mailbox.id)) {
    // Without NOTIFY only the selected mailbox is reported.
    if (change->kind != store::Change::Kind::kMailboxDeleted &&
        change->kind != store::Change::Kind::kMailboxRenamed) {
      return;
    }
  }
  pending_.push_back(std::move(change));
  if (idling_ && !idle_writer_running_) {
    idle_writer_running_ = true;
    // CmdIdle waits for the writer before it returns; the shared_ptr keeps
    // the session alive regardless.
    asio::co_spawn(executor_, IdleWriter(shared_from_this()),
                   [](std::exception_ptr e) {
                     if (e) spdlog::error("imap: IDLE writer failed");
                   });
  }
}

void Session::ApplyPending(bool expunge_allowed) {
  // When expunges may not be sent, they stay queued (in order) and every
  // other change is applied around them: new messages and flag changes
  // never shift sequence numbers, and numbering them with the expunged
  // message still in the view is what the client expects, since it has
  // not been told of the expunge either. So a STORE, FETCH or SEARCH
  // always sees the other sessions' flags (RFC 9051 §7.5.1).
  // In place, without a second queue: this runs after every command.
  size_t kept = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    auto c = std::move(pending_[i]);
    if (!expunge_allowed && c->kind == store::Change::Kind::kExpunged &&
        view_ && c->mailbox == view_->mailbox.id) {
      pending_[kept++] = std::move(c);
      continue;
    }
    ApplyChange(*c);
  }
  pending_.resize(kept);
  // A consistent point: share the view with the sessions that hold the
  // same (view_entries.h).
  if (view_) view_->entries.Share();
}

void Session::ApplyPendingFlags() {
  // The changes stay queued: one may also name a message whose EXISTS is
  // still queued, and applying them again later is a no-op for the rest
  // (the MODSEQ check).
  for (const auto& p : pending_) {
    if (p->kind == store::Change::Kind::kFlags &&
        p->mailbox == view_->mailbox.id) {
      ApplyFlagChange(*p);
    }
  }
}

void Session::ApplyFlagChange(const store::Change& c) {
  if (c.origin == origin_) return;  // our STORE reported it already
  for (const auto& m : c.messages) {
    int64_t i = view_->Find(m.uid);
    if (i < 0 || m.modseq <= view_->entries[i].modseq()) continue;
    view_->SetFlags(static_cast<size_t>(i), m.flags, m.modseq);
    Send(FlagsFetch(static_cast<size_t>(i), true));
  }
}

void Session::ApplyChange(const store::Change& c) {
  if (notify_) NoteChange(c);
  if (!view_) return;
  View& v = *view_;
  using K = store::Change::Kind;
  if (c.kind == K::kMailboxRenamed && c.mailbox == v.mailbox.id) {
    v.mailbox.name = c.mailbox_name;
    return;
  }
  if (c.kind == K::kMailboxDeleted && c.mailbox == v.mailbox.id) {
    // The selected mailbox is gone: nothing can be done with it any more.
    Send("* BYE Selected mailbox was deleted\r\n");
    state_ = SessionState::kLogout;
    return;
  }
  if (c.mailbox != v.mailbox.id) return;
  switch (c.kind) {
    case K::kAppended: {
      // Also our own APPEND/COPY into the selected mailbox: EXISTS comes
      // from here. UIDs already in the view (seen at SELECT) are skipped.
      size_t before = v.entries.size();
      for (const auto& m : c.messages) {
        if (!v.entries.empty() && m.uid <= v.entries.back().uid()) continue;
        v.entries.PushBack({m.uid, m.flags.system, m.modseq});
        if (!m.flags.keywords.empty()) v.keywords[m.uid] = m.flags.keywords;
        if (m.uid >= v.uid_next) v.uid_next = m.uid + 1;
      }
      if (c.modseq > v.highest_modseq) v.highest_modseq = c.modseq;
      if (v.entries.size() != before) {
        Send("* " + std::to_string(v.entries.size()) + " EXISTS\r\n");
      }
      break;
    }
    case K::kFlags:
      ApplyFlagChange(c);
      break;
    case K::kExpunged: {
      // Our own EXPUNGE/MOVE reported what was in the view already; what
      // is left is a message it removed before we had announced it (its
      // EXISTS came just now).
      SendExpunges(c.uids);
      if (c.modseq > v.highest_modseq) v.highest_modseq = c.modseq;
      break;
    }
    default:
      break;
  }
}

bool Session::IdleStep() {
  if (!idling_ || pending_.empty()) {
    idle_writer_running_ = false;
    if (idle_wait_) idle_wait_->cancel();
    return false;
  }
  ApplyPending(true);
  return true;
}

void Session::IdleWriteFailed() {
  idle_writer_running_ = false;
  if (idle_wait_) idle_wait_->cancel();
}

// Runs beside the IDLE handler's pending read: one write at a time. Holds
// the session so that it outlives the write.
//
// No `if (co_await ...)` here: GCC 12 put that condition's frame slot
// (__ifcd_0) in front of the resume pointer in this coroutine's frame, so
// the handle made from the promise was 8 bytes off and the first resume
// trapped (SIGILL). docs/coroutines.md has the audit for the whole tree.
awaitable<void> IdleWriter(std::shared_ptr<Session> self) {
  while (self->IdleStep()) {
    co_await self->ResolveNotes();
    bool written = co_await self->Flush();
    if (!written) {
      self->IdleWriteFailed();
      break;
    }
  }
}

awaitable<void> Session::Delay(std::chrono::seconds d) {
  if (d.count() <= 0) co_return;
  asio::steady_timer t(executor_);
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

void Session::LoggedIn(const store::Account& account) {
  account_ = account;
  state_ = SessionState::kAuthenticated;
  spdlog::info("{} login {} from {}", log_, account.address, conn_->remote_ip());
  std::weak_ptr<Session> weak = shared_from_this();
  auto ex = executor_;
  subscription_ = env_.hub->Subscribe(
      account.id, [weak, ex](const std::shared_ptr<const store::Change>& c) {
        // Publisher's thread: only post (change_hub.h).
        asio::post(ex, [weak, c] {
          if (auto s = weak.lock()) s->OnChange(c);
        });
      });
}

net::awaitable<void> RunSession(std::shared_ptr<net::Connection> conn,
                                mail::Env env, SessionOptions options) {
  auto session =
      std::make_shared<Session>(std::move(conn), std::move(env),
                                std::move(options));
  co_await session->Run();
}

}  // namespace correio::imap
