// STORE (RFC 9051 §6.4.6), UNCHANGEDSINCE / [MODIFIED] (RFC 7162 §3.1.3).
#include "imap/proto/sequence.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

awaitable<Result<store::FlagResult>> Session::UpdateFlags(
    const std::vector<uint32_t>& indexes, const store::FlagUpdate& update) {
  auto uids = UidSetOf(indexes);
  auto* store = env_.store;
  store::MailboxId mb = view_->mailbox.id;
  uint64_t origin = origin_;
  auto r = co_await Blocking([&] {
    return store->UpdateFlags(mb, uids, update, origin);
  });
  if (!r) co_return r;
  for (const auto& c : r->changed) {
    int64_t i = view_->Find(c.uid);
    if (i >= 0) view_->SetFlags(static_cast<size_t>(i), c.flags, c.modseq);
  }
  co_return r;
}

awaitable<Reply> Session::CmdStore(Command cmd) {
  auto& a = std::get<StoreArgs>(cmd.args);
  if (view_->read_only) co_return Reply::No("[READ-ONLY] Mailbox is read-only");
  auto indexes = Resolve(a.set, cmd.uid);
  if (!indexes) co_return Reply::Bad(indexes.error().message());
  auto flags = ParseFlags(a.flags, false);
  if (!flags) co_return Reply::Bad(flags.error().message());
  store::FlagUpdate update;
  update.op = a.op == StoreOp::kAdd      ? store::FlagOp::kAdd
              : a.op == StoreOp::kRemove ? store::FlagOp::kRemove
                                         : store::FlagOp::kReplace;
  update.flags = std::move(*flags);
  update.unchanged_since = a.unchanged_since;
  if (a.unchanged_since) EnableCondstore();
  if (indexes->empty()) co_return Reply::Ok("STORE completed");
  auto r = co_await UpdateFlags(*indexes, update);
  if (!r) co_return ErrorReply(r.error(), "STORE");
  if (!a.silent) {
    // RFC 9051 §6.4.6: the flags of every message in the set, after.
    std::vector<store::Uid> skip = r->not_modified;
    for (uint32_t i : *indexes) {
      if (std::find(skip.begin(), skip.end(), view_->entries[i].uid()) !=
          skip.end()) {
        continue;
      }
      Send(FlagsFetch(i, cmd.uid));
    }
  }
  if (!r->not_modified.empty()) {
    std::vector<uint32_t> nm;
    for (store::Uid u : r->not_modified) {
      if (cmd.uid) {
        nm.push_back(u);
      } else if (int64_t i = view_->Find(u); i >= 0) {
        nm.push_back(static_cast<uint32_t>(i + 1));
      }
    }
    std::sort(nm.begin(), nm.end());
    co_return Reply::Ok("[MODIFIED " + FormatNumberSet(nm) +
                        "] Conditional STORE failed for some messages");
  }
  co_return Reply::Ok("STORE completed");
}

}  // namespace correio::imap
