#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace slipway::cli {

namespace {

std::string Duration(double seconds) {
  char buf[32];
  long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lds", s);
  }
  return buf;
}

}  // namespace

Progress::Progress(std::string title, std::string unit)
    : title_(std::move(title)),
      unit_(std::move(unit)),
      interactive_(isatty(2) != 0),
      started_(Clock::now()) {}

Progress::~Progress() {
  if (interactive_ && drawn_) std::fputc('\n', stderr);
}

void Progress::Update(int64_t done, int64_t total, std::string_view what) {
  const auto now = Clock::now();
  const bool changed = what != last_what_;
  const bool finished = total > 0 && done >= total;
  const auto gap = interactive_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000);
  if (drawn_ && !changed && !finished && now - last_ < gap) return;
  last_ = now;
  last_what_ = std::string(what);
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const double rate = elapsed > 0.05 ? static_cast<double>(done) / elapsed : 0;
  std::string figures = std::to_string(done) + "/" + std::to_string(total);
  if (!unit_.empty()) figures += " " + unit_;
  char tail[96] = "";
  if (rate > 0) {
    std::snprintf(tail, sizeof(tail), ", %.0f%s%s/s", rate, unit_.empty() ? "" : " ",
                  unit_.c_str());
    if (total > done) {
      std::string left = Duration(static_cast<double>(total - done) / rate);
      std::snprintf(tail + std::char_traits<char>::length(tail),
                    sizeof(tail) - std::char_traits<char>::length(tail), ", %s left", left.c_str());
    }
  }
  if (!interactive_) {
    std::fprintf(stderr, "%s: %s%s (%s) %.*s\n", title_.c_str(), figures.c_str(), tail,
                 Duration(elapsed).c_str(), static_cast<int>(what.size()), what.data());
    drawn_ = true;
    return;
  }
  constexpr int64_t kWidth = 30;
  int64_t filled = total > 0 ? std::min<int64_t>(kWidth, done * kWidth / total) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %s%s %.*s", title_.c_str(), bar.c_str(), figures.c_str(),
               tail, static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace slipway::cli
