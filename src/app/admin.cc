#include "app/admin.h"

#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <random>

#include "app/data_dir.h"
#include "auth/password.h"
#include "base/strings.h"
#include "mail/deliver.h"
#include "store/store.h"

namespace correio::app {

namespace {

// Admin commands have no session to notify: a local hub with no
// subscribers. (Running servers learn of admin changes on their next read.)
store::LocalChangeHub g_hub;

std::unique_ptr<store::Store> Open(const config::Config& cfg) {
  auto store = OpenStore(cfg, &g_hub, false);
  if (!store) {
    std::cerr << "correio: " << store.error().message() << "\n";
    return nullptr;
  }
  return std::move(*store);
}

int Report(const Status& st) {
  if (st) return 0;
  std::cerr << "correio: " << st.error().message() << "\n";
  return st.error().code() == ErrorCode::kInvalid ? 2 : 1;
}

bool ValidDomain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') {
    return false;
  }
  for (auto label : SplitString(d, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' ||
        label.back() == '-') {
      return false;
    }
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

// A local part we accept for accounts and aliases: printable ASCII without
// specials that need quoting (RFC 5321 dot-atom), or UTF-8 (RFC 6531).
bool ValidLocalPart(std::string_view l) {
  if (l.empty() || l.size() > 64 || l.front() == '.' || l.back() == '.') {
    return false;
  }
  for (size_t i = 0; i < l.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(l[i]);
    if (c >= 0x80) continue;
    if (c <= 0x20 || c == 0x7f) return false;
    if (std::string_view("()<>[]:;@\\,\"").find(static_cast<char>(c)) !=
        std::string_view::npos) {
      return false;
    }
    if (c == '.' && i + 1 < l.size() && l[i + 1] == '.') return false;
  }
  return true;
}

Result<std::string> CheckAddress(std::string_view raw) {
  std::string address = NormalizeAddress(raw);
  auto parts = SplitAddress(address);
  if (!parts || !ValidLocalPart(parts->local) || !ValidDomain(parts->domain)) {
    return Fail(ErrorCode::kInvalid, "not a valid address: " + std::string(raw));
  }
  return address;
}

std::string ReadSecretLine(const std::string& prompt) {
  bool tty = isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    std::cerr << prompt << std::flush;
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// From stdin when asked (--password-stdin), by prompt on a terminal, or a
// fresh random password that is printed once.
Result<std::string> ObtainPassword(bool from_stdin, bool* generated) {
  *generated = false;
  if (from_stdin) {
    std::string pw;
    std::getline(std::cin, pw);
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    if (pw.empty()) return Fail(ErrorCode::kInvalid, "empty password on stdin");
    return pw;
  }
  if (isatty(STDIN_FILENO)) {
    std::string a = ReadSecretLine("Password: ");
    std::string b = ReadSecretLine("Again: ");
    if (a != b) return Fail(ErrorCode::kInvalid, "passwords do not match");
    if (a.empty()) return Fail(ErrorCode::kInvalid, "empty password");
    return a;
  }
  static const char* kChars =
      "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::string pw;
  for (int i = 0; i < 16; ++i) pw.push_back(kChars[rd() % 57]);
  *generated = true;
  return pw;
}

Result<store::Account> FindAccount(store::Store& store,
                                   const std::string& raw) {
  auto address = CheckAddress(raw);
  if (!address) return Fail(address.error());
  auto account = store.GetAccount(*address);
  if (!account && account.error().code() == ErrorCode::kNotFound) {
    return Fail(ErrorCode::kNotFound, "no such user: " + *address);
  }
  return account;
}

}  // namespace

int DomainAdd(const config::Config& cfg, const std::string& raw) {
  std::string name = AsciiLowercase(raw);
  if (!ValidDomain(name)) {
    return Report(Fail(ErrorCode::kInvalid, "not a valid domain: " + raw));
  }
  auto store = Open(cfg);
  if (!store) return 1;
  auto st = store->AddDomain(name);
  if (!st && st.error().code() == ErrorCode::kExists) {
    return Report(Fail(ErrorCode::kExists, "domain exists: " + name));
  }
  if (st) std::cout << "added domain " << name << "\n";
  return Report(st);
}

int DomainList(const config::Config& cfg) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto domains = store->ListDomains();
  if (!domains) return Report(Fail(domains.error()));
  for (auto& d : *domains) std::cout << d.name << "\n";
  return 0;
}

int DomainRemove(const config::Config& cfg, const std::string& raw) {
  auto store = Open(cfg);
  if (!store) return 1;
  std::string name = AsciiLowercase(raw);
  auto st = store->RemoveDomain(name);
  if (!st && st.error().code() == ErrorCode::kNotFound) {
    return Report(Fail(ErrorCode::kNotFound, "no such domain: " + name));
  }
  if (!st && st.error().code() == ErrorCode::kInUse) {
    return Report(Fail(ErrorCode::kInUse,
                       "domain " + name + " still has users or aliases"));
  }
  if (st) std::cout << "removed domain " << name << "\n";
  return Report(st);
}

int UserAdd(const config::Config& cfg, const UserAddOptions& options) {
  auto address = CheckAddress(options.address);
  if (!address) return Report(Fail(address.error()));
  uint64_t quota = 0;
  if (!options.quota.empty()) {
    auto q = ParseSize(options.quota);
    if (!q) {
      return Report(Fail(ErrorCode::kInvalid, "bad quota: " + options.quota));
    }
    quota = *q;
  }
  auto store = Open(cfg);
  if (!store) return 1;
  auto domain = SplitAddress(*address)->domain;
  auto has = store->HasDomain(domain);
  if (!has) return Report(Fail(has.error()));
  if (!*has) {
    return Report(Fail(ErrorCode::kNotFound,
                       "unknown domain " + domain +
                           " (add it first: correio domain add " + domain +
                           ")"));
  }
  bool generated = false;
  auto password = ObtainPassword(options.password_stdin, &generated);
  if (!password) return Report(Fail(password.error()));
  auto hash = auth::HashPassword(*password);
  if (!hash) return Report(Fail(hash.error()));
  store::Account account;
  account.address = *address;
  account.password_hash = *hash;
  auto scram = auth::DeriveScram(*password);
  if (!scram) return Report(Fail(scram.error()));
  account.scram = *scram;
  if (cfg.pop3.apop) account.apop_secret = *password;  // docs/pop3.md
  account.quota_bytes = quota;
  auto created = store->CreateAccount(account);
  if (!created) {
    if (created.error().code() == ErrorCode::kExists) {
      return Report(Fail(ErrorCode::kExists, "address in use: " + *address));
    }
    return Report(Fail(created.error()));
  }
  std::cout << "added user " << *address << "\n";
  if (generated) std::cout << "password " << *password << "\n";
  return 0;
}

int UserList(const config::Config& cfg) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto accounts = store->ListAccounts();
  if (!accounts) return Report(Fail(accounts.error()));
  for (auto& a : *accounts) {
    auto usage = store->GetQuotaUsage(a.id);
    std::cout << a.address;
    if (usage) {
      std::cout << "  " << FormatSize(usage->bytes) << " in "
                << usage->messages << " messages";
    }
    std::cout << "  quota "
              << (a.quota_bytes ? FormatSize(a.quota_bytes) : "unlimited")
              << "\n";
  }
  return 0;
}

int UserPasswd(const config::Config& cfg, const std::string& raw,
               bool password_stdin) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto account = FindAccount(*store, raw);
  if (!account) return Report(Fail(account.error()));
  bool generated = false;
  auto password = ObtainPassword(password_stdin, &generated);
  if (!password) return Report(Fail(password.error()));
  auto hash = auth::HashPassword(*password);
  if (!hash) return Report(Fail(hash.error()));
  auto scram = auth::DeriveScram(*password);
  if (!scram) return Report(Fail(scram.error()));
  auto st = store->SetCredentials(account->id, *hash, *scram);
  // APOP's secret follows the password while pop3.apop is on (docs/pop3.md).
  if (st && (cfg.pop3.apop || !account->apop_secret.empty())) {
    st = store->SetApopSecret(account->id, cfg.pop3.apop ? *password : "");
  }
  if (st) {
    std::cout << "password changed for " << account->address << "\n";
    if (generated) std::cout << "password " << *password << "\n";
  }
  return Report(st);
}

int UserRemove(const config::Config& cfg, const std::string& raw) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto account = FindAccount(*store, raw);
  if (!account) return Report(Fail(account.error()));
  auto st = store->RemoveAccount(account->id);
  if (st) std::cout << "removed user " << account->address << "\n";
  return Report(st);
}

int UserShow(const config::Config& cfg, const std::string& raw) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto account = FindAccount(*store, raw);
  if (!account) return Report(Fail(account.error()));
  auto usage = store->GetQuotaUsage(account->id);
  if (!usage) return Report(Fail(usage.error()));
  std::cout << "address   " << account->address << "\n";
  std::cout << "usage     " << FormatSize(usage->bytes) << " in "
            << usage->messages << " messages\n";
  std::cout << "quota     "
            << (account->quota_bytes ? FormatSize(account->quota_bytes)
                                     : std::string("unlimited"));
  if (account->quota_messages) {
    std::cout << ", " << account->quota_messages << " messages";
  }
  std::cout << "\n";
  std::cout << "scram     "
            << (account->scram.empty() ? "unavailable (imported hash)"
                                       : "SCRAM-SHA-256")
            << "\n";
  auto mailboxes = store->ListMailboxes(account->id);
  if (!mailboxes) return Report(Fail(mailboxes.error()));
  std::cout << "mailboxes\n";
  for (auto& m : *mailboxes) {
    auto status = store->GetMailboxStatus(m.id);
    std::string use = store::SpecialUseAttribute(m.special_use);
    std::cout << "  " << m.name;
    if (!use.empty()) std::cout << " (" << use << ")";
    if (status) {
      std::cout << "  " << status->messages << " messages, "
                << status->unseen << " unseen, " << FormatSize(status->size);
    }
    std::cout << "\n";
  }
  return 0;
}

int UserQuota(const config::Config& cfg, const std::string& raw,
              const std::string& quota) {
  uint64_t bytes = 0;
  if (quota != "unlimited" && quota != "0") {
    auto q = ParseSize(quota);
    if (!q) return Report(Fail(ErrorCode::kInvalid, "bad quota: " + quota));
    bytes = *q;
  }
  auto store = Open(cfg);
  if (!store) return 1;
  auto account = FindAccount(*store, raw);
  if (!account) return Report(Fail(account.error()));
  auto st = store->SetQuota(account->id, bytes, account->quota_messages);
  if (st) std::cout << "quota of " << account->address << " set\n";
  return Report(st);
}

int AliasAdd(const config::Config& cfg, const std::string& raw_source,
             const std::vector<std::string>& raw_targets) {
  std::string source = NormalizeAddress(raw_source);
  if (source.starts_with("@")) {
    if (!ValidDomain(source.substr(1))) {
      return Report(Fail(ErrorCode::kInvalid, "not a valid catch-all: " +
                                                  raw_source));
    }
  } else if (auto a = CheckAddress(source); !a) {
    return Report(Fail(a.error()));
  }
  if (raw_targets.empty()) {
    return Report(Fail(ErrorCode::kInvalid, "an alias needs a target"));
  }
  store::Alias alias;
  alias.source = source;
  for (auto& t : raw_targets) {
    auto target = CheckAddress(t);
    if (!target) return Report(Fail(target.error()));
    alias.targets.push_back(*target);
  }
  auto store = Open(cfg);
  if (!store) return 1;
  std::string domain = source.substr(source.rfind('@') + 1);
  auto has = store->HasDomain(domain);
  if (!has) return Report(Fail(has.error()));
  if (!*has) {
    return Report(Fail(ErrorCode::kNotFound, "unknown domain " + domain));
  }
  auto st = store->AddAlias(alias);
  if (!st && st.error().code() == ErrorCode::kExists) {
    return Report(Fail(ErrorCode::kExists, "address in use: " + source));
  }
  if (st) std::cout << "added alias " << source << "\n";
  return Report(st);
}

int AliasList(const config::Config& cfg) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto aliases = store->ListAliases();
  if (!aliases) return Report(Fail(aliases.error()));
  for (auto& a : *aliases) {
    std::cout << a.source << " ->";
    for (auto& t : a.targets) std::cout << " " << t;
    std::cout << "\n";
  }
  return 0;
}

int AliasRemove(const config::Config& cfg, const std::string& raw) {
  auto store = Open(cfg);
  if (!store) return 1;
  std::string source = NormalizeAddress(raw);
  auto st = store->RemoveAlias(source);
  if (!st && st.error().code() == ErrorCode::kNotFound) {
    return Report(Fail(ErrorCode::kNotFound, "no such alias: " + source));
  }
  if (st) std::cout << "removed alias " << source << "\n";
  return Report(st);
}

int StoreCheck(const config::Config& cfg) {
  auto store = Open(cfg);
  if (!store) return 1;
  auto problems = store->CheckIntegrity();
  if (!problems) return Report(Fail(problems.error()));
  for (const auto& p : *problems) std::cout << p << "\n";
  if (!problems->empty()) {
    std::cerr << "correio: " << problems->size() << " problem(s) found\n";
    return 1;
  }
  std::cout << "store is consistent\n";
  return 0;
}

int StoreReindex(const config::Config& cfg, bool all) {
  auto store = Open(cfg);
  if (!store) return 1;
  using Scope = store::Store::ReindexScope;
  auto counts =
      store->Reindex(mail::PrepareBlob, all ? Scope::kAll : Scope::kMissing);
  if (!counts) return Report(Fail(counts.error()));
  // The server's indexer takes them on its next pass (within seconds),
  // or at its next start; a body search meanwhile indexes its own mailbox
  // first.
  if (counts->dropped > 0) {
    std::cout << "dropped " << counts->dropped
              << " index entries of message bodies not in the store\n";
  }
  std::cout << "queued the text of " << counts->queued
            << " stored message bodies; the server indexes them\n";
  return 0;
}

int ConfigCheck(const std::string& path) {
  std::vector<config::Problem> problems;
  auto cfg = config::LoadConfig(path, &problems);
  if (cfg) {
    std::cout << path << ": ok\n";
    return 0;
  }
  for (auto& p : problems) std::cerr << path << ": " << p.ToString() << "\n";
  if (problems.empty()) std::cerr << path << ": " << cfg.error().message() << "\n";
  return 2;
}

int ConfigDefault() {
  std::cout << config::DefaultConfigText();
  return 0;
}

}  // namespace correio::app
