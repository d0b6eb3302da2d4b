#include "logs/line_splitter.h"

namespace dg::logs {

std::string sanitize_utf8(std::string_view s) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) out += kReplacement;
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = len && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (!ok) {
      out += kReplacement;
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

namespace {
// The bound in bytes, moved back to a character boundary.
size_t cut_at(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t k = max;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xc0) == 0x80) --k;
  return k;
}
}  // namespace

void LineSplitter::feed(std::string_view bytes, const std::function<void(std::string&&, bool)>& line) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    std::string_view piece = bytes.substr(0, nl);
    if (dropping_) {
      if (nl == std::string_view::npos) return;
      dropping_ = false;
      bytes.remove_prefix(nl + 1);
      continue;
    }
    if (nl == std::string_view::npos) {
      partial_.append(piece);
      if (partial_.size() > max_) {
        std::string_view p = partial_;
        line(sanitize_utf8(p.substr(0, cut_at(p, max_))), true);
        partial_.clear();
        dropping_ = true;
      }
      return;
    }
    std::string whole;
    std::string_view text = piece;
    if (!partial_.empty()) {
      partial_.append(piece);
      whole.swap(partial_);
      text = whole;
    }
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    bool cut = text.size() > max_;
    line(sanitize_utf8(text.substr(0, cut_at(text, max_))), cut);
    bytes.remove_prefix(nl + 1);
  }
}

void LineSplitter::flush(const std::function<void(std::string&&, bool)>& line) {
  if (!partial_.empty() && !dropping_) {
    std::string_view p = partial_;
    line(sanitize_utf8(p.substr(0, cut_at(p, max_))), p.size() > max_);
  }
  reset();
}

}  // namespace dg::logs
