// CREATE (RFC 9051 §6.3.4, RFC 6154 §3 USE), DELETE (§6.3.5), RENAME
// (§6.3.6, INBOX semantics), SUBSCRIBE/UNSUBSCRIBE (§6.3.7-8), STATUS
// (§6.3.11, RFC 8438 SIZE, RFC 9051 DELETED).
#include "base/strings.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

namespace {

std::optional<store::SpecialUse> SpecialUseFromAttr(std::string_view a) {
  using S = store::SpecialUse;
  static constexpr std::pair<const char*, S> kUses[] = {
      {"\\All", S::kAll},     {"\\Archive", S::kArchive},
      {"\\Drafts", S::kDrafts}, {"\\Flagged", S::kFlagged},
      {"\\Junk", S::kJunk},   {"\\Sent", S::kSent},
      {"\\Trash", S::kTrash},
  };
  for (const auto& [n, u] : kUses) {
    if (EqualsIgnoreCase(a, n)) return u;
  }
  return std::nullopt;
}

// "a/b/c" -> {"a", "a/b"}.
std::vector<std::string> Parents(const std::string& name) {
  std::vector<std::string> out;
  for (size_t p = name.find('/'); p != std::string::npos;
       p = name.find('/', p + 1)) {
    out.push_back(name.substr(0, p));
  }
  return out;
}

}  // namespace

awaitable<Reply> Session::CmdCreate(Command cmd) {
  auto& a = std::get<CreateArgs>(cmd.args);
  std::string wire = a.mailbox;
  // RFC 9051 §6.3.4: a trailing separator only declares the intent to
  // create children.
  if (wire.size() > 1 && wire.back() == '/') wire.pop_back();
  auto name = DecodeMailboxName(wire);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  if (*name == "INBOX") {
    co_return Reply::No("[ALREADYEXISTS] INBOX always exists");
  }
  store::SpecialUse use = store::SpecialUse::kNone;
  if (a.special_use.size() > 1) {
    co_return Reply::No("[USEATTR] Only one special use per mailbox");
  }
  if (!a.special_use.empty()) {
    auto u = SpecialUseFromAttr(a.special_use[0]);
    if (!u) co_return Reply::No("[USEATTR] Unsupported special use");
    use = *u;
  }
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  auto r = co_await Blocking([&]() -> Status {
    // RFC 9051 §6.3.4: create the superior names that are missing.
    for (const auto& p : Parents(n)) {
      auto c = store->CreateMailbox(id, p, store::SpecialUse::kNone);
      if (!c && c.error().code() != ErrorCode::kExists) return Fail(c.error());
    }
    auto c = store->CreateMailbox(id, n, use);
    if (!c) return Fail(c.error());
    return {};
  });
  if (!r) co_return ErrorReply(r.error(), "CREATE");
  co_return Reply::Ok("CREATE completed");
}

awaitable<Reply> Session::CmdDelete(Command cmd) {
  auto name = DecodeMailboxName(std::get<MailboxArgs>(cmd.args).mailbox);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  if (*name == "INBOX") co_return Reply::No("[CANNOT] INBOX cannot be deleted");
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  auto r = co_await Blocking([&]() -> Result<store::MailboxId> {
    auto mb = store->GetMailbox(id, n);
    if (!mb) return Fail(mb.error());
    if (auto st = store->DeleteMailbox(mb->id); !st) return Fail(st.error());
    return mb->id;
  });
  if (!r) co_return ErrorReply(r.error(), "DELETE");
  if (view_ && view_->mailbox.id == *r) ResetSelection();
  co_return Reply::Ok("DELETE completed");
}

awaitable<Reply> Session::CmdRename(Command cmd) {
  auto& a = std::get<RenameArgs>(cmd.args);
  auto from = DecodeMailboxName(a.from);
  if (!from) co_return Reply::No("[CANNOT] " + from.error().message());
  auto to = DecodeMailboxName(a.to);
  if (!to) co_return Reply::No("[CANNOT] " + to.error().message());
  if (*to == "INBOX" || to->starts_with(*from + "/")) {
    co_return Reply::No("[CANNOT] Invalid rename target");
  }
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string f = *from, t = *to;
  uint64_t origin = origin_;
  auto r = co_await Blocking([&]() -> Status {
    auto mb = store->GetMailbox(id, f);
    if (!mb) return Fail(mb.error());
    if (auto existing = store->GetMailbox(id, t); existing) {
      return Fail(ErrorCode::kExists, "target exists");
    }
    for (const auto& p : Parents(t)) {
      auto c = store->CreateMailbox(id, p, store::SpecialUse::kNone);
      if (!c && c.error().code() != ErrorCode::kExists) return Fail(c.error());
    }
    if (f != "INBOX") return store->RenameMailbox(mb->id, t);
    // RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox
    // and leaves INBOX empty (its children are not renamed).
    auto dest = store->CreateMailbox(id, t, store::SpecialUse::kNone);
    if (!dest) return Fail(dest.error());
    store::UidSet all{{1, 0xFFFFFFFFu}};  // whatever INBOX holds now
    auto moved = store->Move(mb->id, all, dest->id, origin);
    if (!moved) return Fail(moved.error());
    return {};
  });
  if (!r) co_return ErrorReply(r.error(), "RENAME");
  co_return Reply::Ok("RENAME completed");
}

awaitable<Reply> Session::CmdSubscribe(Command cmd) {
  auto name = DecodeMailboxName(std::get<MailboxArgs>(cmd.args).mailbox);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  bool on = cmd.name == "SUBSCRIBE";
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  auto r = co_await Blocking(
      [&] { return store->SetSubscribed(id, n, on); });
  if (!r) co_return ErrorReply(r.error(), cmd.name);
  co_return Reply::Ok(cmd.name + " completed");
}

Result<std::string> Session::StatusItems(
    const store::Mailbox& mb, const std::vector<std::string>& items) {
  // Runs on the blocking pool: touches only the store and constant data.
  std::optional<store::MailboxStatus> st;
  auto status = [&]() -> Result<store::MailboxStatus> {
    if (!st) {
      auto s = env_.store->GetMailboxStatus(mb.id);
      if (!s) return Fail(s.error());
      st = *s;
    }
    return *st;
  };
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ' ';
    uint64_t v = 0;
    if (item == "UIDNEXT") {
      v = mb.uid_next;
    } else if (item == "UIDVALIDITY") {
      v = mb.uid_validity;
    } else if (item == "HIGHESTMODSEQ") {
      v = mb.highest_modseq;
    } else if (item == "APPENDLIMIT") {
      v = cfg_.limits.max_message_size;
    } else if (item == "MAILBOXID") {
      out += "MAILBOXID (F" + std::to_string(mb.id) + ")";
      continue;
    } else if (item == "MESSAGES" || item == "UNSEEN" || item == "RECENT" ||
               item == "SIZE" || item == "DELETED") {
      auto s = status();
      if (!s) return Fail(s.error());
      v = item == "MESSAGES" ? s->messages
          : item == "UNSEEN" ? s->unseen
          : item == "RECENT" ? s->recent
          : item == "SIZE"   ? s->size
                             : s->deleted;
    } else {
      return Fail(ErrorCode::kInvalid, "Unknown STATUS item " + item);
    }
    out += item + " " + std::to_string(v);
  }
  return out;
}

awaitable<Reply> Session::CmdStatus(Command cmd) {
  auto& a = std::get<StatusArgs>(cmd.args);
  auto name = DecodeMailboxName(a.mailbox);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  auto items = a.items;
  bool unknown = false;
  for (const auto& i : items) {
    static constexpr const char* kKnown[] = {
        "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",  "RECENT",
        "SIZE",     "DELETED", "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID"};
    if (std::find_if(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return i == k; }) ==
        std::end(kKnown)) {
      unknown = true;
    }
  }
  if (unknown) co_return Reply::Bad("Unknown STATUS item");
  if (std::find(items.begin(), items.end(), "HIGHESTMODSEQ") != items.end()) {
    EnableCondstore();  // RFC 7162 §3.1
  }
  auto r = co_await Blocking([&]() -> Result<std::string> {
    auto mb = store->GetMailbox(id, n);
    if (!mb) return Fail(mb.error());
    return StatusItems(*mb, items);
  });
  if (!r) co_return ErrorReply(r.error(), "STATUS");
  Send("* STATUS " + EncodeMailboxName(n) + " (" + *r + ")\r\n");
  co_return Reply::Ok("STATUS completed");
}

}  // namespace correio::imap
