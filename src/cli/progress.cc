#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace slipway::cli {

Progress::Progress(std::string title) : title_(std::move(title)), interactive_(isatty(2) != 0) {}

Progress::~Progress() {
  if (interactive_ && drawn_) std::fputc('\n', stderr);
}

void Progress::Update(int done, int total, std::string_view what) {
  if (!interactive_) {
    std::fprintf(stderr, "%s: %d/%d %.*s\n", title_.c_str(), done, total,
                 static_cast<int>(what.size()), what.data());
    return;
  }
  constexpr int kWidth = 30;
  int filled = total > 0 ? done * kWidth / total : kWidth;
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %d/%d %.*s", title_.c_str(), bar.c_str(), done, total,
               static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace slipway::cli
