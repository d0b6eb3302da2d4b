#pragma once
/// Bytes to bounded, valid UTF-8 lines: what the file and command sources
/// share. A line longer than the bound keeps its first bytes (cut at a
/// character boundary) and the rest up to its newline is dropped.
#include <functional>
#include <string>
#include <string_view>

namespace dg::logs {

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_(max_line_bytes) {}
  /// Calls `line(text, cut)` for each complete line in `bytes` (plus what was left over).
  void feed(std::string_view bytes, const std::function<void(std::string&&, bool)>& line);
  /// The unterminated rest as a line, if any (a command that exited mid-line).
  void flush(const std::function<void(std::string&&, bool)>& line);
  void reset() { partial_.clear(), dropping_ = false; }

 private:
  size_t max_;
  std::string partial_;
  bool dropping_ = false;  ///< past the bound: skipping to the newline
};

/// Invalid UTF-8 sequences and control characters (tab aside) become U+FFFD.
std::string sanitize_utf8(std::string_view s);

}  // namespace dg::logs
