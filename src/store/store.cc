#include "store/store.h"

namespace correio::store {

const std::vector<DefaultMailbox>& DefaultMailboxes() {
  static const std::vector<DefaultMailbox> kDefaults = {
      {"INBOX", SpecialUse::kNone},    {"Sent", SpecialUse::kSent},
      {"Drafts", SpecialUse::kDrafts}, {"Trash", SpecialUse::kTrash},
      {"Junk", SpecialUse::kJunk},     {"Archive", SpecialUse::kArchive},
  };
  return kDefaults;
}

const char* SpecialUseAttribute(SpecialUse use) {
  switch (use) {
    case SpecialUse::kNone:
      return "";
    case SpecialUse::kAll:
      return "\\All";
    case SpecialUse::kArchive:
      return "\\Archive";
    case SpecialUse::kDrafts:
      return "\\Drafts";
    case SpecialUse::kFlagged:
      return "\\Flagged";
    case SpecialUse::kJunk:
      return "\\Junk";
    case SpecialUse::kSent:
      return "\\Sent";
    case SpecialUse::kTrash:
      return "\\Trash";
  }
  return "";
}

void Store::DeliverToInboxesAsync(NewBlob blob,
                                  std::vector<AccountId> accounts,
                                  int64_t internal_date, uint64_t origin,
                                  DeliverDone done) {
  if (accounts.empty()) {
    done(Fail(ErrorCode::kInvalid, "no targets"));
    return;
  }
  auto targets = InboxTargets(*this, accounts, internal_date);
  if (!targets) {
    done(Fail(targets.error()));
    return;
  }
  auto delivered = Deliver(blob, *targets, origin);
  done(delivered ? Status{} : Status(Fail(delivered.error())));
}

Result<MailboxView> Store::ListView(MailboxId mailbox) {
  struct Collect final : ViewReceiver {
    MailboxView out;
    void Begin(const Mailbox& mb, const ViewBounds& bounds) override {
      out.mailbox = mb;
      out.entries.reserve(bounds.room);
    }
    void Row(const MailboxView::Entry& e,
             std::vector<std::string>&& keywords) override {
      out.entries.push_back(e);
      if (!keywords.empty()) {
        out.keywords.emplace_back(e.uid(), std::move(keywords));
      }
    }
  } collect;
  if (auto st = ScanView(mailbox, collect); !st) return Fail(st.error());
  // The room may be a uid range with gaps.
  if (collect.out.entries.capacity() > 2 * collect.out.entries.size()) {
    collect.out.entries.shrink_to_fit();
  }
  return std::move(collect.out);
}

Result<std::vector<DeliveryTarget>> InboxTargets(
    Store& store, const std::vector<AccountId>& accounts,
    int64_t internal_date) {
  std::vector<DeliveryTarget> targets;
  targets.reserve(accounts.size());
  for (AccountId id : accounts) {
    auto inbox = store.GetMailbox(id, "INBOX");
    if (!inbox) return Fail(inbox.error());
    DeliveryTarget t;
    t.mailbox = inbox->id;
    t.internal_date = internal_date;
    targets.push_back(t);
  }
  return targets;
}

}  // namespace correio::store
