#pragma once
/// Reading a journal file line by line, forward or backward (internal to
/// agent/journal). Both read through a buffer that grows only to the longest
/// line: a journal of months costs a record's worth of memory to walk, not
/// the file's.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "agent/core/error.h"

namespace dg::lines {

inline constexpr size_t kChunk = 1 << 20;

/// Calls fn(line, offset) for each whole line of `fd` from `offset` on, then
/// torn(rest, offset) for a final line without its newline (if any). fn
/// returns false to stop early. `name` names the file in errors.
template <class Line, class Torn>
Result<void> forward(int fd, off_t offset, const std::string& name, Line fn, Torn torn) {
  std::string buf;
  size_t begin = 0;   // start of the unconsumed part of buf
  off_t base = offset;  // file offset of buf[0]
  off_t at = offset;    // where the next read starts
  for (;;) {
    if (begin > 0 && begin * 2 >= buf.size()) {
      buf.erase(0, begin);
      base += static_cast<off_t>(begin);
      begin = 0;
    }
    size_t old = buf.size();
    buf.resize(old + kChunk);
    ssize_t n = ::pread(fd, buf.data() + old, kChunk, at);
    if (n < 0 && errno == EINTR) {
      buf.resize(old);
      continue;
    }
    if (n < 0) return fail(fmt::format("cannot read {}: {}", name, std::strerror(errno)));
    buf.resize(old + static_cast<size_t>(n));
    at += n;
    size_t search = old;  // a newline can only be in what was just read
    for (size_t nl; (nl = buf.find('\n', std::max(search, begin))) != std::string::npos;) {
      if (!fn(std::string_view(buf).substr(begin, nl - begin), base + static_cast<off_t>(begin))) return {};
      begin = nl + 1;
      search = begin;
    }
    if (n == 0) break;
  }
  if (begin < buf.size()) torn(std::string_view(buf).substr(begin), base + static_cast<off_t>(begin));
  return {};
}

/// The last '\n' in buf[0, end), or npos (memrchr: std::string::rfind goes byte by byte).
inline size_t last_newline(const std::string& buf, size_t end) {
  const void* p = ::memrchr(buf.data(), '\n', end);
  return p ? static_cast<size_t>(static_cast<const char*>(p) - buf.data()) : std::string::npos;
}

/// Calls fn(line, offset) for each whole line of the first `size` bytes of
/// `fd`, the last line first; bytes after the last newline (a torn line) are
/// not a line. fn returns false to stop early.
template <class Line>
Result<void> backward(int fd, off_t size, const std::string& name, Line fn) {
  std::string buf;  // bytes [pos, pos + buf.size()) not handed out yet
  off_t pos = size;
  bool aligned = false;  // buf ends just after a newline
  for (;;) {
    while (aligned && !buf.empty()) {
      size_t nl = last_newline(buf, buf.size() - 1);  // before the line's own newline
      if (nl == std::string::npos && pos > 0) break;  // the line starts in what is not read yet
      size_t start = nl == std::string::npos ? 0 : nl + 1;
      if (!fn(std::string_view(buf).substr(start, buf.size() - 1 - start), pos + static_cast<off_t>(start)))
        return {};
      buf.resize(start);
    }
    if (pos == 0) return {};
    size_t want = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(kChunk), pos));
    std::string chunk(want, '\0');
    off_t from = pos - static_cast<off_t>(want);
    for (size_t got = 0; got < want;) {
      ssize_t n = ::pread(fd, chunk.data() + got, want - got, from + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(fmt::format("cannot read {}: {}", name, std::strerror(errno)));
      if (n == 0) return fail(fmt::format("cannot read {}: it shrank while being read", name));
      got += static_cast<size_t>(n);
    }
    pos -= static_cast<off_t>(want);
    buf.insert(0, chunk);  // buf held at most one partial line
    if (!aligned) {
      size_t nl = last_newline(buf, buf.size());
      if (nl != std::string::npos) {
        buf.resize(nl + 1);
        aligned = true;
      } else if (pos == 0) {
        return {};  // no whole line at all
      }
    }
  }
}

}  // namespace dg::lines
