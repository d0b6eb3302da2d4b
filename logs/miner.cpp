#include "logs/miner.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_map>

#include <boost/json.hpp>

namespace dg::logs {
namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr size_t kMergesKept = 8;

struct Node {
  uint32_t parent = kNone;
  uint64_t key = 0;
  std::unordered_map<uint64_t, uint32_t> kids;
  std::vector<uint32_t> clusters;  ///< at a leaf
};

struct Cluster {
  Signature sig;
  std::vector<uint64_t> hashes;  ///< of sig.tokens
  uint32_t wildcards = 0;
  uint32_t leaf = kNone;
  uint32_t prev = kNone, next = kNone;  ///< LRU: prev is more recent
  bool live = false;
};

// Drain sends tokens with digits down the <*> branch: after masking, a
// digit's place is a <*> inside the token.
bool has_digit(std::string_view t) {
  for (char c : t)
    if (c >= '0' && c <= '9') return true;
  return false;
}

bool variable_token(std::string_view t) {
  for (char c : t)
    if (c >= '0' && c <= '9') return true;
  return t.find(kWildcard) != std::string_view::npos;
}

std::string join(const std::vector<std::string>& t) {
  std::string s;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i) s += ' ';
    s += t[i];
  }
  return s;
}

}  // namespace

std::string Signature::text() const { return join(tokens); }

std::string id_text(SignatureId id) { return fmt::format("{:016x}", id); }

std::optional<SignatureId> parse_id(std::string_view t) {
  SignatureId id = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), id, 16);
  if (ec != std::errc{} || p != t.data() + t.size()) return std::nullopt;
  return id;
}

struct Miner::Impl {
  MinerOptions o;
  Masker masker;
  std::vector<Node> nodes;  ///< [0] is the root
  std::vector<uint32_t> free_nodes;
  std::vector<Cluster> clusters;
  std::vector<uint32_t> free_clusters;
  std::unordered_map<SignatureId, uint32_t> by_id;
  uint32_t head = kNone, tail = kNone;  ///< most and least recently used
  size_t live = 0;
  uint64_t other = 0, evicted = 0;
  // Scratch reused across lines: no allocation per line in the steady state.
  std::string buf;
  std::vector<Token> tokens;
  std::vector<std::string_view> views;
  std::vector<char> partly_variable;  ///< per token: holds a <*> (or a digit)
  std::vector<uint64_t> hashes;

  uint32_t new_node(uint32_t parent, uint64_t key) {
    uint32_t i;
    if (!free_nodes.empty()) {
      i = free_nodes.back();
      free_nodes.pop_back();
      nodes[i] = Node{};
    } else {
      i = static_cast<uint32_t>(nodes.size());
      nodes.emplace_back();
    }
    nodes[i].parent = parent;
    nodes[i].key = key;
    nodes[parent].kids.emplace(key, i);
    return i;
  }

  // The leaf for a token sequence; kNone when absent and !create.
  uint32_t route(const std::vector<std::string_view>& t, const std::vector<uint64_t>& h, const std::vector<char>& vars, bool create) {
    uint32_t n = 0;
    uint64_t len_key = t.size();
    auto it = nodes[0].kids.find(len_key);
    if (it == nodes[0].kids.end()) {
      if (!create) return kNone;
      n = new_node(0, len_key);
    } else {
      n = it->second;
    }
    // As the reference implementations count it: the root, the length and
    // the leaf are layers too, so depth 4 routes by the first token.
    size_t prefix = o.depth > 3 ? static_cast<size_t>(o.depth - 3) : 0;
    for (size_t d = 0; d < prefix && d < t.size(); ++d) {
      bool variable = o.drain_compat ? has_digit(t[d]) : (h[d] == kWildcardHash || vars[d]);
      uint64_t key = variable ? kWildcardHash : h[d];
      auto& kids = nodes[n].kids;
      auto k = kids.find(key);
      if (k != kids.end()) {
        n = k->second;
        continue;
      }
      auto w = kids.find(kWildcardHash);
      if (!create) {
        if (w == kids.end()) return kNone;
        n = w->second;
        continue;
      }
      // Drain's rule: the last free child is kept for the <*> branch.
      size_t room = static_cast<size_t>(std::max(1, o.max_children));
      if (key != kWildcardHash && (w != kids.end() ? kids.size() >= room : kids.size() + 1 >= room)) key = kWildcardHash;
      if (key == kWildcardHash && w != kids.end()) {
        n = w->second;
        continue;
      }
      n = new_node(n, key);
    }
    return n;
  }

  void unlink(uint32_t c) {
    Cluster& x = clusters[c];
    if (x.prev != kNone) clusters[x.prev].next = x.next;
    else head = x.next;
    if (x.next != kNone) clusters[x.next].prev = x.prev;
    else tail = x.prev;
    x.prev = x.next = kNone;
  }
  void push_front(uint32_t c) {
    Cluster& x = clusters[c];
    x.prev = kNone;
    x.next = head;
    if (head != kNone) clusters[head].prev = c;
    head = c;
    if (tail == kNone) tail = c;
  }
  void touch(uint32_t c) {
    if (head == c) return;
    unlink(c);
    push_front(c);
  }

  void evict(uint32_t c) {
    Cluster& x = clusters[c];
    other += x.sig.count;
    ++evicted;
    unlink(c);
    by_id.erase(x.sig.id);
    uint32_t n = x.leaf;
    auto& v = nodes[n].clusters;
    v.erase(std::remove(v.begin(), v.end(), c), v.end());
    // Prune the branch it leaves empty.
    while (n != 0 && nodes[n].clusters.empty() && nodes[n].kids.empty()) {
      uint32_t p = nodes[n].parent;
      nodes[p].kids.erase(nodes[n].key);
      free_nodes.push_back(n);
      n = p;
    }
    x = Cluster{};
    free_clusters.push_back(c);
    --live;
  }

  uint32_t create(std::vector<std::string> first, std::vector<std::string> now, uint32_t leaf) {
    if (live >= std::max<size_t>(1, o.max_signatures) && tail != kNone) {
      uint32_t victim = tail;
      bool same_leaf = clusters[victim].leaf == leaf;
      evict(victim);
      (void)same_leaf;
    }
    uint32_t c;
    if (!free_clusters.empty()) {
      c = free_clusters.back();
      free_clusters.pop_back();
    } else {
      c = static_cast<uint32_t>(clusters.size());
      clusters.emplace_back();
    }
    Cluster& x = clusters[c];
    x.live = true;
    x.sig.first = join(first);
    SignatureId id = fnv1a(x.sig.first);
    // Two first templates with one hash (or a hash of 0, the other bucket):
    // a deterministic step, so a restart makes the same choice.
    while (id == kOther || by_id.contains(id)) id += 0x9e3779b97f4a7c15ULL;
    x.sig.id = id;
    x.sig.tokens = std::move(now);
    x.hashes.clear();
    x.wildcards = 0;
    for (const auto& t : x.sig.tokens) {
      x.hashes.push_back(fnv1a(t));
      x.wildcards += x.hashes.back() == kWildcardHash;
    }
    x.leaf = leaf;
    nodes[leaf].clusters.push_back(c);
    by_id.emplace(id, c);
    push_front(c);
    ++live;
    return c;
  }

  Mined add(std::string_view message) {
    if (message.size() > o.max_line_bytes) message = message.substr(0, o.max_line_bytes);
    masker.mask(message, buf, tokens);
    if (tokens.size() > o.max_tokens && o.max_tokens >= 1) {
      tokens.resize(o.max_tokens);
      tokens.back() = Token{0, 0, kWildcardHash, true};
    }
    views.clear();
    hashes.clear();
    for (const auto& t : tokens) {
      views.push_back(t.len ? std::string_view(buf.data() + t.off, t.len) : kWildcard);
      hashes.push_back(t.hash);
    }
    partly_variable.clear();
    for (const auto& t : tokens) partly_variable.push_back(t.variable || t.len == 0);
    uint32_t leaf = route(views, hashes, partly_variable, false);
    uint32_t best = kNone;
    if (leaf != kNone) {
      double best_sim = -1;
      uint32_t best_params = 0;
      const size_t L = views.size();
      for (uint32_t c : nodes[leaf].clusters) {
        const Cluster& x = clusters[c];
        size_t eq = 0;
        // The share of positions that agree: equal words, or a variable in
        // both (the line's masked token under the template's <*>). Drain's
        // own measure counts equal words only, so a line made mostly of
        // variables never joins even its identical template.
        if (o.drain_compat) {
          for (size_t i = 0; i < L; ++i) eq += x.hashes[i] == hashes[i] && x.hashes[i] != kWildcardHash;
        } else {
          size_t words = 0, same_words = 0;
          for (size_t i = 0; i < L; ++i) {
            bool masked = partly_variable[i];
            eq += x.hashes[i] == hashes[i];
            words += !masked;
            same_words += !masked && x.hashes[i] == hashes[i];
          }
          // ... and as large a share of the line's own words: a line made
          // mostly of variables does not join on them alone ("gige
          // temperature <*> critical" is not "... normal").
          if (words && static_cast<double>(same_words) < o.similarity * static_cast<double>(words)) continue;
        }
        double sim = L ? static_cast<double>(eq) / static_cast<double>(L) : 1.0;
        if (sim > best_sim || (sim == best_sim && x.wildcards > best_params)) {
          best_sim = sim;
          best_params = x.wildcards;
          best = c;
        }
      }
      if (best != kNone && best_sim < o.similarity) best = kNone;
    }
    Mined m;
    if (best == kNone) {
      uint32_t at = route(views, hashes, partly_variable, true);
      std::vector<std::string> t(views.begin(), views.end());
      best = create(t, t, at);
      m.created = true;
    } else {
      Cluster& x = clusters[best];
      for (size_t i = 0; i < x.hashes.size(); ++i) {
        if (x.hashes[i] == hashes[i] || x.hashes[i] == kWildcardHash) continue;
        if (x.sig.merges.size() < kMergesKept) x.sig.merges.push_back({static_cast<uint32_t>(i), x.sig.tokens[i]});
        x.sig.tokens[i] = std::string(kWildcard);
        x.hashes[i] = kWildcardHash;
        ++x.wildcards;
        ++x.sig.generalisations;
        m.generalised = true;
      }
      touch(best);
    }
    Cluster& x = clusters[best];
    ++x.sig.count;
    m.id = x.sig.id;
    return m;
  }
};

Miner::Miner() : impl_(std::make_unique<Impl>()) {}
Miner::~Miner() = default;
Miner::Miner(Miner&&) noexcept = default;
Miner& Miner::operator=(Miner&&) noexcept = default;

Result<Miner> Miner::make(MinerOptions options) {
  if (!(options.similarity >= 0 && options.similarity <= 1)) return fail("similarity must be within 0..1");
  if (options.depth < 3) return fail("depth must be at least 3");
  if (options.max_signatures < 1) return fail("max_signatures must be at least 1");
  if (options.max_tokens < 2) return fail("max_tokens must be at least 2");
  auto masker = Masker::make(options.masks);
  if (!masker) return std::unexpected(masker.error());
  Miner m;
  m.impl_->o = std::move(options);
  m.impl_->masker = std::move(*masker);
  m.impl_->nodes.emplace_back();
  return m;
}

Mined Miner::add(std::string_view message) { return impl_->add(message); }

const Signature* Miner::find(SignatureId id) const {
  auto it = impl_->by_id.find(id);
  return it == impl_->by_id.end() ? nullptr : &impl_->clusters[it->second].sig;
}

std::vector<const Signature*> Miner::signatures() const {
  std::vector<const Signature*> out;
  for (const auto& c : impl_->clusters)
    if (c.live) out.push_back(&c.sig);
  std::stable_sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->count > b->count; });
  return out;
}

size_t Miner::size() const { return impl_->live; }
uint64_t Miner::other_count() const { return impl_->other; }
uint64_t Miner::evicted() const { return impl_->evicted; }
const MinerOptions& Miner::options() const { return impl_->o; }

std::string Miner::to_json() const {
  namespace json = boost::json;
  const Impl& m = *impl_;
  json::array sigs;
  // Least recently used first: restoring in this order rebuilds the LRU list.
  for (uint32_t c = m.tail; c != kNone; c = m.clusters[c].prev) {
    const Signature& s = m.clusters[c].sig;
    json::array first, tokens, merges;
    size_t start = 0;
    while (start <= s.first.size()) {
      size_t sp = s.first.find(' ', start);
      if (sp == std::string::npos) sp = s.first.size();
      if (sp > start || !s.first.empty()) first.emplace_back(s.first.substr(start, sp - start));
      start = sp + 1;
    }
    for (const auto& t : s.tokens) tokens.emplace_back(t);
    for (const auto& mg : s.merges) merges.push_back(json::array{mg.position, mg.was});
    sigs.push_back(json::object{{"id", id_text(s.id)},
                                {"first", std::move(first)},
                                {"tokens", std::move(tokens)},
                                {"count", s.count},
                                {"generalisations", s.generalisations},
                                {"merges", std::move(merges)}});
  }
  json::object o{{"version", 1},
                 {"depth", m.o.depth},
                 {"max_children", m.o.max_children},
                 {"other", json::object{{"count", m.other}, {"evicted", m.evicted}}},
                 {"signatures", std::move(sigs)}};
  return json::serialize(o);
}

Result<Miner> Miner::from_json(std::string_view text, MinerOptions options) {
  namespace json = boost::json;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return fail("miner state: " + ec.message());
  auto* o = v.if_object();
  if (!o || !o->if_contains("version") || !(*o)["version"].is_int64() || (*o)["version"].as_int64() != 1)
    return fail("miner state: not a version 1 state");
  auto num = [&](const json::object& obj, std::string_view k) -> std::optional<int64_t> {
    auto* x = obj.if_contains(k);
    if (!x) return std::nullopt;
    if (x->is_int64()) return x->as_int64();
    if (x->is_uint64()) return static_cast<int64_t>(x->as_uint64());
    return std::nullopt;
  };
  // The tree's shape depends on these: a state made with others is not reused.
  if (num(*o, "depth") != options.depth || num(*o, "max_children") != options.max_children)
    return fail("miner state: made with another depth or max_children");
  auto m = make(std::move(options));
  if (!m) return m;
  Impl& im = *m->impl_;
  if (auto* other = o->if_contains("other"); other && other->is_object()) {
    im.other = static_cast<uint64_t>(num(other->as_object(), "count").value_or(0));
    im.evicted = static_cast<uint64_t>(num(other->as_object(), "evicted").value_or(0));
  }
  auto* sigs = o->if_contains("signatures");
  if (!sigs || !sigs->is_array()) return fail("miner state: no signatures array");
  for (const auto& sv : sigs->as_array()) {
    auto* so = sv.if_object();
    if (!so) return fail("miner state: a signature is not an object");
    auto strings = [&](std::string_view k) -> std::optional<std::vector<std::string>> {
      auto* a = so->if_contains(k);
      if (!a || !a->is_array()) return std::nullopt;
      std::vector<std::string> out;
      for (const auto& t : a->as_array()) {
        if (!t.is_string()) return std::nullopt;
        out.emplace_back(t.as_string());
      }
      return out;
    };
    auto first = strings("first");
    auto tokens = strings("tokens");
    auto* id = so->if_contains("id");
    if (!first || !tokens || first->size() != tokens->size() || !id || !id->is_string())
      return fail("miner state: a signature lacks id, first or tokens");
    auto want = parse_id(id->as_string());
    if (!want) return fail("miner state: bad signature id");
    std::vector<std::string_view> views(first->begin(), first->end());
    std::vector<uint64_t> hashes;
    std::vector<char> vars;
    for (auto t : views) hashes.push_back(fnv1a(t)), vars.push_back(variable_token(t));
    uint32_t leaf = im.route(views, hashes, vars, true);
    uint32_t c = im.create(*first, *tokens, leaf);
    Cluster& x = im.clusters[c];
    if (x.sig.id != *want) {
      // A state written by an agent that had to step past a collision we
      // do not see now: keep the recorded id, it is the identity.
      im.by_id.erase(x.sig.id);
      x.sig.id = *want;
      im.by_id[*want] = c;
    }
    x.sig.count = static_cast<uint64_t>(num(*so, "count").value_or(0));
    x.sig.generalisations = static_cast<uint32_t>(num(*so, "generalisations").value_or(0));
    if (auto* mg = so->if_contains("merges"); mg && mg->is_array())
      for (const auto& e : mg->as_array())
        if (e.is_array() && e.as_array().size() == 2 && e.as_array()[1].is_string())
          x.sig.merges.push_back({static_cast<uint32_t>(e.as_array()[0].to_number<int64_t>()),
                                  std::string(e.as_array()[1].as_string())});
  }
  return m;
}

}  // namespace dg::logs
