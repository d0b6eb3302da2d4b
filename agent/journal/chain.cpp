#include "agent/journal/chain.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <cerrno>
#include <cstring>

#include "agent/core/json_text.h"
#include "agent/core/sha256.h"
#include "agent/journal/lines.h"

namespace dg::chain {

namespace json = boost::json;

namespace {
constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr std::string_view kCheckpointKind = "\"kind\":\"checkpoint\"";

// The descriptor of file i: the live one is held by `files`; a sealed one is
// opened here (a journal of years has more segments than descriptors).
Result<segments::Fd> open_file(const segments::Files& files, size_t i, int* fd) {
  if (files.is_live(i)) {
    *fd = files.live_fd.get();
    return segments::Fd();
  }
  int f = ::open(files.path(i).c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) return fail(fmt::format("cannot read {}: {}", files.path(i), std::strerror(errno)));
  *fd = f;
  return segments::Fd(f);
}

const json::object* checkpoint_data(const json::object& rec) {
  const auto* d = rec.if_contains("data");
  if (!d || !d->is_object()) return nullptr;
  const auto* sections = d->as_object().if_contains("sections");
  const auto* before = d->as_object().if_contains("records_before");
  if (!sections || !sections->is_object() || !before || !before->is_int64()) return nullptr;
  return &d->as_object();
}

bool is_checkpoint(const json::object& rec) {
  const auto* k = rec.if_contains("kind");
  return k && k->is_string() && k->as_string() == "checkpoint";
}

// Splits and parses record lines reusing its memory from one line to the next
// (a monotonic arena released per line, one parser), so a walk over a GiB
// costs no allocation per record. What read() returns lives until the next
// call: anything kept must be copied out with its own storage.
class RecordReader {
 public:
  RecordReader() : parser_(json::storage_ptr(), options()) {}
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  struct Line {
    std::string_view body;  ///< what the hash covers
    std::string_view hash;
    const json::object* record = nullptr;  ///< null: the body is not a JSON object
  };
  /// nullopt: the line has no hash field at its end.
  std::optional<Line> read(std::string_view line) {
    value_.reset();
    arena_.release();
    auto pos = line.rfind(kHashKey);
    if (pos == std::string_view::npos) return std::nullopt;
    std::string_view tail = line.substr(pos + kHashKey.size());
    if (tail.size() != 64 + 2 || !tail.ends_with("\"}")) return std::nullopt;
    body_.assign(line.data(), pos);
    body_ += '}';
    Line out{body_, tail.substr(0, 64), nullptr};
    boost::system::error_code ec;
    parser_.reset(&arena_);
    parser_.write(body_.data(), body_.size(), ec);
    if (!ec) value_.emplace(parser_.release());
    if (value_ && value_->is_object()) out.record = &value_->as_object();
    return out;
  }

 private:
  static json::parse_options options() {
    json::parse_options o;
    o.max_depth = 512;  // as parse_json: JsonLogic rules nest deeply
    return o;
  }
  std::string body_;
  unsigned char initial_[16 << 10];
  json::monotonic_resource arena_{initial_, sizeof initial_};
  json::parser parser_;
  std::optional<json::value> value_;
};

// A copy that owns its memory (a plain copy would share the reader's arena).
json::object own(const json::object& o) { return json::object(o, json::storage_ptr()); }
}  // namespace

std::optional<Split> split_line(std::string_view line) {
  auto pos = line.rfind(kHashKey);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view tail = line.substr(pos + kHashKey.size());
  if (tail.size() != 64 + 2 || !tail.ends_with("\"}")) return std::nullopt;
  return Split{std::string(line.substr(0, pos)) + "}", std::string(tail.substr(0, 64))};
}

std::string seal_line(std::string_view body, std::string& hash) {
  hash = sha256_hex(body);
  return std::string(body.substr(0, body.size() - 1)) + std::string(kHashKey) + hash + "\"}\n";
}

Result<std::optional<Found>> find_last_checkpoint(const segments::Files& files) {
  for (size_t i = files.count(); i-- > 0;) {
    int fd = -1;
    if (files.is_live(i) && files.live_fd.get() < 0) continue;  // no live file: nothing in it
    auto held = open_file(files, i, &fd);
    if (!held) return std::unexpected(held.error());
    off_t size = ::lseek(fd, 0, SEEK_END);
    if (size < 0) return fail(fmt::format("cannot read {}: {}", files.path(i), std::strerror(errno)));
    std::optional<Found> found;
    RecordReader reader;
    auto r = lines::backward(fd, size, files.path(i), [&](std::string_view line, off_t offset) {
      if (!::memmem(line.data(), line.size(), kCheckpointKind.data(), kCheckpointKind.size())) return true;
      // Only a record that parses as a checkpoint: a damaged one is passed
      // over, and the walk from an earlier checkpoint meets it.
      auto read = reader.read(line);
      if (!read || !read->record || !is_checkpoint(*read->record)) return true;
      const auto& rec = *read->record;
      const auto* seq = rec.if_contains("seq");
      const auto* prev = rec.if_contains("prev");
      const auto* data = checkpoint_data(rec);
      if (!seq || !seq->is_int64() || seq->as_int64() < 1 || !prev || !prev->is_string() || !data) return true;
      found = Found{Start{i, offset, seq->as_int64() - 1, std::string(prev->as_string())},
                    JournalCheckpoint{seq->as_int64(), own(data->at("sections").as_object())}};
      return false;
    });
    if (!r) return std::unexpected(r.error());
    if (found) return found;
  }
  return std::optional<Found>();
}

Walk walk(const segments::Files& files, const Start& start, const std::optional<JournalHead>& expected,
          bool keep_checkpoint) {
  Walk w;
  JournalCheck& check = w.check;
  check.records = start.records;
  std::string prev = start.prev;
  std::optional<std::string> hash_at_expected;
  if (expected && expected->seq == 0) hash_at_expected = kJournalGenesis;

  std::string file;       // the one being walked
  long long line_no = 0;  // in it; 0 when the walk started inside it (lines before unknown)
  off_t line_at = 0;
  auto broken = [&](std::string msg) {
    check.ok = false;
    check.bad_segment = file;
    check.bad_line = line_no;
    check.message = line_no > 0 ? fmt::format("{}:{}: {}", file, line_no, msg)
                                : fmt::format("{} (byte {}): {}", file, line_at, msg);
    return false;
  };
  bool first_of_file = false;
  RecordReader reader;
  auto on_line = [&](std::string_view line, off_t offset) {
    if (line_no > 0 || offset == 0) ++line_no;
    line_at = offset;
    bool first = first_of_file;
    first_of_file = false;
    auto read = reader.read(line);
    if (!read) return broken("record has no hash field at its end");
    if (!read->record) return broken("record is not a JSON object");
    const auto& o = *read->record;
    const auto* seq = o.if_contains("seq");
    long long want = check.records + 1;
    // The first record of a file after the first links across the boundary:
    // a break there most often means a segment went missing.
    const char* hint = first && offset == 0 && want > 1 ? "; the segment before it may be missing or cut short" : "";
    if (!seq || !seq->is_int64() || seq->as_int64() != want)
      return broken(fmt::format("seq is not {} (records were removed, reordered or inserted{})", want, hint));
    const auto* p = o.if_contains("prev");
    if (!p || !p->is_string() || p->as_string() != prev)
      return broken(fmt::format("record {} does not link to the previous record's hash{}", want, hint));
    if (sha256_hex(read->body) != read->hash) return broken(fmt::format("record {} was modified (hash mismatch)", want));
    if (is_checkpoint(o)) {
      const auto* data = checkpoint_data(o);
      if (!data || data->at("records_before").as_int64() != want - 1)
        return broken(fmt::format("checkpoint record {} does not say how many records precede it", want));
      if (keep_checkpoint) w.last_checkpoint = JournalCheckpoint{want, own(data->at("sections").as_object())};
    }
    prev = read->hash;
    ++check.records;
    if (expected && expected->seq == check.records) hash_at_expected = std::string(read->hash);
    return true;
  };

  bool from_genesis = start.file == 0 && start.offset == 0 && start.records == 0;
  long long last_number = 0;
  bool any_file = false;
  for (size_t i = start.file; i < files.count() && check.ok; ++i) {
    file = files.path(i);
    line_no = 0;
    line_at = 0;
    first_of_file = i != start.file || start.offset == 0;
    if (!files.is_live(i)) {
      long long number = files.sealed[i].number;
      // From the start, segments count from 1; from a checkpoint, on from its own.
      if ((i > start.file || from_genesis) && number != last_number + 1) {
        file = segments::sealed_path(files.live, last_number + 1);
        broken(fmt::format("segment {} is missing (the chain continues in {})", file, files.path(i)));
        break;
      }
      last_number = number;
    } else if (files.live_fd.get() < 0) {
      break;  // a rotation died before the new live file existed: nothing follows
    }
    any_file = true;
    ++check.segments;
    int fd = -1;
    auto held = open_file(files, i, &fd);
    if (!held) {
      check.ok = false;
      check.read_error = true;
      check.bad_segment = file;
      check.message = held.error().message;
      break;
    }
    bool live = files.is_live(i);
    off_t whole = i == start.file ? start.offset : 0;
    auto on_torn = [&](std::string_view rest, off_t offset) {
      if (!check.ok) return;
      if (!live) {
        if (line_no > 0 || offset == 0) ++line_no;
        line_at = offset;
        broken("a sealed segment ends in a partial line (it was cut or appended to after it was sealed)");
        return;
      }
      check.torn = TornTail{check.records, rest.size(), sha256_hex(rest)};
    };
    auto on_whole = [&](std::string_view line, off_t offset) {
      if (!on_line(line, offset)) return false;
      whole = offset + static_cast<off_t>(line.size()) + 1;
      return true;
    };
    if (auto r = lines::forward(fd, i == start.file ? start.offset : 0, file, on_whole, on_torn); !r) {
      check.ok = false;
      check.read_error = true;
      check.bad_segment = file;
      check.message = r.error().message;
    }
    if (live) w.live_end = whole;
  }
  if (!any_file && files.sealed.empty() && check.ok) {
    check.ok = false;
    check.read_error = true;
    check.bad_segment = files.live;
    check.message = fmt::format("cannot read {}: {}", files.live, std::strerror(ENOENT));
  }

  check.head = {check.records, prev};
  if (check.ok) {
    std::string where = check.segments > 1 ? fmt::format(" in {} files", check.segments) : "";
    check.message =
        fmt::format("{}: {} record(s){}, chain intact, head {}", files.live, check.records, where, check.head.str());
    if (check.torn)
      check.message += fmt::format("; a torn final line follows ({} byte(s), sha256 {})", check.torn->bytes,
                                   check.torn->sha256);
  }
  if (expected) {
    if (hash_at_expected) {
      check.head_ok = *hash_at_expected == expected->hash;
      check.head_message =
          *check.head_ok ? fmt::format("record {} matches the expected head ({} record(s) after it)", expected->seq,
                                       check.records - expected->seq)
                         : fmt::format("REWRITTEN: record {} has hash {}, not the expected {}", expected->seq,
                                       *hash_at_expected, expected->hash);
    } else {
      check.head_ok = false;
      check.head_message = check.ok ? fmt::format("TRUNCATED: the journal ends at seq {}, before the expected head {}",
                                                  check.records, expected->seq)
                                    : fmt::format("cannot find record {}: the chain breaks before it, in {}",
                                                  expected->seq,
                                                  check.bad_line > 0
                                                      ? fmt::format("{}:{}", check.bad_segment, check.bad_line)
                                                      : check.bad_segment);
    }
  }
  return w;
}

void stream(const segments::Files& files, size_t file, off_t offset,
            const std::function<bool(json::object&)>& fn) {
  bool go = true;
  for (size_t i = file; i < files.count() && go; ++i) {
    if (files.is_live(i) && files.live_fd.get() < 0) break;
    int fd = -1;
    auto held = open_file(files, i, &fd);
    if (!held) continue;  // what can be read is read: verify_journal reports the rest
    (void)lines::forward(
        fd, i == file ? offset : 0, files.path(i),
        [&](std::string_view line, off_t) {
          auto split = split_line(line);
          if (!split) return true;
          auto v = parse_json(split->body);
          if (!v || !v->is_object()) return true;
          auto& o = v->as_object();
          o["hash"] = split->hash;
          return go = fn(o);
        },
        [](std::string_view, off_t) {});
  }
}

}  // namespace dg::chain
