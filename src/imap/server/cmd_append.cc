// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), APPENDUID (RFC
// 4315), APPENDLIMIT (RFC 7889) and literal8 data (RFC 3516).
#include <ctime>

#include "imap/proto/sequence.h"
#include "imap/server/session_internal.h"
#include "mail/deliver.h"

namespace correio::imap {

awaitable<Reply> Session::CmdAppend(Command cmd) {
  auto& a = std::get<AppendArgs>(cmd.args);
  auto name = DecodeMailboxName(a.mailbox);
  if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
  struct Item {
    std::string data;
    store::Flags flags;
    int64_t date;
  };
  std::vector<Item> items;
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (auto& m : a.messages) {
    if (m.data.size() > cfg_.limits.max_message_size) {
      co_return Reply::No("[TOOBIG] Message exceeds APPENDLIMIT");
    }
    auto flags = ParseFlags(m.flags, true);
    if (!flags) co_return Reply::Bad(flags.error().message());
    items.push_back({std::move(m.data), std::move(*flags),
                     m.internal_date.value_or(now)});
  }
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  uint64_t origin = origin_;
  struct Appended {
    uint32_t uid_validity = 0;
    std::vector<uint32_t> uids;
  };
  auto r = co_await Blocking(
      [&]()
      -> Result<Appended> {
        auto mb = store->GetMailbox(id, n);
        if (!mb) return Fail(mb.error());
        Appended out;
        out.uid_validity = mb->uid_validity;
        for (auto& it : items) {
          // Parsed once here; FETCH never parses again (ARCHITECTURE).
          auto blob = mail::PrepareBlob(std::move(it.data));
          Result<std::vector<store::Delivered>> d =
              blob ? store->Deliver(*blob,
                                    {store::DeliveryTarget{mb->id, it.flags,
                                                           it.date}},
                                    origin)
                   : Result<std::vector<store::Delivered>>(
                         std::unexpected(blob.error()));
          if (!d || d->empty()) {
            // RFC 3502 §6.3.11: MULTIAPPEND is all or nothing; take back
            // what was already added.
            if (!out.uids.empty()) {
              store::UidSet undo;
              for (auto u : out.uids) undo.push_back({u, u});
              (void)store->Expunge(mb->id, undo, origin);
            }
            if (!d) return Fail(d.error());
            return Fail(ErrorCode::kInternal, "deliver returned nothing");
          }
          out.uids.push_back(d->front().uid);
        }
        return out;
      });
  if (!r) {
    if (r.error().code() == ErrorCode::kNotFound) {
      // RFC 9051 §6.3.12: the client may CREATE and retry.
      co_return Reply::No("[TRYCREATE] No such mailbox");
    }
    co_return ErrorReply(r.error(), "APPEND");
  }
  co_return Reply::Ok("[APPENDUID " + std::to_string(r->uid_validity) + " " +
                      FormatNumberSet(r->uids) + "] APPEND completed");
}

}  // namespace correio::imap
