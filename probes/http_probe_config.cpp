// The http probe's config: its keys, decoded into HttpProbeSpec, and its
// registration beside the factory.
#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "agent/config/http_keys.h"
#include "probes/http_probe.h"

namespace dg {
namespace {

void decode_expect(ConfigReader& r, HttpExpect& ex) {
  if (const toml::node* n = r.node("status")) {
    std::vector<StatusRange> ranges;
    auto one = [&](const toml::node& e, const std::string& path) {
      if (e.is_integer()) {
        long long s = e.as_integer()->get();
        if (s < 100 || s > 599) r.error_at(&e, path, fmt::format("HTTP status {} is out of range (100 to 599)", s));
        ranges.push_back({static_cast<int>(s), static_cast<int>(s)});
        return;
      }
      if (e.is_string()) {
        static const std::regex range_re(R"((\d{3})\s*-\s*(\d{3}))"), class_re(R"(([1-5])xx)"), one_re(R"(\d{3})");
        std::smatch m;
        std::string s = e.as_string()->get();
        if (std::regex_match(s, one_re)) {
          int v = std::stoi(s);
          if (v >= 100 && v <= 599) {
            ranges.push_back({v, v});
            return;
          }
        } else if (std::regex_match(s, m, range_re)) {
          int lo = std::stoi(m[1]), hi = std::stoi(m[2]);
          if (lo <= hi && lo >= 100 && hi <= 599) {
            ranges.push_back({lo, hi});
            return;
          }
        } else if (std::regex_match(s, m, class_re)) {
          int c = std::stoi(m[1]);
          ranges.push_back({c * 100, c * 100 + 99});
          return;
        }
        r.error_at(&e, path, fmt::format("invalid status range \"{}\" (write 200, \"200-299\" or \"2xx\")", s));
        return;
      }
      r.error_at(&e, path, fmt::format("expected a status code or range, found {}", toml_type_name(e)));
    };
    if (n->is_array()) {
      const auto& arr = *n->as_array();
      if (arr.empty()) r.error_at(n, r.key_path("status"), "empty status list");
      for (size_t i = 0; i < arr.size(); ++i) one(arr[i], fmt::format("{}[{}]", r.key_path("status"), i));
    } else {
      one(*n, r.key_path("status"));
    }
    ex.status = ranges;
  }
  if (auto v = r.strings("body_contains")) ex.body_contains = *v;
  if (auto v = r.strings("body_not_contains")) ex.body_not_contains = *v;
  if (auto v = r.str("body_regex")) {
    auto re = Regex::compile(*v);
    if (re) {
      ex.body_regex = *re;
      ex.body_regex_text = *v;
    } else {
      r.error_at(r.raw().get("body_regex"), r.key_path("body_regex"), fmt::format("invalid regex /{}/: {}", *v, re.error().message));
    }
  }
  if (auto v = r.strings("header_present")) {
    for (auto& h : *v) {
      std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
      ex.headers_present.push_back(h);
    }
  }
  for (auto [k, v] : r.string_map("header_equals", false)) {
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    ex.headers_equal.emplace_back(k, v);
  }
  if (const toml::table* j = r.table("json")) {
    for (auto&& [k, v] : *j) {
      std::string pointer(k.str());
      std::string path = r.key_path("json") + ".\"" + pointer + "\"";
      if (!pointer.empty() && pointer.front() != '/') {
        r.error_at(&v, path, fmt::format("JSON pointer must start with '/' (e.g. \"/{}\")", pointer));
        continue;
      }
      ex.json_equals.emplace_back(pointer, toml_to_json(v));
    }
  }
  if (auto v = r.duration("max_latency")) ex.max_latency = *v;
}

void decode_http_probe(ConfigReader& r, ProbeSpec& spec) {
  HttpProbeSpec h;
  if (auto v = r.url("url", "an http:// or https:// URL", "http://127.0.0.1:8080/path")) h.url = *v;
  if (auto v = r.str("method")) {
    static const std::vector<std::string> methods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    if (std::find(methods.begin(), methods.end(), *v) == methods.end())
      r.error_at(r.raw().get("method"), r.key_path("method"),
                 fmt::format("unknown HTTP method '{}' (known: {})", *v, join_quoted(methods)));
    h.method = *v;
  }
  h.headers = r.string_map("headers", true);
  if (auto v = r.secret_str("body")) h.body = *v;
  if (auto v = r.boolean("tls_verify")) h.verify_tls = *v;
  decode_http_tls(r, h.tls);
  if (auto v = r.boolean("follow_redirects")) h.follow_redirects = *v;
  if (auto v = r.boolean("keepalive")) h.keepalive = *v;  // watch: reuse one connection (default: a new one per run)
  r.with_table("expect", [&](ConfigReader& er) { decode_expect(er, h.expect); });
  spec.kind = std::move(h);
}

}  // namespace

void register_http_probe(ProbeRegistry& registry) {
  registry.add("http", [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> { return make_http_probe(spec); },
               decode_http_probe);
}

}  // namespace dg
