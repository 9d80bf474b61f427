// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC
// 5819), SPECIAL-USE (RFC 6154) and CHILDREN (RFC 3348); LSUB (RFC 3501
// §6.3.9).
#include <map>

#include "base/strings.h"
#include "imap/proto/mutf7.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

namespace {

// RFC 9051 §6.3.9: "*" matches anything, "%" anything but the separator.
// Dynamic programming over (pattern, name): no backtracking blow-up on
// hostile patterns (STYLE 11).
bool MatchPattern(std::string_view pat, std::string_view name) {
  std::vector<char> prev(name.size() + 1, 0), cur(name.size() + 1, 0);
  prev[0] = 1;
  for (size_t i = 0; i < pat.size(); ++i) {
    char p = pat[i];
    cur.assign(name.size() + 1, 0);
    if (p == '*' || p == '%') {
      cur[0] = prev[0];
      for (size_t j = 1; j <= name.size(); ++j) {
        bool extend = cur[j - 1] && (p == '*' || name[j - 1] != '/');
        cur[j] = prev[j] || extend;
      }
    } else {
      for (size_t j = 1; j <= name.size(); ++j) {
        bool same = p == name[j - 1];
        cur[j] = prev[j - 1] && same;
      }
    }
    prev.swap(cur);
  }
  return prev[name.size()];
}

struct Info {
  bool exists = false;
  bool subscribed = false;
  bool has_children = false;
  store::SpecialUse use = store::SpecialUse::kNone;
  store::Mailbox mailbox;
};

bool Has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

awaitable<Reply> Session::CmdList(Command cmd) {
  auto& a = std::get<ListArgs>(cmd.args);
  const char* verb = a.lsub ? "LSUB" : "LIST";
  if (!a.lsub && a.patterns.size() == 1 && a.patterns[0].empty()) {
    // RFC 9051 §6.3.9: an empty pattern asks for the separator and root.
    Send("* LIST (\\Noselect) \"/\" \"\"\r\n");
    co_return Reply::Ok("LIST completed");
  }
  for (const auto& s : a.selection) {
    if (s != "SUBSCRIBED" && s != "REMOTE" && s != "RECURSIVEMATCH" &&
        s != "SPECIAL-USE") {
      co_return Reply::Bad("Unknown LIST selection option");
    }
  }
  if (Has(a.selection, "RECURSIVEMATCH") && a.selection.size() == 1) {
    // RFC 5258 §3.1: RECURSIVEMATCH alone is an error.
    co_return Reply::Bad("RECURSIVEMATCH needs another selection option");
  }
  bool sel_subscribed = Has(a.selection, "SUBSCRIBED");
  bool sel_special = Has(a.selection, "SPECIAL-USE");
  bool ret_subscribed = Has(a.return_options, "SUBSCRIBED") || sel_subscribed;
  bool ret_status = Has(a.return_options, "STATUS");
  for (const auto& i : a.status_items) {
    static constexpr const char* kKnown[] = {
        "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",  "RECENT",
        "SIZE",     "DELETED", "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return i == k; })) {
      co_return Reply::Bad("Unknown STATUS item");
    }
  }

  auto decode = [&](const std::string& wire) -> std::string {
    if (utf8_) return wire;
    auto d = DecodeMutf7(wire);
    return d ? *d : wire;
  };
  std::string reference = decode(a.reference);
  std::vector<std::string> patterns;
  for (const auto& p : a.patterns) {
    std::string full = reference;
    std::string pat = decode(p);
    if (!full.empty() && full.back() != '/' && !pat.empty() &&
        pat.front() != '/') {
      full += '/';
    }
    full += pat;
    // INBOX is case-insensitive (RFC 9051 §5.1), also as a first level.
    if (StartsWithIgnoreCase(full, "INBOX") &&
        (full.size() == 5 || full[5] == '/')) {
      full.replace(0, 5, "INBOX");
    }
    patterns.push_back(std::move(full));
  }

  auto* store = env_.store;
  store::AccountId id = account_.id;
  struct Loaded {
    std::vector<store::Mailbox> mailboxes;
    std::vector<std::string> subscriptions;
  };
  auto loaded = co_await Blocking([&]() -> Result<Loaded> {
    auto m = store->ListMailboxes(id);
    if (!m) return Fail(m.error());
    auto s = store->ListSubscriptions(id);
    if (!s) return Fail(s.error());
    return Loaded{std::move(*m), std::move(*s)};
  });
  if (!loaded) co_return ErrorReply(loaded.error(), verb);

  std::map<std::string, Info> names;
  for (auto& m : loaded->mailboxes) {
    Info& i = names[m.name];
    i.exists = true;
    i.use = m.special_use;
    i.mailbox = m;
  }
  for (const auto& s : loaded->subscriptions) names[s].subscribed = true;
  // Implicit parents of every name, for \HasChildren and \Noselect levels.
  std::vector<std::string> parents;
  for (const auto& [n, info] : names) {
    if (!info.exists) continue;
    for (size_t p = n.find('/'); p != std::string::npos; p = n.find('/', p + 1)) {
      parents.push_back(n.substr(0, p));
    }
  }
  for (const auto& p : parents) names[p].has_children = true;

  std::vector<std::pair<std::string, const Info*>> out;
  auto matches = [&](const std::string& n) {
    for (const auto& p : patterns) {
      if (MatchPattern(p, n)) return true;
    }
    return false;
  };
  for (const auto& [n, info] : names) {
    bool listed;
    if (a.lsub || sel_subscribed) {
      listed = info.subscribed;
    } else if (info.exists) {
      listed = true;
    } else {
      // A level that only exists because of its children: shown for "%"
      // patterns (RFC 3501 §6.3.8 \Noselect, RFC 5258 \NonExistent).
      listed = info.has_children &&
               std::any_of(patterns.begin(), patterns.end(),
                           [](const std::string& p) {
                             return p.find('%') != std::string::npos;
                           });
    }
    if (sel_special && info.use == store::SpecialUse::kNone) listed = false;
    if (listed && matches(n)) out.emplace_back(n, &info);
  }
  // INBOX first, the rest in name order.
  std::stable_partition(out.begin(), out.end(),
                        [](const auto& e) { return e.first == "INBOX"; });

  std::vector<store::Mailbox> status_for;
  for (const auto& [n, info] : out) {
    std::vector<std::string> attrs;
    if (!info->exists) {
      attrs.push_back(a.lsub || !a.extended ? "\\Noselect" : "\\NonExistent");
    }
    if (!a.lsub) {
      attrs.push_back(info->has_children ? "\\HasChildren"
                                         : "\\HasNoChildren");
      if (ret_subscribed && info->subscribed) attrs.push_back("\\Subscribed");
      if (info->use != store::SpecialUse::kNone) {
        attrs.push_back(store::SpecialUseAttribute(info->use));
      }
    }
    std::string line = std::string("* ") + verb + " (";
    for (size_t i = 0; i < attrs.size(); ++i) {
      if (i) line += ' ';
      line += attrs[i];
    }
    line += ") \"/\" " + EncodeMailboxName(n) + "\r\n";
    Send(line);
    if (ret_status && info->exists) {
      auto items = a.status_items;
      auto mb = info->mailbox;
      auto st = co_await Blocking(
          [&] { return StatusItems(mb, items); });
      // RFC 5819 §2: a mailbox whose status cannot be had just gets none.
      if (st) Send("* STATUS " + EncodeMailboxName(n) + " (" + *st + ")\r\n");
    }
  }
  co_return Reply::Ok(std::string(verb) + " completed");
}

}  // namespace correio::imap
