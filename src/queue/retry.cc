#include "queue/retry.h"

#include <algorithm>

namespace correio::queue {

int64_t NextAttempt(const std::vector<uint32_t>& schedule, uint32_t attempts,
                    int64_t created, int64_t now, uint32_t max_age) {
  int64_t expiry = created + static_cast<int64_t>(max_age);
  if (now >= expiry) return -1;
  uint32_t delay = 300;
  if (!schedule.empty()) {
    size_t index = attempts == 0 ? 0 : attempts - 1;
    delay = schedule[std::min(index, schedule.size() - 1)];
  }
  return std::min(now + static_cast<int64_t>(delay), expiry);
}

}  // namespace correio::queue
