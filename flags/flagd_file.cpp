#include "flags/flagd_file.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <mutex>

#include "agent/core/fs.h"
#include "agent/core/json_text.h"

namespace dg {
namespace {

namespace json = boost::json;

class FlagdFileProvider final : public FlagProvider {
 public:
  explicit FlagdFileProvider(std::string path) : path_(std::move(path)) {}

  Result<FlagSnapshot> read(const std::string& flag) override {
    std::lock_guard lock(mu_);
    auto doc = load();
    if (!doc) return std::unexpected(doc.error());
    return snapshot(*doc, flag);
  }

  Result<FlagOutcome> apply(const FlagChange& change) override { return change_flag(change, true); }
  Result<FlagOutcome> preview(const FlagChange& change) override { return change_flag(change, false); }

 private:
  Result<FlagOutcome> change_flag(const FlagChange& change, bool write) {
    std::lock_guard lock(mu_);
    auto doc = load();
    if (!doc) return std::unexpected(doc.error());
    auto flag_obj = find_flag(*doc, change.flag);
    if (!flag_obj) return std::unexpected(flag_obj.error());
    json::object& f = **flag_obj;
    const json::value* variants = f.if_contains("variants");
    if (variants == nullptr || !variants->is_object() || !variants->get_object().contains(change.variant))
      return fail(fmt::format("flag {} in {} has no variant \"{}\"", change.flag, path_, change.variant));
    if (const auto* state = f.if_contains("state"); state && state->is_string() && state->get_string() != "ENABLED")
      return fail(fmt::format("flag {} in {} is {}; deployguard does not re-enable flags", change.flag, path_,
                              std::string(state->get_string())));

    FlagOutcome out;
    out.previous = snapshot(*doc, change.flag);
    if (change.segment_jsonlogic.empty()) {
      // Everyone: the variant becomes the default and no rule may override it.
      bool already = f.contains("defaultVariant") && f["defaultVariant"] == json::value(change.variant) &&
                     (!f.contains("targeting") || is_empty_rule(f["targeting"]));
      if (!already) {
        f["defaultVariant"] = change.variant;
        f.erase("targeting");
      }
      out.changed = !already;
    } else {
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
    }
    if (out.changed && write) {
      if (auto w = fs::write_file_atomic(path_, pretty_json(*doc)); !w) return std::unexpected(w.error());
    }
    out.current = snapshot(*doc, change.flag);
    out.detail = !out.changed ? fmt::format("{} already in the desired state", path_)
                 : write      ? fmt::format("wrote {}", path_)
                              : fmt::format("would write {}", path_);
    return out;
  }

 public:

  Result<FlagOutcome> restore(const FlagSnapshot& snap) override {
    std::lock_guard lock(mu_);
    auto doc = load();
    if (!doc) return std::unexpected(doc.error());
    FlagOutcome out;
    out.previous = snapshot(*doc, snap.flag);
    auto parsed = parse_json(snap.state_json);
    if (!parsed) return fail(fmt::format("invalid snapshot of flag {}: {}", snap.flag, parsed.error().message));
    json::value prev = std::move(*parsed);
    json::object& flags = (*doc).as_object()["flags"].as_object();
    if (prev.is_null()) flags.erase(snap.flag);
    else flags[snap.flag] = prev;
    out.changed = out.previous.state_json != snap.state_json;
    if (out.changed) {
      if (auto w = fs::write_file_atomic(path_, pretty_json(*doc)); !w) return std::unexpected(w.error());
    }
    out.current = snapshot(*doc, snap.flag);
    out.detail = out.changed ? fmt::format("restored flag {} in {}", snap.flag, path_) : "nothing to restore";
    return out;
  }

 private:
  Result<json::value> load() {
    auto text = fs::read_file(path_);
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
  std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<FlagProvider>> make_flagd_file_provider(const FlagProviderSpec& spec) {
  return std::make_unique<FlagdFileProvider>(std::get<FlagdFileSpec>(spec.kind).path);
}

}  // namespace dg
