// Progress of a long CLI operation: a bar redrawn in place on a terminal, plain lines otherwise
// (CI logs, pipes).
#pragma once

#include <string>
#include <string_view>

namespace slipway::cli {

class Progress {
 public:
  explicit Progress(std::string title);
  ~Progress();
  void Update(int done, int total, std::string_view what);
  bool interactive() const { return interactive_; }

 private:
  std::string title_;
  bool interactive_;
  bool drawn_ = false;
};

}  // namespace slipway::cli
