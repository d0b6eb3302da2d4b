#include "flags/flagd_file.h"

#include "agent/config/reader.h"

#include <fmt/format.h>

#include <sys/stat.h>

#include <boost/json.hpp>
#include <functional>
#include <mutex>
#include <optional>

#include "agent/core/fs.h"
#include "agent/core/json_text.h"

namespace dg {
namespace {

namespace json = boost::json;

// What identifies the file's content without reading it: a writer that
// ignores our lock (an editor) changes at least one of these.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{}, ctime{};
  bool operator==(const FileIdentity& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

std::optional<FileIdentity> identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileIdentity{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

class FlagdFileProvider final : public FlagProvider {
 public:
  explicit FlagdFileProvider(FlagdFileSpec spec) : path_(std::move(spec.path)), lock_timeout_(spec.lock_timeout) {}

  Result<FlagSnapshot> read(const std::string& flag) override {
    auto doc = load(path_);
    if (!doc) return std::unexpected(doc.error());
    return snapshot(*doc, flag);
  }

  Result<FlagOutcome> apply(const FlagChange& change, const std::optional<FlagSnapshot>& expected) override {
    return locked_edit(change.flag, expected, false, [&](json::value& doc, FlagOutcome& out) {
      return edit_flag(doc, change, out);
    });
  }

  Result<FlagOutcome> preview(const FlagChange& change) override {
    auto doc = load(path_);
    if (!doc) return std::unexpected(doc.error());
    FlagOutcome out;
    out.previous = snapshot(*doc, change.flag);
    if (auto e = edit_flag(*doc, change, out); !e) return std::unexpected(e.error());
    out.current = snapshot(*doc, change.flag);
    out.detail = out.changed ? fmt::format("would write {}", path_) : fmt::format("{} already in the desired state", path_);
    return out;
  }

  Result<FlagOutcome> restore(const FlagSnapshot& snap, const std::optional<FlagSnapshot>& expected) override {
    auto parsed = parse_json(snap.state_json);
    if (!parsed) return fail(fmt::format("invalid snapshot of flag {}: {}", snap.flag, parsed.error().message));
    json::value prev = std::move(*parsed);
    return locked_edit(snap.flag, expected, true, [&](json::value& doc, FlagOutcome& out) -> Result<void> {
      json::object& flags = doc.as_object()["flags"].as_object();
      if (prev.is_null()) flags.erase(snap.flag);
      else flags[snap.flag] = prev;
      out.changed = !same_state(out.previous, snap);
      return {};
    });
  }

 private:
  using Edit = std::function<Result<void>(json::value& doc, FlagOutcome& out)>;

  // Read-modify-rename under the lock on `<file>.lock` (beside the file a
  // symlinked path points to, so every writer of that file meets there). The
  // lock file is a sibling, not the flag file itself: rename replaces the flag
  // file's inode, and a lock on the old inode would exclude nobody.
  // `done_first`: a flag already in the wanted state is unchanged rather than
  // a conflict (restore); apply compares first, so a stale caller re-reads.
  Result<FlagOutcome> locked_edit(const std::string& flag, const std::optional<FlagSnapshot>& expected,
                                  bool done_first, const Edit& edit) {
    std::lock_guard guard(mu_);
    auto real = fs::resolve_links(path_);
    if (!real) return std::unexpected(real.error());
    auto lock = fs::lock_exclusive(*real + ".lock", lock_timeout_);
    if (!lock) return std::unexpected(lock.error());
    for (int attempt = 1;; ++attempt) {
      auto seen = identity(*real);
      auto doc = load(*real);
      if (!doc) return std::unexpected(doc.error());
      FlagOutcome out;
      out.previous = snapshot(*doc, flag);
      bool mismatch = expected && !same_state(*expected, out.previous);
      if (mismatch && !done_first) return conflict(std::move(out));
      if (auto e = edit(*doc, out); !e) return std::unexpected(e.error());
      if (!out.changed) {
        out.current = out.previous;
        out.detail = fmt::format("{} already in the desired state", path_);
        return out;
      }
      if (mismatch) return conflict(std::move(out));
      // A writer that does not take the lock (an editor) may save the file
      // while we write and fsync our copy: replace_file looks again right
      // before its rename, and we start again from their content.
      auto w = fs::replace_file(*real, pretty_json(*doc),
                                {.still_current = [&] { return identity(*real) == seen; }});
      if (!w) return std::unexpected(w.error());
      if (!w->replaced) {
        if (attempt < 3) continue;
        return fail(fmt::format("{} keeps changing under us (a writer that does not take {}.lock); nothing written",
                                path_, *real));
      }
      // Past the rename the flag is flipped whatever else failed: report it as
      // changed so the caller journals the new state and keeps the undo.
      out.current = snapshot(*doc, flag);
      out.detail = w->durable ? fmt::format("wrote {}", path_) : fmt::format("wrote {}; warning: {}", path_, w->warning);
      return out;
    }
  }

  FlagOutcome conflict(FlagOutcome out) const {
    out.changed = false;
    out.conflict = true;
    out.current = out.previous;
    out.detail = fmt::format("flag {} in {} is no longer in the expected state: someone else changed it; "
                             "nothing written, their change kept",
                             out.previous.flag, path_);
    return out;
  }

  Result<void> edit_flag(json::value& doc, const FlagChange& change, FlagOutcome& out) {
    auto flag_obj = find_flag(doc, change.flag);
    if (!flag_obj) return std::unexpected(flag_obj.error());
    json::object& f = **flag_obj;
    const json::value* variants = f.if_contains("variants");
    if (variants == nullptr || !variants->is_object() || !variants->get_object().contains(change.variant))
      return fail(fmt::format("flag {} in {} has no variant \"{}\"", change.flag, path_, change.variant));
    if (const auto* state = f.if_contains("state"); state && state->is_string() && state->get_string() != "ENABLED")
      return fail(fmt::format("flag {} in {} is {}; deployguard does not re-enable flags", change.flag, path_,
                              std::string(state->get_string())));
    if (change.segment_jsonlogic.empty()) {
      // Everyone: the variant becomes the default and no rule may override it.
      bool already = f.contains("defaultVariant") && f["defaultVariant"] == json::value(change.variant) &&
                     (!f.contains("targeting") || is_empty_rule(f["targeting"]));
      if (!already) {
        f["defaultVariant"] = change.variant;
        f.erase("targeting");
      }
      out.changed = !already;
      return {};
    }
    auto parsed_segment = parse_json(change.segment_jsonlogic);
    if (!parsed_segment) return fail(fmt::format("invalid segment rule: {}", parsed_segment.error().message));
    json::value segment = std::move(*parsed_segment);
    const json::value* existing = f.if_contains("targeting");
    if (existing && is_our_rule(*existing, segment, change.variant)) {
      out.changed = false;
    } else {
      // Our rule goes first; whatever targeting there was still decides for
      // everyone outside the segment.
      json::value fallback = existing && !is_empty_rule(*existing) ? *existing : json::value(nullptr);
      f["targeting"] = json::object{{"if", json::array{segment, json::value(change.variant), fallback}}};
      out.changed = true;
    }
    return {};
  }

  Result<json::value> load(const std::string& real) {
    auto text = fs::read_file(real);
    if (!text) return std::unexpected(text.error());
    auto parsed = parse_json(*text);
    if (!parsed) return fail(fmt::format("{} is not valid JSON: {}", path_, parsed.error().message));
    json::value doc = std::move(*parsed);
    if (!doc.is_object() || !doc.as_object().contains("flags") || !doc.as_object()["flags"].is_object())
      return fail(fmt::format("{} is not a flagd flag-definition file (no \"flags\" object)", path_));
    return doc;
  }

  Result<json::object*> find_flag(json::value& doc, const std::string& flag) {
    json::object& flags = doc.as_object()["flags"].as_object();
    auto it = flags.find(flag);
    if (it == flags.end() || !it->value().is_object()) {
      std::string known;
      for (const auto& kv : flags) known += (known.empty() ? "" : ", ") + std::string(kv.key());
      return fail(fmt::format("flag {} not found in {} (flags there: {})", flag, path_, known));
    }
    return &it->value().as_object();
  }

  static FlagSnapshot snapshot(json::value& doc, const std::string& flag) {
    const json::object& flags = doc.as_object()["flags"].as_object();
    const json::value* v = flags.if_contains(flag);
    return FlagSnapshot{flag, v ? json::serialize(*v) : "null"};
  }

  static bool is_empty_rule(const json::value& v) {
    return v.is_null() || (v.is_object() && v.get_object().empty());
  }

  static bool is_our_rule(const json::value& t, const json::value& segment, const std::string& variant) {
    if (!t.is_object()) return false;
    const json::value* ifv = t.get_object().if_contains("if");
    if (ifv == nullptr || !ifv->is_array() || ifv->get_array().size() < 2) return false;
    const auto& a = ifv->get_array();
    return a[0] == segment && a[1] == json::value(variant);
  }

  std::string path_;
  std::chrono::milliseconds lock_timeout_;
  std::mutex mu_;  // one writer per instance; the file lock excludes the others
};

}  // namespace

Result<std::unique_ptr<FlagProvider>> make_flagd_file_provider(const FlagProviderSpec& spec) {
  return std::make_unique<FlagdFileProvider>(spec.kind.as<FlagdFileSpec>());
}

void register_flagd_file_provider(FlagProviderRegistry& registry) {
  registry.add("flagd-file", make_flagd_file_provider, [](ConfigReader& r, FlagProviderSpec& spec) {
    FlagdFileSpec f;
    if (auto v = r.path("path", true)) f.path = *v;
    spec.kind = std::move(f);
  });
}

}  // namespace dg
