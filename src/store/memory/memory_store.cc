#include "store/memory/memory_store.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "base/clock.h"
#include "base/strings.h"
#include "store/uid_set.h"

namespace correio::store {
namespace {

std::string MailboxKey(std::string_view name) {
  // INBOX is case-insensitive (RFC 9051 §5.1); every other name is exact.
  if (EqualsIgnoreCase(name, "INBOX")) return "INBOX";
  return std::string(name);
}

std::string DomainOf(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return std::string(address.substr(at + 1));
}

bool ContainsFolded(std::string_view hay, const std::string& needle_lower) {
  return AsciiLowercase(hay).find(needle_lower) != std::string::npos;
}

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(ChangeHub* hub) : hub_(hub) {}

  // ---- Domains ----
  Status AddDomain(std::string_view name) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::string n = AsciiLowercase(name);
      if (n.empty()) return Fail(ErrorCode::kInvalid, "empty domain");
      std::lock_guard lock(mu_);
      if (!domains_.insert(n).second) {
        return Fail(ErrorCode::kExists, "domain exists: " + n);
      }
      return {};
    }()));
  }

  Status RemoveDomain(std::string_view name) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::string n = AsciiLowercase(name);
      std::lock_guard lock(mu_);
      if (!domains_.count(n))
        return Fail(ErrorCode::kNotFound, "no domain " + n);
      for (const auto& [id, a] : accounts_) {
        if (DomainOf(a.account.address) == n) {
          return Fail(ErrorCode::kInUse, "domain has accounts: " + n);
        }
      }
      for (const auto& [src, a] : aliases_) {
        if (DomainOf(src) == n) {
          return Fail(ErrorCode::kInUse, "domain has aliases: " + n);
        }
      }
      domains_.erase(n);
      return {};
    }()));
  }

  Result<std::vector<Domain>> ListDomains() override {
    std::lock_guard lock(mu_);
    std::vector<Domain> out;
    for (const auto& d : domains_) out.push_back(Domain{d});
    return out;
  }

  Result<bool> HasDomain(std::string_view name) override {
    std::lock_guard lock(mu_);
    return domains_.count(AsciiLowercase(name)) > 0;
  }

  uint64_t DirectoryVersion() override {
    return directory_version_.load(std::memory_order_acquire);
  }

  // ---- Accounts ----
  Result<Account> CreateAccount(const Account& account) override {
    return DirectoryWrite(Counted([&]() -> Result<Account> {
      Account a = account;
      a.address = NormalizeAddress(account.address);
      auto parts = SplitAddress(a.address);
      if (!parts) return Fail(ErrorCode::kInvalid, "bad address " + a.address);
      std::lock_guard lock(mu_);
      if (!domains_.count(parts->domain)) {
        return Fail(ErrorCode::kNotFound, "no domain " + parts->domain);
      }
      if (by_address_.count(a.address) || aliases_.count(a.address)) {
        return Fail(ErrorCode::kExists, "address taken: " + a.address);
      }
      a.id = next_id_++;
      a.created = SystemClock().NowSeconds();
      AccountRec rec;
      rec.account = a;
      accounts_[a.id] = rec;
      by_address_[a.address] = a.id;
      for (const auto& d : DefaultMailboxes()) {
        CreateMailboxLocked(a.id, d.name, d.use);
        subscriptions_[a.id].insert(d.name);
      }
      return a;
    }()));
  }

  Result<Account> GetAccount(std::string_view address) override {
    std::lock_guard lock(mu_);
    auto it = by_address_.find(NormalizeAddress(address));
    if (it == by_address_.end()) {
      return Fail(ErrorCode::kNotFound, "no account " + std::string(address));
    }
    return accounts_.at(it->second).account;
  }

  Result<Account> GetAccountById(AccountId id) override {
    std::lock_guard lock(mu_);
    auto* a = FindAccount(id);
    if (!a) return Fail(ErrorCode::kNotFound, "no account");
    return a->account;
  }

  Result<std::vector<Account>> ListAccounts() override {
    std::lock_guard lock(mu_);
    std::vector<Account> out;
    for (const auto& [id, a] : accounts_) out.push_back(a.account);
    std::sort(out.begin(), out.end(), [](const Account& x, const Account& y) {
      return x.address < y.address;
    });
    return out;
  }

  Status SetCredentials(AccountId id, std::string_view password_hash,
                        const ScramCredentials& scram) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::lock_guard lock(mu_);
      auto* a = FindAccount(id);
      if (!a) return Fail(ErrorCode::kNotFound, "no account");
      a->account.password_hash = std::string(password_hash);
      a->account.scram = scram;
      return {};
    }()));
  }

  Status SetApopSecret(AccountId id, std::string_view secret) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::lock_guard lock(mu_);
      auto* a = FindAccount(id);
      if (!a) return Fail(ErrorCode::kNotFound, "no account");
      a->account.apop_secret = std::string(secret);
      return {};
    }()));
  }

  Status SetQuota(AccountId id, uint64_t bytes, uint64_t messages) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::lock_guard lock(mu_);
      auto* a = FindAccount(id);
      if (!a) return Fail(ErrorCode::kNotFound, "no account");
      a->account.quota_bytes = bytes;
      a->account.quota_messages = messages;
      return {};
    }()));
  }

  Status SetAccountSettings(AccountId id,
                            const AccountSettings& settings) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::lock_guard lock(mu_);
      auto* a = FindAccount(id);
      if (!a) return Fail(ErrorCode::kNotFound, "no account");
      a->account.settings = settings;
      return {};
    }()));
  }

  Status RemoveAccount(AccountId id) override {
    return DirectoryWrite(Counted([&]() -> Status {
      {
        std::lock_guard lock(mu_);
        auto* a = FindAccount(id);
        if (!a) return Fail(ErrorCode::kNotFound, "no account");
        std::vector<MailboxId> boxes;
        for (const auto& [mid, b] : boxes_) {
          if (b.mailbox.account == id) boxes.push_back(mid);
        }
        for (MailboxId mid : boxes) DeleteMailboxLocked(mid);
        by_address_.erase(a->account.address);
        subscriptions_.erase(id);
        accounts_.erase(id);
      }
      FlushChanges();
      return {};
    }()));
  }

  Result<QuotaUsage> GetQuotaUsage(AccountId id) override {
    std::lock_guard lock(mu_);
    auto* a = FindAccount(id);
    if (!a) return Fail(ErrorCode::kNotFound, "no account");
    return a->usage;
  }

  // ---- Aliases ----
  Status AddAlias(const Alias& alias) override {
    return DirectoryWrite(Counted([&]() -> Status {
      Alias a = alias;
      a.source = AsciiLowercase(alias.source);
      std::string domain = DomainOf(a.source);
      if (domain.empty() || a.targets.empty()) {
        return Fail(ErrorCode::kInvalid, "bad alias " + a.source);
      }
      std::lock_guard lock(mu_);
      if (!domains_.count(domain)) {
        return Fail(ErrorCode::kNotFound, "no domain " + domain);
      }
      if (aliases_.count(a.source) || by_address_.count(a.source)) {
        return Fail(ErrorCode::kExists, "address taken: " + a.source);
      }
      aliases_[a.source] = a;
      return {};
    }()));
  }

  Status RemoveAlias(std::string_view source) override {
    return DirectoryWrite(Counted([&]() -> Status {
      std::lock_guard lock(mu_);
      if (!aliases_.erase(AsciiLowercase(source))) {
        return Fail(ErrorCode::kNotFound, "no alias " + std::string(source));
      }
      return {};
    }()));
  }

  Result<std::vector<Alias>> ListAliases() override {
    std::lock_guard lock(mu_);
    std::vector<Alias> out;
    for (const auto& [s, a] : aliases_) out.push_back(a);
    return out;
  }

  Result<Alias> GetAlias(std::string_view source) override {
    std::lock_guard lock(mu_);
    auto it = aliases_.find(AsciiLowercase(source));
    if (it == aliases_.end()) {
      return Fail(ErrorCode::kNotFound, "no alias " + std::string(source));
    }
    return it->second;
  }

  // ---- Mailboxes ----
  Result<std::vector<Mailbox>> ListMailboxes(AccountId account) override {
    std::lock_guard lock(mu_);
    if (!FindAccount(account)) return Fail(ErrorCode::kNotFound, "no account");
    std::vector<Mailbox> out;
    for (const auto& [id, b] : boxes_) {
      if (b.mailbox.account == account) out.push_back(WithSubscribed(b));
    }
    std::sort(out.begin(), out.end(), [](const Mailbox& x, const Mailbox& y) {
      return x.name < y.name;
    });
    return out;
  }

  Result<Mailbox> GetMailbox(AccountId account,
                             std::string_view name) override {
    std::lock_guard lock(mu_);
    auto* b = FindBoxByName(account, MailboxKey(name));
    if (!b)
      return Fail(ErrorCode::kNotFound, "no mailbox " + std::string(name));
    return WithSubscribed(*b);
  }

  Result<Mailbox> GetMailboxById(MailboxId id) override {
    std::lock_guard lock(mu_);
    auto* b = FindBox(id);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    return WithSubscribed(*b);
  }

  Result<Mailbox> CreateMailbox(AccountId account, std::string_view name,
                                SpecialUse use) override {
    return Counted([&]() -> Result<Mailbox> {
      Mailbox out;
      {
        std::lock_guard lock(mu_);
        if (name.empty()) return Fail(ErrorCode::kInvalid, "empty name");
        if (!FindAccount(account)) {
          return Fail(ErrorCode::kNotFound, "no account");
        }
        std::string key = MailboxKey(name);
        if (FindBoxByName(account, key)) {
          return Fail(ErrorCode::kExists, "mailbox exists: " + key);
        }
        Box& b = CreateMailboxLocked(account, key, use);
        out = WithSubscribed(b);
        Change c;
        c.kind = Change::Kind::kMailboxCreated;
        c.account = account;
        c.mailbox = out.id;
        c.mailbox_name = out.name;
        c.modseq = out.highest_modseq;
        pending_.push_back(std::move(c));
      }
      FlushChanges();
      return out;
    }());
  }

  Status DeleteMailbox(MailboxId id) override {
    return Counted([&]() -> Status {
      {
        std::lock_guard lock(mu_);
        if (!FindBox(id)) return Fail(ErrorCode::kNotFound, "no mailbox");
        DeleteMailboxLocked(id);
      }
      FlushChanges();
      return {};
    }());
  }

  Status RenameMailbox(MailboxId id, std::string_view new_name) override {
    return Counted([&]() -> Status {
      {
        std::lock_guard lock(mu_);
        Box* b = FindBox(id);
        if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
        if (new_name.empty()) return Fail(ErrorCode::kInvalid, "empty name");
        std::string old_name = b->mailbox.name;
        std::string to = MailboxKey(new_name);
        AccountId account = b->mailbox.account;
        // The mailbox and every "old/..." child move together.
        std::vector<std::pair<Box*, std::string>> moves;
        for (auto& [mid, box] : boxes_) {
          if (box.mailbox.account != account) continue;
          const std::string& n = box.mailbox.name;
          if (n == old_name) {
            moves.emplace_back(&box, to);
          } else if (n.size() > old_name.size() &&
                     n.compare(0, old_name.size(), old_name) == 0 &&
                     n[old_name.size()] == '/') {
            moves.emplace_back(&box, to + n.substr(old_name.size()));
          }
        }
        if (to == old_name) return Fail(ErrorCode::kExists, "same name");
        std::set<std::string> moving;
        for (auto& [box, n] : moves) moving.insert(box->mailbox.name);
        for (auto& [box, n] : moves) {
          // A target taken by a box that itself moves away is fine.
          Box* other = FindBoxByName(account, n);
          if (other && !moving.count(other->mailbox.name)) {
            return Fail(ErrorCode::kExists, "mailbox exists: " + n);
          }
        }
        auto& subs = subscriptions_[account];
        for (auto& [box, n] : moves) {
          // Subscriptions follow the rename, as Dovecot does.
          if (subs.erase(box->mailbox.name)) subs.insert(n);
          Change c;
          c.kind = Change::Kind::kMailboxRenamed;
          c.account = account;
          c.mailbox = box->mailbox.id;
          c.old_name = box->mailbox.name;
          c.mailbox_name = n;
          c.modseq = box->mailbox.highest_modseq;
          box->mailbox.name = n;
          pending_.push_back(std::move(c));
        }
      }
      FlushChanges();
      return {};
    }());
  }

  Status SetSubscribed(AccountId account, std::string_view name,
                       bool subscribed) override {
    return Counted([&]() -> Status {
      {
        std::lock_guard lock(mu_);
        if (!FindAccount(account)) {
          return Fail(ErrorCode::kNotFound, "no account");
        }
        std::string key = MailboxKey(name);
        auto& subs = subscriptions_[account];
        if (subscribed) {
          subs.insert(key);
        } else {
          subs.erase(key);
        }
        Change c;
        c.kind = Change::Kind::kSubscription;
        c.account = account;
        c.mailbox_name = key;
        if (Box* b = FindBoxByName(account, key)) {
          c.mailbox = b->mailbox.id;
          c.modseq = b->mailbox.highest_modseq;
        }
        pending_.push_back(std::move(c));
      }
      FlushChanges();
      return {};
    }());
  }

  Result<std::vector<std::string>> ListSubscriptions(
      AccountId account) override {
    std::lock_guard lock(mu_);
    if (!FindAccount(account)) return Fail(ErrorCode::kNotFound, "no account");
    auto it = subscriptions_.find(account);
    if (it == subscriptions_.end()) return std::vector<std::string>{};
    return std::vector<std::string>(it->second.begin(), it->second.end());
  }

  Result<MailboxStatus> GetMailboxStatus(MailboxId id) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(id);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    MailboxStatus s;
    for (const auto& [uid, m] : b->messages) {
      s.messages++;
      if (!(m.flags.system & kFlagSeen)) s.unseen++;
      if (m.flags.system & kFlagDeleted) s.deleted++;
      s.size += m.size;
    }
    return s;
  }

  // ---- Messages ----
  Result<std::vector<Delivered>> Deliver(
      const NewBlob& blob, const std::vector<DeliveryTarget>& targets,
      uint64_t origin) override {
    return Counted([&]() -> Result<std::vector<Delivered>> {
      std::vector<Delivered> out;
      {
        std::lock_guard lock(mu_);
        if (targets.empty()) return Fail(ErrorCode::kInvalid, "no targets");
        // Check everything before changing anything: the call is atomic.
        std::map<AccountId, uint64_t> adds;
        for (const auto& t : targets) {
          Box* b = FindBox(t.mailbox);
          if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
          adds[b->mailbox.account]++;
        }
        for (const auto& [acc, n] : adds) {
          if (!QuotaAllows(*FindAccount(acc), n * blob.data.size(), n)) {
            return Fail(ErrorCode::kOverQuota, "quota exceeded");
          }
        }
        BlobId blob_id = AddBlobRef(blob, targets.size());
        int64_t now = SystemClock().NowSeconds();
        for (const auto& t : targets) {
          out.push_back(
              InsertMessageLocked(t, blob.data.size(), blob_id, now, origin));
        }
      }
      FlushChanges();
      return out;
    }());
  }

  Result<std::vector<Delivered>> AppendMany(
      const std::vector<NewMessage>& messages, uint64_t origin) override {
    return Counted([&]() -> Result<std::vector<Delivered>> {
      std::vector<Delivered> out;
      {
        std::lock_guard lock(mu_);
        if (messages.empty()) return Fail(ErrorCode::kInvalid, "no messages");
        std::map<AccountId, QuotaUsage> adds;
        for (const auto& m : messages) {
          Box* b = FindBox(m.target.mailbox);
          if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
          adds[b->mailbox.account].bytes += m.blob.data.size();
          adds[b->mailbox.account].messages++;
        }
        for (const auto& [acc, u] : adds) {
          if (!QuotaAllows(*FindAccount(acc), u.bytes, u.messages)) {
            return Fail(ErrorCode::kOverQuota, "quota exceeded");
          }
        }
        int64_t now = SystemClock().NowSeconds();
        for (const auto& m : messages) {
          BlobId blob_id = AddBlobRef(m.blob, 1);
          out.push_back(InsertMessageLocked(m.target, m.blob.data.size(),
                                            blob_id, now, origin));
        }
      }
      FlushChanges();
      return out;
    }());
  }

  Status ScanView(MailboxId mailbox, ViewReceiver& to) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(mailbox);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    ViewBounds bounds;
    for (const auto& [uid, m] : b->messages) {
      if (bounds.room++ == 0) {
        bounds.min_uid = uid;
        bounds.min_modseq = bounds.max_modseq = m.modseq;
      }
      bounds.max_uid = uid;
      bounds.min_modseq = std::min(bounds.min_modseq, m.modseq);
      bounds.max_modseq = std::max(bounds.max_modseq, m.modseq);
    }
    to.Begin(b->mailbox, bounds);
    for (const auto& [uid, m] : b->messages) {
      to.Row({m.uid, m.flags.system, m.modseq},
             std::vector<std::string>(m.flags.keywords));
    }
    return {};
  }

  Result<std::vector<MessageRow>> GetMessages(MailboxId mailbox,
                                              const UidSet& uids) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(mailbox);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    std::vector<MessageRow> out;
    for (Uid uid : Select(*b, uids)) out.push_back(b->messages.at(uid));
    return out;
  }

  Result<BlobInfo> GetBlobInfo(BlobId blob) override {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(blob);
    if (it == blobs_.end()) return Fail(ErrorCode::kNotFound, "no blob");
    return BlobInfo{blob, it->second.blob.data.size(), it->second.blob.summary};
  }

  Result<std::string> ReadBlob(BlobId blob, uint64_t offset,
                               uint64_t length) override {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(blob);
    if (it == blobs_.end()) return Fail(ErrorCode::kNotFound, "no blob");
    const std::string& d = it->second.blob.data;
    if (offset >= d.size()) return std::string();
    return d.substr(offset, std::min<uint64_t>(length, d.size() - offset));
  }

  Status ReadBlobHeads(const std::vector<BlobId>& blobs,
                       const BlobLength& length, const BlobGot& got) override {
    for (size_t i = 0; i < blobs.size(); ++i) {
      BlobInfo info;
      std::string data;
      {
        std::lock_guard lock(mu_);
        auto it = blobs_.find(blobs[i]);
        if (it == blobs_.end()) {
          got(i, Fail(ErrorCode::kNotFound, "no blob"), "");
          continue;
        }
        const std::string& d = it->second.blob.data;
        info = BlobInfo{blobs[i], d.size(), it->second.blob.summary};
        data = d.substr(0, std::min<uint64_t>(length(i, info), d.size()));
      }
      got(i, std::move(info), std::move(data));
    }
    return {};
  }

  Result<FlagResult> UpdateFlags(MailboxId mailbox, const UidSet& uids,
                                 const FlagUpdate& update,
                                 uint64_t origin) override {
    return Counted([&]() -> Result<FlagResult> {
      FlagResult out;
      {
        std::lock_guard lock(mu_);
        Box* b = FindBox(mailbox);
        if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
        Flags given = update.flags;
        given.keywords = NormalizeKeywords(given.keywords);
        // One new MODSEQ for every message this command changes
        // (RFC 7162 §3.1.1 only asks that it be greater than all before).
        ModSeq modseq = b->mailbox.highest_modseq + 1;
        for (Uid uid : Select(*b, uids)) {
          MessageRow& m = b->messages.at(uid);
          if (update.unchanged_since && m.modseq > *update.unchanged_since) {
            out.not_modified.push_back(uid);
            continue;
          }
          Flags next = ApplyFlagOp(m.flags, update.op, given);
          if (next == m.flags) continue;
          m.flags = next;
          m.modseq = modseq;
          out.changed.push_back(ViewEntry{uid, modseq, next});
        }
        if (!out.changed.empty()) {
          b->mailbox.highest_modseq = modseq;
          Change c;
          c.kind = Change::Kind::kFlags;
          c.account = b->mailbox.account;
          c.mailbox = mailbox;
          c.mailbox_name = b->mailbox.name;
          c.messages = out.changed;
          c.modseq = modseq;
          c.origin = origin;
          pending_.push_back(std::move(c));
        }
      }
      FlushChanges();
      return out;
    }());
  }

  Result<ExpungeResult> Expunge(MailboxId mailbox, const UidSet& uids,
                                uint64_t origin, bool only_deleted) override {
    return Counted([&]() -> Result<ExpungeResult> {
      ExpungeResult out;
      {
        std::lock_guard lock(mu_);
        Box* b = FindBox(mailbox);
        if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
        out.uids = Select(*b, uids);
        if (only_deleted) {
          std::erase_if(out.uids, [&](Uid u) {
            return !(b->messages.at(u).flags.system & kFlagDeleted);
          });
        }
        out.modseq = b->mailbox.highest_modseq;
        if (out.uids.empty()) return out;
        out.modseq = ++b->mailbox.highest_modseq;
        RemoveMessages(*b, out.uids, out.modseq);
        Change c;
        c.kind = Change::Kind::kExpunged;
        c.account = b->mailbox.account;
        c.mailbox = mailbox;
        c.mailbox_name = b->mailbox.name;
        c.uids = out.uids;
        c.modseq = out.modseq;
        c.origin = origin;
        pending_.push_back(std::move(c));
      }
      FlushChanges();
      return out;
    }());
  }

  Result<CopyResult> Copy(MailboxId source, const UidSet& uids, MailboxId dest,
                          uint64_t origin) override {
    return Counted([&]() -> Result<CopyResult> {
      return CopyOrMove(source, uids, dest, origin, /*move=*/false);
    }());
  }

  Result<CopyResult> Move(MailboxId source, const UidSet& uids, MailboxId dest,
                          uint64_t origin) override {
    return Counted([&]() -> Result<CopyResult> {
      return CopyOrMove(source, uids, dest, origin, /*move=*/true);
    }());
  }

  Result<std::vector<Uid>> ExpungedSince(MailboxId mailbox,
                                         ModSeq since) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(mailbox);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    std::vector<Uid> out;
    for (const auto& e : b->expunged) {
      if (e.modseq > since) out.push_back(e.uid);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<ModSeq> ExpungeLogFloor(MailboxId mailbox) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(mailbox);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    return b->expunge_floor;
  }

  Result<uint64_t> CompactExpungeLog(int64_t before) override {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (auto& [id, b] : boxes_) {
      std::erase_if(b.expunged, [&](const Box::Expunged& e) {
        if (e.at >= before) return false;
        b.expunge_floor = std::max(b.expunge_floor, e.modseq);
        ++n;
        return true;
      });
    }
    return n;
  }

  Result<std::vector<Uid>> SearchText(MailboxId mailbox, TextField field,
                                      std::string_view needle) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(mailbox);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    std::string n = AsciiLowercase(needle);
    std::vector<Uid> out;
    for (const auto& [uid, m] : b->messages) {
      const NewBlob& nb = blobs_.at(m.blob).blob;
      bool hit =
          (field != TextField::kHeaders && ContainsFolded(nb.SearchBody(), n)) ||
          (field != TextField::kBody && ContainsFolded(nb.search_headers, n));
      if (hit) out.push_back(uid);
    }
    return out;
  }

  // The index here is always complete: nothing is pending.
  Result<std::vector<Uid>> HeaderCandidates(MailboxId mailbox,
                                            std::string_view needle,
                                            size_t /*messages_hint*/) override {
    return SearchText(mailbox, TextField::kHeaders, needle);
  }

  // ---- POP3 ----
  Status MarkPop3Downloaded(MailboxId mailbox, const UidSet& uids) override {
    return Counted([&]() -> Status {
      std::lock_guard lock(mu_);
      Box* b = FindBox(mailbox);
      if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
      // No MODSEQ bump and no change event: invisible to IMAP.
      for (Uid uid : Select(*b, uids)) {
        pop3_downloaded_.insert(b->messages.at(uid).id);
      }
      return {};
    }());
  }

  Result<std::vector<Uid>> Pop3Downloaded(MailboxId mailbox) override {
    std::lock_guard lock(mu_);
    Box* b = FindBox(mailbox);
    if (!b) return Fail(ErrorCode::kNotFound, "no mailbox");
    std::vector<Uid> out;
    for (const auto& [uid, m] : b->messages) {
      if (pop3_downloaded_.count(m.id)) out.push_back(uid);
    }
    return out;
  }

  StoreStats Stats() override {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

  // The index here is the blobs' own text: it cannot fall behind.
  Result<ReindexCounts> Reindex(const TextExtractor&, ReindexScope) override {
    return ReindexCounts{};
  }

  Result<std::vector<std::string>> CheckIntegrity() override {
    std::lock_guard lock(mu_);
    std::vector<std::string> problems;
    std::map<BlobId, uint64_t> refs;
    std::map<AccountId, QuotaUsage> usage;
    for (const auto& [mid, b] : boxes_) {
      if (!FindAccount(b.mailbox.account)) {
        problems.push_back("mailbox without account");
      }
      for (const auto& [uid, m] : b.messages) {
        if (!blobs_.count(m.blob)) problems.push_back("message without blob");
        if (uid >= b.mailbox.uid_next) problems.push_back("uid >= uid_next");
        if (m.modseq > b.mailbox.highest_modseq) {
          problems.push_back("modseq > highest_modseq");
        }
        refs[m.blob]++;
        usage[b.mailbox.account].bytes += m.size;
        usage[b.mailbox.account].messages++;
      }
    }
    for (const auto& [id, rec] : blobs_) {
      if (rec.refcount != refs[id]) problems.push_back("blob refcount wrong");
    }
    std::set<MessageId> live;
    for (const auto& [mid, b] : boxes_) {
      for (const auto& [uid, m] : b.messages) live.insert(m.id);
      for (const auto& e : b.expunged) {
        if (b.messages.count(e.uid) || e.modseq > b.mailbox.highest_modseq) {
          problems.push_back("expunge log names a live uid or is ahead");
        }
      }
    }
    for (MessageId id : pop3_downloaded_) {
      if (!live.count(id)) problems.push_back("POP3 mark of a gone message");
    }
    for (const auto& [id, a] : accounts_) {
      const QuotaUsage& u = usage[id];
      if (u.bytes != a.usage.bytes || u.messages != a.usage.messages) {
        problems.push_back("quota usage wrong for " + a.account.address);
      }
    }
    return problems;
  }

 private:
  struct AccountRec {
    Account account;
    QuotaUsage usage;
  };

  // After a write to domains, accounts or aliases (DirectoryVersion).
  template <class R>
  R DirectoryWrite(R result) {
    directory_version_.fetch_add(1, std::memory_order_acq_rel);
    return result;
  }

  // Every write call is one "commit" here (no batching): counts it.
  template <class R>
  R Counted(R result) {
    std::lock_guard lock(stats_mu_);
    stats_.write_calls++;
    if (!result) {
      stats_.failed_calls++;
    } else {
      stats_.commits++;
      stats_.largest_batch = 1;
    }
    return result;
  }
  struct Box {
    Mailbox mailbox;
    std::map<Uid, MessageRow> messages;
    struct Expunged {
      Uid uid;
      ModSeq modseq;
      int64_t at;  // unix seconds
    };
    std::vector<Expunged> expunged;
    ModSeq expunge_floor = 0;
  };
  struct BlobRec {
    NewBlob blob;
    uint64_t refcount = 0;
  };

  AccountRec* FindAccount(AccountId id) {
    auto it = accounts_.find(id);
    return it == accounts_.end() ? nullptr : &it->second;
  }
  Box* FindBox(MailboxId id) {
    auto it = boxes_.find(id);
    return it == boxes_.end() ? nullptr : &it->second;
  }
  Box* FindBoxByName(AccountId account, const std::string& name) {
    for (auto& [id, b] : boxes_) {
      if (b.mailbox.account == account && b.mailbox.name == name) return &b;
    }
    return nullptr;
  }
  Mailbox WithSubscribed(const Box& b) {
    Mailbox m = b.mailbox;
    auto it = subscriptions_.find(m.account);
    m.subscribed = it != subscriptions_.end() && it->second.count(m.name);
    return m;
  }

  Box& CreateMailboxLocked(AccountId account, const std::string& name,
                           SpecialUse use) {
    // A fresh UIDVALIDITY per created mailbox from one store-wide counter,
    // never reused even across a removed and re-created account
    // (RFC 9051 §2.3.1.1), so a re-created name cannot reuse UIDs.
    uint32_t now = static_cast<uint32_t>(SystemClock().NowSeconds());
    last_uid_validity_ = std::max(now, last_uid_validity_ + 1);
    Box b;
    b.mailbox.id = next_id_++;
    b.mailbox.account = account;
    b.mailbox.name = name;
    b.mailbox.special_use = use;
    b.mailbox.uid_validity = last_uid_validity_;
    b.mailbox.uid_next = 1;
    b.mailbox.highest_modseq = 1;
    MailboxId id = b.mailbox.id;
    return boxes_[id] = std::move(b);
  }

  void DeleteMailboxLocked(MailboxId id) {
    Box& b = boxes_.at(id);
    std::vector<Uid> uids;
    for (const auto& [uid, m] : b.messages) uids.push_back(uid);
    RemoveMessages(b, uids, 0);
    Change c;
    c.kind = Change::Kind::kMailboxDeleted;
    c.account = b.mailbox.account;
    c.mailbox = id;
    c.mailbox_name = b.mailbox.name;
    c.modseq = b.mailbox.highest_modseq;
    pending_.push_back(std::move(c));
    boxes_.erase(id);
  }

  // Adds one message naming `blob_id` (reference already taken) to an
  // existing mailbox with its next UID and MODSEQ.
  Delivered InsertMessageLocked(const DeliveryTarget& t, uint64_t size,
                                BlobId blob_id, int64_t now, uint64_t origin) {
    Box* b = FindBox(t.mailbox);
    MessageRow row;
    row.id = next_id_++;
    row.mailbox = t.mailbox;
    row.uid = b->mailbox.uid_next++;
    row.modseq = ++b->mailbox.highest_modseq;
    row.flags = t.flags;
    row.flags.keywords = NormalizeKeywords(row.flags.keywords);
    row.internal_date = t.internal_date;
    row.save_date = now;
    row.size = size;
    row.blob = blob_id;
    b->messages[row.uid] = row;
    AddUsage(b->mailbox.account, row.size, 1);
    Change c;
    c.kind = Change::Kind::kAppended;
    c.account = b->mailbox.account;
    c.mailbox = b->mailbox.id;
    c.mailbox_name = b->mailbox.name;
    c.messages.push_back(ViewEntry{row.uid, row.modseq, row.flags});
    c.modseq = b->mailbox.highest_modseq;
    c.origin = origin;
    pending_.push_back(std::move(c));
    return Delivered{t.mailbox, row.uid, row.modseq, row.id};
  }

  std::vector<Uid> Select(const Box& b, const UidSet& uids) {
    std::vector<Uid> out;
    for (const auto& r : uids) {
      for (auto it = b.messages.lower_bound(r.first);
           it != b.messages.end() && it->first <= r.last; ++it) {
        out.push_back(it->first);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  bool QuotaAllows(const AccountRec& a, uint64_t bytes, uint64_t messages) {
    if (a.account.quota_bytes &&
        a.usage.bytes + bytes > a.account.quota_bytes) {
      return false;
    }
    if (a.account.quota_messages &&
        a.usage.messages + messages > a.account.quota_messages) {
      return false;
    }
    return true;
  }

  void AddUsage(AccountId account, uint64_t bytes, int64_t messages) {
    AccountRec& a = accounts_.at(account);
    a.usage.bytes += bytes;
    a.usage.messages += messages;
  }
  void SubUsage(AccountId account, uint64_t bytes) {
    AccountRec& a = accounts_.at(account);
    a.usage.bytes -= bytes;
    a.usage.messages -= 1;
  }

  BlobId AddBlobRef(const NewBlob& blob, uint64_t n) {
    auto it = blob_by_data_.find(blob.data);
    if (it != blob_by_data_.end()) {
      blobs_.at(it->second).refcount += n;
      return it->second;
    }
    BlobId id = next_id_++;
    blobs_[id] = BlobRec{blob, n};
    blob_by_data_[blob.data] = id;
    return id;
  }

  void ReleaseBlob(BlobId id) {
    BlobRec& rec = blobs_.at(id);
    if (--rec.refcount == 0) {
      blob_by_data_.erase(rec.blob.data);
      blobs_.erase(id);
    }
  }

  // Removes messages; logs them with `modseq` unless it is 0 (mailbox gone).
  void RemoveMessages(Box& b, const std::vector<Uid>& uids, ModSeq modseq) {
    for (Uid uid : uids) {
      MessageRow m = b.messages.at(uid);
      b.messages.erase(uid);
      SubUsage(b.mailbox.account, m.size);
      ReleaseBlob(m.blob);
      pop3_downloaded_.erase(m.id);
      if (modseq) {
        b.expunged.push_back(
            {uid, modseq, static_cast<int64_t>(std::time(nullptr))});
      }
    }
  }

  Result<CopyResult> CopyOrMove(MailboxId source, const UidSet& uids,
                                MailboxId dest, uint64_t origin, bool move) {
    CopyResult out;
    {
      std::lock_guard lock(mu_);
      Box* src = FindBox(source);
      Box* dst = FindBox(dest);
      if (!src || !dst) return Fail(ErrorCode::kNotFound, "no mailbox");
      std::vector<Uid> sel = Select(*src, uids);
      out.dest_uid_validity = dst->mailbox.uid_validity;
      if (sel.empty()) return out;
      bool cross = src->mailbox.account != dst->mailbox.account;
      if (!move || cross) {
        uint64_t bytes = 0;
        for (Uid uid : sel) bytes += src->messages.at(uid).size;
        if (!QuotaAllows(accounts_.at(dst->mailbox.account), bytes,
                         sel.size())) {
          return Fail(ErrorCode::kOverQuota, "quota exceeded");
        }
      }
      int64_t now = SystemClock().NowSeconds();
      ModSeq dest_modseq = ++dst->mailbox.highest_modseq;
      Change added;
      added.kind = Change::Kind::kAppended;
      added.account = dst->mailbox.account;
      added.mailbox = dest;
      added.mailbox_name = dst->mailbox.name;
      added.origin = origin;
      std::vector<MessageRow> rows;
      for (Uid uid : sel) rows.push_back(src->messages.at(uid));
      if (move) {
        ExpungeResult ex;
        ex.modseq = ++src->mailbox.highest_modseq;
        for (Uid uid : sel) {
          src->messages.erase(uid);
          src->expunged.push_back(
              {uid, ex.modseq, static_cast<int64_t>(std::time(nullptr))});
        }
        if (cross) {
          for (const auto& r : rows) SubUsage(src->mailbox.account, r.size);
        }
        Change c;
        c.kind = Change::Kind::kExpunged;
        c.account = src->mailbox.account;
        c.mailbox = source;
        c.mailbox_name = src->mailbox.name;
        c.uids = sel;
        c.modseq = ex.modseq;
        c.origin = origin;
        // The source EXPUNGE is published after the target's new messages
        // so a watcher never sees the message gone from both.
        for (auto& r : rows) {
          MessageRow m = r;  // keeps its id: stable across MOVE
          m.mailbox = dest;
          m.uid = dst->mailbox.uid_next++;
          m.modseq = dest_modseq;
          dst->messages[m.uid] = m;
          if (cross) AddUsage(dst->mailbox.account, m.size, 1);
          out.source_uids.push_back(r.uid);
          out.dest_uids.push_back(m.uid);
          added.messages.push_back(ViewEntry{m.uid, m.modseq, m.flags});
        }
        added.modseq = dest_modseq;
        pending_.push_back(std::move(added));
        pending_.push_back(std::move(c));
      } else {
        for (auto& r : rows) {
          MessageRow m = r;
          m.id = next_id_++;
          m.mailbox = dest;
          m.uid = dst->mailbox.uid_next++;
          m.modseq = dest_modseq;
          m.save_date = now;
          blobs_.at(m.blob).refcount++;
          dst->messages[m.uid] = m;
          AddUsage(dst->mailbox.account, m.size, 1);
          out.source_uids.push_back(r.uid);
          out.dest_uids.push_back(m.uid);
          added.messages.push_back(ViewEntry{m.uid, m.modseq, m.flags});
        }
        added.modseq = dest_modseq;
        pending_.push_back(std::move(added));
      }
    }
    FlushChanges();
    return out;
  }

  // Publishes queued changes in commit order, outside the data lock.
  void FlushChanges() {
    std::lock_guard pub(publish_mu_);
    std::deque<Change> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(pending_);
    }
    if (!hub_) return;
    for (auto& c : batch) hub_->Publish(std::move(c));
  }

  ChangeHub* hub_;
  std::mutex publish_mu_;  // taken before mu_, never inside it
  std::mutex mu_;
  int64_t next_id_ = 1;
  std::set<std::string> domains_;
  std::map<AccountId, AccountRec> accounts_;
  std::unordered_map<std::string, AccountId> by_address_;
  std::map<std::string, Alias> aliases_;
  std::map<MailboxId, Box> boxes_;
  std::map<AccountId, std::set<std::string>> subscriptions_;
  std::map<BlobId, BlobRec> blobs_;
  std::unordered_map<std::string, BlobId> blob_by_data_;
  std::deque<Change> pending_;
  uint32_t last_uid_validity_ = 0;
  std::set<MessageId> pop3_downloaded_;  // marks follow the message id
  std::mutex stats_mu_;
  StoreStats stats_;
  std::atomic<uint64_t> directory_version_{1};
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore(ChangeHub* hub) {
  return std::make_unique<MemoryStore>(hub);
}

}  // namespace correio::store
