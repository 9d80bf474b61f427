// CAPABILITY, NOOP/CHECK, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161),
// NAMESPACE (RFC 2342), GETQUOTA/GETQUOTAROOT (RFC 9208), COMPRESS (RFC 4978).
#include <spdlog/spdlog.h>

#include "base/strings.h"
#include "imap/proto/writer.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

awaitable<Reply> Session::CmdCapability(Command) {
  Send("* CAPABILITY " + Capabilities() + "\r\n");
  co_return Reply::Ok("CAPABILITY completed");
}

awaitable<Reply> Session::CmdNoop(Command cmd) {
  // Pending updates are sent by the dispatcher after every command
  // (RFC 9051 §6.1.2); NOOP needs nothing else.
  co_return Reply::Ok(cmd.name + " completed");
}

awaitable<Reply> Session::CmdLogout(Command) {
  Send("* BYE correio logging out\r\n");
  state_ = SessionState::kLogout;
  co_return Reply::Ok("LOGOUT completed");
}

awaitable<Reply> Session::CmdId(Command cmd) {
  const auto& a = std::get<IdArgs>(cmd.args);
  if (a.params) {
    std::string s;
    for (const auto& [k, v] : *a.params) {
      if (!s.empty()) s += ' ';
      s += k + "=" + (v ? v->substr(0, 64) : "NIL");
    }
    spdlog::debug("{} client ID {}", log_, s);
  }
  // RFC 2971 §3.3: say who we are, nothing that helps an attacker more.
  Send("* ID (\"name\" \"correio\" \"version\" \"" CORREIO_VERSION "\")\r\n");
  co_return Reply::Ok("ID completed");
}

awaitable<Reply> Session::CmdEnable(Command cmd) {
  const auto& a = std::get<EnableArgs>(cmd.args);
  std::string enabled;
  for (const auto& c : a.capabilities) {
    // RFC 5161 §3.1: unknown capabilities are ignored, not refused.
    if (c == "UTF8=ACCEPT" && !utf8_) {
      utf8_ = true;
      enabled += " UTF8=ACCEPT";
    } else if (c == "IMAP4REV2" && !rev2_) {
      rev2_ = true;
      enabled += " IMAP4rev2";
    } else if (c == "CONDSTORE" && !condstore_) {
      condstore_ = true;
      enabled += " CONDSTORE";
    } else if (c == "QRESYNC" && !qresync_) {
      // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
      qresync_ = true;
      condstore_ = true;
      enabled += " QRESYNC";
    }
  }
  Send("* ENABLED" + enabled + "\r\n");
  co_return Reply::Ok("ENABLE completed");
}

awaitable<Reply> Session::CmdCompress(Command cmd) {
  // RFC 4978 §3. The OK goes out uncompressed; everything after it, both
  // ways, is raw DEFLATE. Unknown mechanisms get NO, as Dovecot answers.
  const auto& a = std::get<CompressArgs>(cmd.args);
  if (conn_->compressed()) {
    co_return Reply::No("[COMPRESSIONACTIVE] DEFLATE is already active");
  }
  if (!EqualsIgnoreCase(a.mechanism, "DEFLATE")) {
    co_return Reply::No("Unknown compression mechanism");
  }
  Send(cmd.tag + " OK DEFLATE active\r\n");
  bool sent = co_await Flush();
  if (!sent) {
    state_ = SessionState::kLogout;
    co_return Reply{"", ""};
  }
  auto st = conn_->StartCompression();
  if (!st) {
    spdlog::warn("{} COMPRESS: {}", log_, st.error().message());
    state_ = SessionState::kLogout;
  }
  co_return Reply{"", ""};
}

awaitable<Reply> Session::CmdNamespace(Command) {
  // One personal namespace with "/" as separator (RFC 2342 §5).
  Send("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
  co_return Reply::Ok("NAMESPACE completed");
}

namespace {

// RFC 9208 §5.1: the quota root of every mailbox is the account, "".
std::string QuotaLine(const store::Account& a, const store::QuotaUsage& u) {
  std::string s = "* QUOTA \"\" (";
  bool any = false;
  if (a.quota_bytes) {
    // STORAGE is in units of 1024 octets.
    s += "STORAGE " + std::to_string((u.bytes + 1023) / 1024) + " " +
         std::to_string(a.quota_bytes / 1024);
    any = true;
  }
  if (a.quota_messages) {
    if (any) s += ' ';
    s += "MESSAGE " + std::to_string(u.messages) + " " +
         std::to_string(a.quota_messages);
  }
  s += ")\r\n";
  return s;
}

}  // namespace

awaitable<Reply> Session::CmdGetQuota(Command cmd) {
  const auto& a = std::get<QuotaArgs>(cmd.args);
  if (!a.root.empty()) co_return Reply::No("[NONEXISTENT] No such quota root");
  auto* store = env_.store;
  store::AccountId id = account_.id;
  auto acc = co_await Blocking([&] { return store->GetAccountById(id); });
  if (!acc) co_return ErrorReply(acc.error(), "GETQUOTA");
  account_.quota_bytes = acc->quota_bytes;
  account_.quota_messages = acc->quota_messages;
  if (!acc->quota_bytes && !acc->quota_messages) {
    co_return Reply::No("[NONEXISTENT] No quota on this account");
  }
  auto usage = co_await Blocking([&] { return store->GetQuotaUsage(id); });
  if (!usage) co_return ErrorReply(usage.error(), "GETQUOTA");
  Send(QuotaLine(*acc, *usage));
  co_return Reply::Ok("GETQUOTA completed");
}

awaitable<Reply> Session::CmdGetQuotaRoot(Command cmd) {
  const auto& a = std::get<MailboxArgs>(cmd.args);
  auto name = DecodeMailboxName(a.mailbox);
  if (!name) co_return Reply::No(name.error().message());
  auto* store = env_.store;
  store::AccountId id = account_.id;
  std::string n = *name;
  auto mb = co_await Blocking([&] { return store->GetMailbox(id, n); });
  if (!mb) co_return ErrorReply(mb.error(), "GETQUOTAROOT");
  auto acc = co_await Blocking([&] { return store->GetAccountById(id); });
  if (!acc) co_return ErrorReply(acc.error(), "GETQUOTAROOT");
  std::string line = "* QUOTAROOT " + EncodeMailboxName(n);
  if (acc->quota_bytes || acc->quota_messages) {
    line += " \"\"";
    Send(line + "\r\n");
    auto usage =
        co_await Blocking([&] { return store->GetQuotaUsage(id); });
    if (!usage) co_return ErrorReply(usage.error(), "GETQUOTAROOT");
    Send(QuotaLine(*acc, *usage));
  } else {
    Send(line + "\r\n");
  }
  co_return Reply::Ok("GETQUOTAROOT completed");
}

}  // namespace correio::imap
