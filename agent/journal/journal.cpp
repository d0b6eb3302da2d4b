#include "agent/journal/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "agent/core/fs.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"

namespace dg {
namespace {

constexpr std::string_view kHashKey = ",\"hash\":\"";

// A line is `<body without its closing brace>,"hash":"<64 hex>"}`; the hash
// covers the body exactly as written.
struct Split {
  std::string body;
  std::string hash;
};

std::optional<Split> split_line(std::string_view line) {
  auto pos = line.rfind(kHashKey);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view tail = line.substr(pos + kHashKey.size());
  if (tail.size() != 64 + 2 || !tail.ends_with("\"}")) return std::nullopt;
  return Split{std::string(line.substr(0, pos)) + "}", std::string(tail.substr(0, 64))};
}

}  // namespace

struct Journal::Lock {
  std::mutex mu;
};

Journal::Journal(std::string path, int fd, const Clock& clock, long long seq, std::string prev)
    : path_(std::move(path)), fd_(fd), clock_(clock), seq_(seq), prev_(std::move(prev)), lock_(std::make_shared<Lock>()) {}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, const Clock& clock) {
  std::error_code dir_ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, dir_ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fail(fmt::format("cannot open journal {}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return fail(fmt::format("journal {} is in use by another deployguard process", path));
  }
  auto content = fs::read_file(path);
  if (!content) {
    ::close(fd);
    return std::unexpected(content.error());
  }
  // A final line without its newline was never acknowledged (the process died
  // inside write); drop it so the chain continues from the last whole record.
  std::string_view all(*content);
  if (!all.empty() && all.back() != '\n') {
    auto cut = all.rfind('\n');
    size_t keep = cut == std::string_view::npos ? 0 : cut + 1;
    if (::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
      ::close(fd);
      return fail(fmt::format("cannot drop the torn last line of {}: {}", path, std::strerror(errno)));
    }
    all = all.substr(0, keep);
  }
  long long seq = 0;
  std::string prev = kJournalGenesis;
  if (!all.empty()) {
    std::string_view body = all.substr(0, all.size() - 1);
    auto start = body.rfind('\n');
    std::string_view last = start == std::string_view::npos ? body : body.substr(start + 1);
    auto split = split_line(last);
    auto parsed = split ? parse_json(split->body) : Result<boost::json::value>(fail("no hash"));
    boost::json::value v = parsed ? std::move(*parsed) : boost::json::value();
    if (!parsed || !v.is_object() || !v.as_object().contains("seq") || !v.as_object()["seq"].is_int64()) {
      ::close(fd);
      return fail(fmt::format("the last record of journal {} is damaged; run `deployguard journal verify {}`", path,
                              path));
    }
    seq = v.as_object()["seq"].as_int64();
    prev = split->hash;
  }
  return std::unique_ptr<Journal>(new Journal(path, fd, clock, seq, std::move(prev)));
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::set_context(JournalContext ctx) {
  std::lock_guard lock(lock_->mu);
  ctx_ = std::move(ctx);
}

Result<long long> Journal::append(const std::string& kind, boost::json::object fields) {
  std::lock_guard lock(lock_->mu);
  boost::json::object rec;
  long long seq = seq_ + 1;
  rec["seq"] = seq;
  rec["time"] = text::rfc3339(clock_.now());
  rec["kind"] = kind;
  rec["service"] = ctx_.service;
  rec["environment"] = ctx_.environment;
  rec["release"] = ctx_.release;
  rec["run"] = ctx_.run;
  for (auto& kv : fields) rec[kv.key()] = std::move(kv.value());
  rec["prev"] = prev_;
  // Redacted as a value: the record's own fields (and every number) stay as
  // written, so a short secret cannot garble the time or break the chain.
  boost::json::value redacted(std::move(rec));
  secrets::redact_json(redacted, {"seq", "time", "kind", "prev", "hash"});
  std::string body = boost::json::serialize(redacted);
  std::string hash = sha256_hex(body);
  std::string line = body.substr(0, body.size() - 1) + std::string(kHashKey) + hash + "\"}\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(fmt::format("cannot append to journal {}: {}", path_, std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) return fail(fmt::format("cannot fsync journal {}: {}", path_, std::strerror(errno)));
  seq_ = seq;
  prev_ = hash;
  return seq;
}

JournalCheck verify_journal(const std::string& path) {
  JournalCheck check;
  auto content = fs::read_file(path);
  if (!content) return {false, 0, 0, content.error().message};
  std::string_view all(*content);
  std::string prev = kJournalGenesis;
  long long line_no = 0;
  size_t pos = 0;
  auto broken = [&](std::string msg) {
    check.ok = false;
    check.bad_line = line_no;
    check.message = fmt::format("{}:{}: {}", path, line_no, msg);
    return check;
  };
  while (pos < all.size()) {
    ++line_no;
    auto nl = all.find('\n', pos);
    if (nl == std::string_view::npos) return broken("incomplete final record (no newline)");
    std::string_view line = all.substr(pos, nl - pos);
    pos = nl + 1;
    auto split = split_line(line);
    if (!split) return broken("record has no hash field at its end");
    auto parsed = parse_json(split->body);
    if (!parsed || !parsed->is_object()) return broken("record is not a JSON object");
    const boost::json::value& v = *parsed;
    const auto& o = v.as_object();
    const auto* seq = o.if_contains("seq");
    if (!seq || !seq->is_int64() || seq->as_int64() != check.records + 1)
      return broken(fmt::format("seq is not {} (records were removed, reordered or inserted)", check.records + 1));
    const auto* p = o.if_contains("prev");
    if (!p || !p->is_string() || p->as_string() != prev)
      return broken(fmt::format("record {} does not link to the previous record's hash", check.records + 1));
    if (sha256_hex(split->body) != split->hash)
      return broken(fmt::format("record {} was modified (hash mismatch)", check.records + 1));
    prev = split->hash;
    ++check.records;
  }
  check.message = fmt::format("{}: {} record(s), chain intact", path, check.records);
  return check;
}

std::vector<std::string> orphaned_intents(const std::string& path) {
  auto content = fs::read_file(path);
  if (!content) return {};
  std::map<std::string, std::string> open;  // run|policy|step|action -> description
  std::string_view all(*content);
  size_t pos = 0;
  while (pos < all.size()) {
    auto nl = all.find('\n', pos);
    if (nl == std::string_view::npos) break;
    auto split = split_line(all.substr(pos, nl - pos));
    pos = nl + 1;
    if (!split) continue;
    auto v = parse_json(split->body);
    if (!v || !v->is_object()) continue;
    const auto& o = v->as_object();
    auto str = [&](const boost::json::object& obj, const char* k) {
      const auto* x = obj.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : x ? boost::json::serialize(*x) : std::string();
    };
    std::string kind = str(o, "kind");
    if (kind != "action_intent" && kind != "action_outcome") continue;
    const auto* data = o.if_contains("data");
    if (!data || !data->is_object()) continue;
    const auto& d = data->as_object();
    std::string key = str(o, "run") + "|" + str(o, "policy") + "|" + str(d, "step") + "|" + str(d, "action");
    if (kind == "action_intent")
      open[key] = fmt::format("run {} (release {}, {}): policy {} step {} {} {}", str(o, "run"), str(o, "release"),
                              str(o, "time"), str(o, "policy"), str(d, "step"), str(d, "action"),
                              d.contains("flag") ? str(d, "flag") : str(d, "rollback"));
    else
      open.erase(key);
  }
  std::vector<std::string> out;
  for (auto& [k, v] : open) out.push_back(v);
  return out;
}

}  // namespace dg
