// NOTIFY (RFC 5465): one connection watches many mailboxes.
//
// Changes to the selected mailbox are reported as always (EXISTS, EXPUNGE
// or VANISHED, FETCH); NOTIFY adds, for the other mailboxes its filters
// name, STATUS responses (MessageNew, MessageExpunge, FlagChange) and LIST
// responses (MailboxName, SubscriptionChange), and the FETCH of chosen
// attributes for new messages in the selected mailbox (MessageNew with
// fetch-att).
//
// When they are sent: in IDLE at once, and otherwise after each command,
// before its tagged reply. (The RFC also allows sending them between
// commands; like Dovecot we do not, so a client's command and our writes
// never race.) Notes are taken synchronously as changes are applied
// (NoteChange) and turned into responses by ResolveNotes, which may read
// the store.
//
// Changes made by this session to messages of another mailbox (APPEND,
// COPY, MOVE into it) are not reported back: the client knows them from
// its tagged replies (APPENDUID, COPYUID). Mailbox and subscription
// changes are reported whoever made them.
#include <algorithm>

#include "imap/server/session_internal.h"

namespace correio::imap {

namespace {

constexpr uint32_t kMessageEvents =
    kEvMessageNew | kEvMessageExpunge | kEvFlagChange;
constexpr uint32_t kSupported = kMessageEvents | kEvMailboxName |
                                kEvSubscriptionChange;

bool IsSelectedFilter(NotifyGroup::Filter f) {
  return f == NotifyGroup::Filter::kSelected ||
         f == NotifyGroup::Filter::kSelectedDelayed;
}

}  // namespace

uint32_t Session::NotifyEventsFor(std::string_view name) const {
  if (!notify_) return 0;
  using F = NotifyGroup::Filter;
  bool selected = view_ && view_->mailbox.name == name;
  uint32_t events = 0;
  // RFC 5465 §6: the most specific filter wins: selected, then named
  // mailboxes, subtrees, then inboxes, subscribed and personal.
  int best = 99;
  for (const auto& g : notify_->groups) {
    int rank = 99;
    switch (g.filter) {
      case F::kSelected:
      case F::kSelectedDelayed:
        if (selected) rank = 0;
        break;
      case F::kMailboxes:
        if (std::find(g.mailboxes.begin(), g.mailboxes.end(), name) !=
            g.mailboxes.end()) {
          rank = 1;
        }
        break;
      case F::kSubtree:
        for (const auto& m : g.mailboxes) {
          if (name == m || (name.size() > m.size() && name.starts_with(m) &&
                            name[m.size()] == '/')) {
            rank = 2;
          }
        }
        break;
      case F::kInboxes:
        if (name == "INBOX") rank = 3;
        break;
      case F::kSubscribed:
        if (notify_subscribed_.count(std::string(name))) rank = 4;
        break;
      case F::kPersonal:
        rank = 5;
        break;
    }
    if (rank < best) {
      best = rank;
      events = g.events;
    } else if (rank == best && rank < 99) {
      events |= g.events;
    }
  }
  return events;
}

void Session::NoteChange(const store::Change& c) {
  using K = store::Change::Kind;
  bool about_selected = view_ && c.mailbox == view_->mailbox.id &&
                        c.kind != K::kSubscription;
  uint32_t events = NotifyEventsFor(c.mailbox_name);
  if (c.kind == K::kMailboxRenamed) {
    events |= NotifyEventsFor(c.old_name);
  }
  auto add = [&](NotifyNote n) {
    for (auto& old : notes_) {
      if (old.kind == NotifyNote::kStatus && n.kind == NotifyNote::kStatus &&
          old.mailbox == n.mailbox) {
        return;  // one STATUS per mailbox and burst
      }
    }
    notes_.push_back(std::move(n));
  };
  switch (c.kind) {
    case K::kAppended:
      if (about_selected) {
        // MessageNew (fetch-att ...) for the selected mailbox.
        if (!notify_new_fetch_.empty()) {
          for (const auto& m : c.messages) notify_new_uids_.push_back(m.uid);
        }
        return;
      }
      if (c.origin != origin_ && (events & kEvMessageNew)) {
        add({NotifyNote::kStatus, c.mailbox, c.mailbox_name, {}});
      }
      return;
    case K::kExpunged:
      if (!about_selected && c.origin != origin_ &&
          (events & kEvMessageExpunge)) {
        add({NotifyNote::kStatus, c.mailbox, c.mailbox_name, {}});
      }
      return;
    case K::kFlags:
      if (!about_selected && c.origin != origin_ &&
          (events & kEvFlagChange)) {
        add({NotifyNote::kStatus, c.mailbox, c.mailbox_name, {}});
      }
      return;
    case K::kMailboxCreated:
    case K::kMailboxDeleted:
    case K::kMailboxRenamed:
      if (events & kEvMailboxName) {
        NotifyNote n{NotifyNote::kList, c.mailbox, c.mailbox_name, {}};
        if (c.kind == K::kMailboxRenamed) n.old_name = c.old_name;
        n.deleted = c.kind == K::kMailboxDeleted;
        add(std::move(n));
      }
      return;
    case K::kSubscription:
      notify_subscriptions_stale_ = true;
      if (events & kEvSubscriptionChange) {
        add({NotifyNote::kSubscription, c.mailbox, c.mailbox_name, {}});
      }
      return;
  }
}

awaitable<void> Session::ResolveNotes() {
  if (!notify_) {
    notes_.clear();
    notify_new_uids_.clear();
    co_return;
  }
  if (!notify_new_uids_.empty() && view_) {
    // MessageNew (fetch-att ...): a UID FETCH of the new messages.
    std::vector<uint32_t> uids = std::move(notify_new_uids_);
    notify_new_uids_.clear();
    std::sort(uids.begin(), uids.end());
    Command fetch;
    fetch.name = "FETCH";
    fetch.uid = true;
    FetchArgs a;
    for (uint32_t u : uids) {
      if (!a.set.ranges.empty() && a.set.ranges.back().last + 1 == u) {
        a.set.ranges.back().last = u;
      } else {
        a.set.ranges.push_back({u, u});
      }
    }
    a.items = notify_new_fetch_;
    fetch.args = std::move(a);
    (void)co_await CmdFetch(std::move(fetch));
  }
  if (notes_.empty() && !notify_subscriptions_stale_) co_return;
  std::vector<NotifyNote> notes = std::move(notes_);
  notes_.clear();
  auto* store = env_.store;
  store::AccountId account = account_.id;
  bool refresh = notify_subscriptions_stale_;
  notify_subscriptions_stale_ = false;
  std::vector<std::string> status_items = {"MESSAGES", "UIDNEXT",
                                           "UIDVALIDITY", "UNSEEN"};
  if (condstore_) status_items.push_back("HIGHESTMODSEQ");
  struct Resolved {
    std::vector<std::string> lines;  // "(...)" of each kStatus note, or ""
    std::vector<std::string> subscriptions;
  };
  auto work = [&]() -> Result<Resolved> {
    Resolved r;
    if (refresh) {
      auto subs = store->ListSubscriptions(account);
      if (!subs) return Fail(subs.error());
      r.subscriptions = std::move(*subs);
    }
    for (const auto& n : notes) {
      std::string line;
      if (n.kind == NotifyNote::kStatus) {
        auto mb = store->GetMailboxById(n.mailbox);
        if (mb) {
          auto items = StatusItems(*mb, status_items);
          if (items) line = *items;
        }
      }
      r.lines.push_back(std::move(line));
    }
    return r;
  };
  auto resolved = co_await Blocking(work);
  if (!resolved) co_return;  // a store hiccup: notifications are advisory
  if (refresh) {
    notify_subscribed_ = {resolved->subscriptions.begin(),
                          resolved->subscriptions.end()};
  }
  for (size_t i = 0; i < notes.size(); ++i) {
    const NotifyNote& n = notes[i];
    std::string name = EncodeMailboxName(n.name);
    switch (n.kind) {
      case NotifyNote::kStatus:
        if (!resolved->lines[i].empty()) {
          Send("* STATUS " + name + " (" + resolved->lines[i] + ")\r\n");
        }
        break;
      case NotifyNote::kList:
        // RFC 5465 §5.4 / RFC 5258 §3.1: a rename carries OLDNAME; a
        // deleted mailbox is \NonExistent.
        if (n.deleted) {
          Send("* LIST (\\NonExistent) \"/\" " + name + "\r\n");
        } else if (!n.old_name.empty()) {
          Send("* LIST () \"/\" " + name + " (\"OLDNAME\" (" +
               EncodeMailboxName(n.old_name) + "))\r\n");
        } else {
          Send("* LIST () \"/\" " + name + "\r\n");
        }
        break;
      case NotifyNote::kSubscription:
        Send(std::string("* LIST (") +
             (notify_subscribed_.count(n.name) ? "\\Subscribed" : "") +
             ") \"/\" " + name + "\r\n");
        break;
    }
  }
}

awaitable<Reply> Session::CmdNotify(Command cmd) {
  auto& a = std::get<NotifyArgs>(cmd.args);
  if (a.none) {
    notify_.reset();
    notes_.clear();
    notify_new_fetch_.clear();
    notify_new_uids_.clear();
    co_return Reply::Ok("NOTIFY completed");
  }
  // RFC 5465 §5: unknown or unsupported events fail the whole command with
  // the list of what we support; the previous NOTIFY stays in force.
  for (const auto& g : a.groups) {
    if (!g.unknown.empty() || (g.events & ~kSupported)) {
      co_return Reply::No(
          "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "
          "SubscriptionChange)] Unsupported event");
    }
    bool newx = g.events & kEvMessageNew, gone = g.events & kEvMessageExpunge;
    if (newx != gone || ((g.events & kEvFlagChange) && !newx)) {
      co_return Reply::Bad(
          "MessageNew and MessageExpunge go together, FlagChange needs both");
    }
    if (!g.new_fetch.empty() && !IsSelectedFilter(g.filter)) {
      co_return Reply::Bad("Fetch attributes only for the selected mailbox");
    }
  }
  NotifyArgs spec = a;
  for (auto& g : spec.groups) {
    for (auto& m : g.mailboxes) {
      auto name = DecodeMailboxName(m);
      if (!name) co_return Reply::No("[CANNOT] " + name.error().message());
      m = *name;
    }
  }
  std::vector<FetchItem> new_fetch;
  for (const auto& g : spec.groups) {
    if (IsSelectedFilter(g.filter) && (g.events & kEvMessageNew)) {
      new_fetch = g.new_fetch;
    }
  }
  notify_ = std::move(spec);
  notify_new_fetch_ = std::move(new_fetch);
  notes_.clear();
  notify_subscriptions_stale_ = true;
  if (a.status) {
    // RFC 5465 §3: STATUS of every watched mailbox but the selected one.
    auto* store = env_.store;
    store::AccountId account = account_.id;
    auto boxes = co_await Blocking(
        [&] { return store->ListMailboxes(account); });
    if (!boxes) co_return ErrorReply(boxes.error(), "NOTIFY");
    // Subscriptions first, so the SUBSCRIBED filter matches.
    auto subs = co_await Blocking(
        [&] { return store->ListSubscriptions(account); });
    if (subs) {
      notify_subscribed_ = {subs->begin(), subs->end()};
      notify_subscriptions_stale_ = false;
    }
    for (const auto& mb : *boxes) {
      if (view_ && mb.id == view_->mailbox.id) continue;
      if (NotifyEventsFor(mb.name) & kMessageEvents) {
        notes_.push_back({NotifyNote::kStatus, mb.id, mb.name, {}});
      }
    }
  }
  co_await ResolveNotes();
  co_return Reply::Ok("NOTIFY completed");
}

}  // namespace correio::imap
