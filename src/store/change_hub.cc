#include "store/change_hub.h"

#include <algorithm>

namespace correio::store {

ChangeHub::Subscription& ChangeHub::Subscription::operator=(
    Subscription&& o) noexcept {
  if (this != &o) {
    Reset();
    hub_ = o.hub_;
    account_ = o.account_;
    id_ = o.id_;
    o.hub_ = nullptr;
  }
  return *this;
}

void ChangeHub::Subscription::Reset() {
  if (hub_) hub_->Unsubscribe(account_, id_);
  hub_ = nullptr;
}

ChangeHub::Subscription LocalChangeHub::Subscribe(AccountId account,
                                                  Callback callback) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  subscribers_[account].emplace_back(
      id, std::make_shared<Callback>(std::move(callback)));
  return Subscription(this, account, id);
}

void LocalChangeHub::Unsubscribe(AccountId account, uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = subscribers_.find(account);
  if (it == subscribers_.end()) return;
  auto& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [id](const auto& p) { return p.first == id; }),
          v.end());
  if (v.empty()) subscribers_.erase(it);
}

void LocalChangeHub::Publish(Change change) {
  auto shared = std::make_shared<const Change>(std::move(change));
  std::vector<std::shared_ptr<Callback>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = subscribers_.find(shared->account);
    if (it == subscribers_.end()) return;
    for (auto& p : it->second) targets.push_back(p.second);
  }
  // Called outside the lock: a callback may subscribe or unsubscribe.
  for (auto& cb : targets) (*cb)(shared);
}

size_t LocalChangeHub::SubscriberCount(AccountId account) const {
  std::lock_guard lock(mu_);
  auto it = subscribers_.find(account);
  return it == subscribers_.end() ? 0 : it->second.size();
}

}  // namespace correio::store
