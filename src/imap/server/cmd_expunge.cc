// EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
#include <algorithm>

#include "imap/server/session_internal.h"

namespace correio::imap {

awaitable<Status> Session::ExpungeIndexes(const std::vector<uint32_t>& indexes) {
  if (indexes.empty()) co_return Status{};
  auto uids = UidSetOf(indexes);
  auto* store = env_.store;
  store::MailboxId mb = view_->mailbox.id;
  uint64_t origin = origin_;
  auto r = co_await Blocking(
      [&] { return store->Expunge(mb, uids, origin); });
  if (!r) co_return Fail(r.error());
  SendExpunges(r->uids);
  if (r->modseq > view_->highest_modseq) view_->highest_modseq = r->modseq;
  co_return Status{};
}

awaitable<Reply> Session::CmdExpunge(Command cmd) {
  if (view_->read_only) co_return Reply::No("[READ-ONLY] Mailbox is read-only");
  std::vector<uint32_t> candidates;
  if (cmd.uid) {
    auto r = Resolve(std::get<UidExpungeArgs>(cmd.args).set, true);
    if (!r) co_return Reply::Bad(r.error().message());
    candidates = std::move(*r);
  } else {
    for (size_t i = 0; i < view_->entries.size(); ++i) {
      candidates.push_back(static_cast<uint32_t>(i));
    }
  }
  std::vector<uint32_t> del;
  for (uint32_t i : candidates) {
    if (view_->entries[i].system & store::kFlagDeleted) del.push_back(i);
  }
  auto st = co_await ExpungeIndexes(del);
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
