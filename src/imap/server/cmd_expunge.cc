// EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
#include <algorithm>

#include "imap/server/session_internal.h"

namespace correio::imap {

awaitable<Status> Session::ExpungeDeleted(const store::UidSet& uids,
                                          bool report) {
  if (uids.empty()) co_return Status{};
  auto* store = env_.store;
  store::MailboxId mb = view_->mailbox.id;
  uint64_t origin = origin_;
  // The store picks the messages that have \Deleted when it commits: this
  // session's view of the flags may be behind another session's STORE
  // (its change still queued), and the mailbox's state is what counts.
  auto r = co_await Blocking([&] {
    return store->Expunge(mb, uids, origin, /*only_deleted=*/true);
  });
  if (!r) co_return Fail(r.error());
  if (report) SendExpunges(r->uids);
  if (r->modseq > view_->highest_modseq) view_->highest_modseq = r->modseq;
  co_return Status{};
}

awaitable<Reply> Session::CmdExpunge(Command cmd) {
  if (view_->read_only) co_return Reply::No("[READ-ONLY] Mailbox is read-only");
  store::UidSet uids;
  if (cmd.uid) {
    // RFC 4315 §2.1: the \Deleted messages among the given UIDs.
    auto r = Resolve(std::get<UidExpungeArgs>(cmd.args).set, true);
    if (!r) co_return Reply::Bad(r.error().message());
    uids = UidSetOf(*r);
  } else {
    // Every \Deleted message, also one this session has not heard of yet
    // (its EXISTS and EXPUNGE follow, in that order).
    uids = {{1, UINT32_MAX}};
  }
  auto st = co_await ExpungeDeleted(uids);
  if (!st) co_return ErrorReply(st.error(), "EXPUNGE");
  if (condstore_) {
    // RFC 7162 §3.1.11: the mailbox's new HIGHESTMODSEQ.
    co_return Reply::Ok("[HIGHESTMODSEQ " +
                        std::to_string(view_->highest_modseq) +
                        "] EXPUNGE completed");
  }
  co_return Reply::Ok("EXPUNGE completed");
}

}  // namespace correio::imap
