// SELECT / EXAMINE (RFC 9051 §6.3.2-3), CLOSE (§6.4.1), UNSELECT (§6.4.2).
#include "imap/server/session_internal.h"

namespace correio::imap {

awaitable<Reply> Session::CmdSelect(Command cmd) {
  auto& a = std::get<SelectArgs>(cmd.args);
  bool examine = cmd.name == "EXAMINE";
  if (a.qresync && !qresync_) {
    // RFC 7162 §3.2.5: only after ENABLE QRESYNC; nothing changes.
    co_return Reply::Bad("QRESYNC is not enabled");
  }
  if (a.condstore) condstore_ = true;
  if (view_) {
    // RFC 9051 §6.3.2: selecting closes the previous mailbox, even when the
    // new SELECT fails; [CLOSED] marks the point (RFC 7162 §3.2.11).
    ResetSelection();
    Send("* OK [CLOSED] Previous mailbox closed\r\n");
  }
  auto name = DecodeMailboxName(a.mailbox);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  // Subscribed to the account's changes since login, so nothing committed
  // after this snapshot is missed (ApplyChange skips what it already has).
  pending_.clear();
  selecting_ = true;
  // Built on the blocking pool as the store reads the rows: the entries
  // go straight into the view's encoded array (view_entries.h), so a 10^6-
  // message mailbox is never held twice.
  struct Loaded final : store::ViewReceiver {
    store::Mailbox mailbox;
    ViewEntries entries;
    std::vector<std::pair<store::Uid, std::vector<std::string>>> keywords;
    ExpungeLog vanished;  // QRESYNC: expunged since the client's modseq
    void Begin(const store::Mailbox& mb,
               const store::ViewBounds& bounds) override {
      mailbox = mb;
      entries = ViewEntries(bounds);
    }
    void Row(const store::MailboxView::Entry& e,
             std::vector<std::string>&& kws) override {
      entries.PushBack(e);
      if (!kws.empty()) keywords.emplace_back(e.uid(), std::move(kws));
    }
  };
  const QresyncParams* q = a.qresync ? &*a.qresync : nullptr;
  auto loaded = co_await Blocking([&]() -> Result<Loaded> {
    auto mb = store->GetMailbox(id, n);
    if (!mb) return Fail(mb.error());
    // The mailbox row comes again with the entries, from one snapshot, so
    // UIDNEXT and HIGHESTMODSEQ are exactly those of the entries.
    Loaded l;
    if (auto st = store->ScanView(mb->id, l); !st) return Fail(st.error());
    l.entries.Tighten();  // the store's MODSEQ range may be wider
    if (q && q->uid_validity == l.mailbox.uid_validity) {
      auto log = ReadExpungeLog(store, l.mailbox.id, q->modseq);
      if (!log) return Fail(log.error());
      l.vanished = std::move(*log);
    }
    return l;
  });
  selecting_ = false;
  if (!loaded) co_return ErrorReply(loaded.error(), cmd.name);
  View v;
  v.mailbox = std::move(loaded->mailbox);
  v.read_only = examine;
  v.uid_next = v.mailbox.uid_next;
  v.highest_modseq = v.mailbox.highest_modseq;
  v.entries = std::move(loaded->entries);
  uint32_t first_unseen = 0;
  for (size_t i = 0; i < v.entries.size(); ++i) {
    if (!(v.entries[i].system & store::kFlagSeen)) {
      first_unseen = static_cast<uint32_t>(i + 1);
      break;
    }
  }
  std::vector<std::string> keywords;
  for (auto& [uid, kws] : loaded->keywords) {
    for (const auto& k : kws) {
      if (keywords.size() < 100 &&
          std::find(keywords.begin(), keywords.end(), k) == keywords.end()) {
        keywords.push_back(k);
      }
    }
    v.keywords.emplace(uid, std::move(kws));
  }
  loaded->keywords = {};
  std::string flags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
  for (const auto& k : keywords) flags += " " + k;
  Send("* FLAGS (" + flags + ")\r\n");
  Send(examine ? "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"
               : "* OK [PERMANENTFLAGS (" + flags + " \\*)] Flags permitted\r\n");
  Send("* " + std::to_string(v.entries.size()) + " EXISTS\r\n");
  if (!rev2_) {
    // IMAP4rev1 clients expect RECENT; it is always 0 (\Recent not kept).
    Send("* 0 RECENT\r\n");
    if (first_unseen) {
      Send("* OK [UNSEEN " + std::to_string(first_unseen) +
           "] First unseen\r\n");
    }
  }
  Send("* OK [UIDVALIDITY " + std::to_string(v.mailbox.uid_validity) +
       "] UIDs valid\r\n");
  Send("* OK [UIDNEXT " + std::to_string(v.uid_next) +
       "] Predicted next UID\r\n");
  if (condstore_) {
    Send("* OK [HIGHESTMODSEQ " + std::to_string(v.highest_modseq) +
         "] Highest\r\n");
  }
  Send("* OK [MAILBOXID (F" + std::to_string(v.mailbox.id) + ")] Ok\r\n");
  if (rev2_) {
    // RFC 9051 §6.3.2: the mailbox name as the server sees it.
    Send("* LIST () \"/\" " + EncodeMailboxName(v.mailbox.name) + "\r\n");
  }
  view_ = std::move(v);
  state_ = SessionState::kSelected;
  if (q && q->uid_validity == view_->mailbox.uid_validity) {
    // RFC 7162 §3.2.5.1: what the client missed since its modseq: the
    // expunged UIDs it knew (all, without known-uids), then the messages
    // changed since, with their flags and MODSEQ.
    // The UIDs the client may know: known-uids, else all below UIDNEXT.
    auto known = q->known_uids
                     ? NormalizeRanges(*q->known_uids, view_->uid_next - 1)
                     : std::vector<std::pair<uint32_t, uint32_t>>{
                           {1, view_->uid_next - 1}};
    std::string set = VanishedSet(loaded->vanished, known);
    if (!set.empty()) Send("* VANISHED (EARLIER) " + set + "\r\n");
    for (size_t i = 0; i < view_->entries.size(); ++i) {
      if (view_->entries[i].modseq() > q->modseq) Send(FlagsFetch(i, true));
    }
  }
  co_return Reply::Ok(examine ? "[READ-ONLY] EXAMINE completed"
                              : "[READ-WRITE] SELECT completed");
}

awaitable<Reply> Session::CmdClose(Command) {
  if (!view_->read_only) {
    // RFC 9051 §6.4.1: silently expunge \Deleted messages (no EXPUNGE
    // responses), then close.
    store::UidSet all{{1, UINT32_MAX}};  // named: GCC 12 (docs/coroutines.md)
    auto r = co_await ExpungeDeleted(all, /*report=*/false);
    if (!r) {
      ResetSelection();
      co_return ErrorReply(r.error(), "CLOSE");
    }
  }
  ResetSelection();
  co_return Reply::Ok("CLOSE completed");
}

awaitable<Reply> Session::CmdUnselect(Command) {
  ResetSelection();
  co_return Reply::Ok("UNSELECT completed");
}

}  // namespace correio::imap
