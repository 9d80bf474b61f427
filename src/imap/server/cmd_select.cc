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
  struct Loaded {
    store::Mailbox mailbox;
    std::vector<store::ViewEntry> entries;
    std::vector<store::Uid> vanished;  // QRESYNC: expunged since its modseq
    bool log_incomplete = false;       // ... but the log was compacted
  };
  const QresyncParams* q = a.qresync ? &*a.qresync : nullptr;
  auto loaded = co_await Blocking([&]() -> Result<Loaded> {
    auto mb = store->GetMailbox(id, n);
    if (!mb) return Fail(mb.error());
    auto entries = store->ListView(mb->id);
    if (!entries) return Fail(entries.error());
    // Re-read so UIDNEXT/HIGHESTMODSEQ are not older than the entries.
    auto mb2 = store->GetMailboxById(mb->id);
    if (!mb2) return Fail(mb2.error());
    Loaded l{std::move(*mb2), std::move(*entries), {}};
    if (q && q->uid_validity == l.mailbox.uid_validity) {
      auto gone = store->ExpungedSince(l.mailbox.id, q->modseq);
      if (!gone) return Fail(gone.error());
      l.vanished = std::move(*gone);
      // Read after the list: a compaction in between shows here.
      auto floor = store->ExpungeLogFloor(l.mailbox.id);
      if (!floor) return Fail(floor.error());
      l.log_incomplete = *floor > q->modseq;
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
  v.entries.reserve(loaded->entries.size());
  uint32_t first_unseen = 0;
  std::vector<std::string> keywords;
  for (auto& e : loaded->entries) {
    v.entries.push_back({e.uid, e.flags.system, e.modseq});
    if (!first_unseen && !(e.flags.system & store::kFlagSeen)) {
      first_unseen = static_cast<uint32_t>(v.entries.size());
    }
    if (!e.flags.keywords.empty()) {
      for (const auto& k : e.flags.keywords) {
        if (keywords.size() < 100 &&
            std::find(keywords.begin(), keywords.end(), k) == keywords.end()) {
          keywords.push_back(k);
        }
      }
      v.keywords.emplace(e.uid, std::move(e.flags.keywords));
    }
    if (e.modseq > v.highest_modseq) v.highest_modseq = e.modseq;
  }
  loaded->entries = {};
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
    std::vector<uint32_t> gone;
    auto known = q->known_uids
                     ? NormalizeRanges(*q->known_uids, view_->uid_next - 1)
                     : std::vector<std::pair<uint32_t, uint32_t>>{};
    for (store::Uid u : loaded->vanished) {
      if (view_->Find(u) >= 0) continue;  // re-appeared? never: UIDs unique
      bool in = !q->known_uids;
      for (const auto& [lo, hi] : known) in = in || (u >= lo && u <= hi);
      if (in) gone.push_back(u);
    }
    std::sort(gone.begin(), gone.end());
    gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
    std::string set = FormatNumberSet(gone);
    if (loaded->log_incomplete) {
      // Records older than imap.expunge_log_days are gone: every UID the
      // client may know (known-uids, else all below UIDNEXT) that is not
      // here (RFC 7162 §3.2.5.2 allows more than the minimum).
      set = GoneUids(q->known_uids ? known
                                   : std::vector<std::pair<uint32_t, uint32_t>>{
                                         {1, view_->uid_next - 1}});
    }
    if (!set.empty()) Send("* VANISHED (EARLIER) " + set + "\r\n");
    for (size_t i = 0; i < view_->entries.size(); ++i) {
      if (view_->entries[i].modseq > q->modseq) Send(FlagsFetch(i, true));
    }
  }
  co_return Reply::Ok(examine ? "[READ-ONLY] EXAMINE completed"
                              : "[READ-WRITE] SELECT completed");
}

awaitable<Reply> Session::CmdClose(Command) {
  if (!view_->read_only) {
    // RFC 9051 §6.4.1: silently expunge \Deleted messages (no EXPUNGE
    // responses), then close. The store decides what has \Deleted at
    // commit, as for EXPUNGE (cmd_expunge.cc).
    auto* store = env_.store;
    store::MailboxId mb = view_->mailbox.id;
    uint64_t origin = origin_;
    store::UidSet all{{1, UINT32_MAX}};
    auto r = co_await Blocking([&] {
      return store->Expunge(mb, all, origin, /*only_deleted=*/true);
    });
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
