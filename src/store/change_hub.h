// ChangeHub: tells every session watching an account what other sessions
// committed, in commit order (ARCHITECTURE "Change hub").
//
// Store backends publish after each commit, so no write path can forget to.
// Subscribers get callbacks on the publisher's thread and must only post the
// change to their own executor (never block, never call the store from the
// callback). One interface so a cross-node transport (PostgreSQL
// LISTEN/NOTIFY) can be put behind it later.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/types.h"

namespace correio::store {

struct Change {
  enum class Kind : uint8_t {
    kAppended,  // new messages (delivery, APPEND, COPY/MOVE target)
    kFlags,     // flags changed (STORE, POP3 \Seen)
    kExpunged,  // messages removed (EXPUNGE, MOVE source, POP3 QUIT)
    kMailboxCreated,
    kMailboxDeleted,
    kMailboxRenamed,  // mailbox_name is the new name, old_name the old
    kSubscription,
  };
  Kind kind = Kind::kAppended;
  AccountId account = 0;
  MailboxId mailbox = 0;
  std::string mailbox_name;
  std::string old_name;
  std::vector<ViewEntry> messages;  // kAppended, kFlags
  std::vector<Uid> uids;            // kExpunged
  ModSeq modseq = 0;                // the mailbox's HIGHESTMODSEQ after commit
  uint64_t origin = 0;  // session id that made it (0: none), so it can skip it
};

class ChangeHub {
 public:
  using Callback = std::function<void(const std::shared_ptr<const Change>&)>;

  // Unsubscribes when destroyed. Movable, not copyable.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(ChangeHub* hub, AccountId account, uint64_t id)
        : hub_(hub), account_(account), id_(id) {}
    Subscription(Subscription&& o) noexcept { *this = std::move(o); }
    Subscription& operator=(Subscription&& o) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { Reset(); }
    void Reset();

   private:
    ChangeHub* hub_ = nullptr;
    AccountId account_ = 0;
    uint64_t id_ = 0;
  };

  virtual ~ChangeHub() = default;
  [[nodiscard]] virtual Subscription Subscribe(AccountId account,
                                               Callback callback) = 0;
  virtual void Publish(Change change) = 0;

 protected:
  virtual void Unsubscribe(AccountId account, uint64_t id) = 0;
};

// The in-process hub: a map account -> subscribers under one mutex.
// Callbacks run under no lock held by the hub's writers' transactions.
class LocalChangeHub : public ChangeHub {
 public:
  Subscription Subscribe(AccountId account, Callback callback) override;
  void Publish(Change change) override;
  size_t SubscriberCount(AccountId account) const;

 protected:
  void Unsubscribe(AccountId account, uint64_t id) override;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<
      AccountId, std::vector<std::pair<uint64_t, std::shared_ptr<Callback>>>>
      subscribers_;
};

}  // namespace correio::store
