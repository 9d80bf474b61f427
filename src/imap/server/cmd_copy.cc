// COPY (RFC 9051 §6.4.7) and MOVE (RFC 6851) with COPYUID (RFC 4315).
#include <algorithm>

#include "imap/server/session_internal.h"

namespace correio::imap {

namespace {

// UIDs in the given order, consecutive runs compressed ("3:5,9").
std::string FormatInOrder(const std::vector<store::Uid>& uids) {
  std::string out;
  size_t i = 0;
  while (i < uids.size()) {
    size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(uids[i]);
    if (j > i) out += ":" + std::to_string(uids[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

awaitable<Reply> Session::CmdCopy(Command cmd) {
  auto& a = std::get<CopyArgs>(cmd.args);
  bool move = cmd.name == "MOVE";
  if (move && view_->read_only) {
    co_return Reply::No("[READ-ONLY] Mailbox is read-only");
  }
  auto indexes = Resolve(a.set, cmd.uid);
  if (!indexes) co_return Reply::Bad(indexes.error().message());
  auto name = DecodeMailboxName(a.mailbox);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  if (indexes->empty()) {
    // RFC 4315 §4: UID COPY of no existing message is not an error.
    co_return Reply::Ok(cmd.name + " completed, nothing to do");
  }
  auto uids = UidSetOf(*indexes);
  auto* store = env_.store;
  store::AccountId id = account_.id;
  store::MailboxId source = view_->mailbox.id;
  std::string n = *name;
  uint64_t origin = origin_;
  auto r = co_await Blocking(
      [&]() -> Result<store::CopyResult> {
        auto dest = store->GetMailbox(id, n);
        if (!dest) return Fail(dest.error());
        if (move && dest->id == source) {
          return Fail(ErrorCode::kInvalid, "move into the same mailbox");
        }
        return move ? store->Move(source, uids, dest->id, origin)
                    : store->Copy(source, uids, dest->id, origin);
      });
  if (!r) {
    if (r.error().code() == ErrorCode::kNotFound) {
      co_return Reply::No("[TRYCREATE] No such mailbox");
    }
    if (r.error().code() == ErrorCode::kInvalid) {
      co_return Reply::No("[CANNOT] Cannot move into the same mailbox");
    }
    co_return ErrorReply(r.error(), cmd.name);
  }
  std::string code;
  if (!r->source_uids.empty()) {
    code = "[COPYUID " + std::to_string(r->dest_uid_validity) + " " +
           FormatInOrder(r->source_uids) + " " + FormatInOrder(r->dest_uids) +
           "] ";
  }
  if (!move) co_return Reply::Ok(code + "COPY completed");
  // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
  if (!code.empty()) Send("* OK " + code + "Moved\r\n");
  SendExpunges(r->source_uids);
  co_return Reply::Ok("MOVE completed");
}

}  // namespace correio::imap
