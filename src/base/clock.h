// Time as a seam (STYLE 19): code that schedules or stamps asks a Clock so
// tests can move time. Real code uses SystemClock().
#pragma once

#include <chrono>
#include <cstdint>

namespace correio {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t NowSeconds() const = 0;
};

const Clock& SystemClock();

// A clock tests set by hand.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now) : now_(now) {}
  int64_t NowSeconds() const override { return now_; }
  void Set(int64_t now) { now_ = now; }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  int64_t now_;
};

}  // namespace correio
