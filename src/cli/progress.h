// Progress of a long CLI operation: a bar redrawn in place on a terminal (done of total, the
// rate, the time left), plain lines otherwise (CI logs, pipes): one when what is being done
// changes, and at most one every two seconds besides.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace slipway::cli {

class Progress {
 public:
  // `unit` names what is counted ("rows", "MiB").
  explicit Progress(std::string title, std::string unit = "");
  ~Progress();
  void Update(int64_t done, int64_t total, std::string_view what);
  // The unit counted from now on (a task reports bytes while it checks, then rows); the rate
  // starts again with a new unit.
  void set_unit(std::string unit) {
    if (unit == unit_) return;
    unit_ = std::move(unit);
    started_ = Clock::now();
  }
  bool interactive() const { return interactive_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::string title_, unit_;
  bool interactive_;
  bool drawn_ = false;
  Clock::time_point started_, last_;
  std::string last_what_;
};

}  // namespace slipway::cli
