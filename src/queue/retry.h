// Retry scheduling for the outbound queue (RFC 5321 §4.5.4.1: retry
// intervals of at least 30 minutes are recommended; we start shorter and
// back off, configurable as queue.retry_schedule).
#pragma once

#include <cstdint>
#include <vector>

namespace correio::queue {

// When to try a recipient again after its `attempts`-th failed attempt
// (attempts >= 1) at `now`: now + schedule[attempts-1], the last delay
// repeating, but never after the expiry time created + max_age, so the
// last attempt happens at expiry. Returns -1 when the entry has expired
// (now >= created + max_age): bounce it.
int64_t NextAttempt(const std::vector<uint32_t>& schedule, uint32_t attempts,
                    int64_t created, int64_t now, uint32_t max_age);

}  // namespace correio::queue
