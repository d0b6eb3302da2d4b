#include "logs/tally.h"

#include <algorithm>

#include "agent/core/secrets.h"

namespace dg::logs {

namespace {
int64_t second_of(TimePoint t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }
}  // namespace

void LogTally::add(TimePoint at, SignatureId id, Level level, std::string_view text, std::string_view raw) {
  int64_t s = second_of(at);
  SecondBucket* b = nullptr;
  bool back = false;
  if (buckets_.empty() || buckets_.back().second < s) {
    buckets_.push_back(SecondBucket{s});
    back_index_.clear();
    b = &buckets_.back();
    back = true;
  } else if (buckets_.back().second == s) {
    b = &buckets_.back();
    back = true;
  } else {
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), s, [](const SecondBucket& x, int64_t v) { return x.second < v; });
    if (it->second != s && it != buckets_.begin()) it = buckets_.insert(it, SecondBucket{s});
    b = &*it;
  }
  ++b->total;
  if (level >= Level::Error) ++b->errors;
  if (b->signatures.size() > max_) {
    // A second's distinct signatures past the bound: kept as "other".
    bool known = back ? back_index_.contains(id)
                      : std::any_of(b->signatures.begin(), b->signatures.end(), [&](const auto& p) { return p.first == id; });
    if (!known) id = kOther;
  }
  if (back) {
    auto [pos, fresh] = back_index_.try_emplace(id, static_cast<uint32_t>(b->signatures.size()));
    if (fresh) b->signatures.emplace_back(id, 1);
    else ++b->signatures[pos->second].second;
  } else {
    auto sig = std::find_if(b->signatures.begin(), b->signatures.end(), [&](const auto& p) { return p.first == id; });
    if (sig == b->signatures.end()) b->signatures.emplace_back(id, 1);
    else ++sig->second;
  }

  if (info_.size() >= 2 * max_ && !info_.contains(id)) {
    // Drop the least recently seen half: amortised O(1) per line.
    std::vector<std::pair<TimePoint, SignatureId>> by_age;
    for (const auto& [k, v] : info_) by_age.emplace_back(v.last_seen, k);
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(max_), by_age.end());
    for (size_t k = 0; k < max_; ++k) info_.erase(by_age[k].second);
  }
  auto [it, fresh] = info_.try_emplace(id);
  SignatureInfo& i = it->second;
  if (fresh) i.first_seen = i.last_seen = at;
  if (at < i.first_seen) i.first_seen = at;
  if (at > i.last_seen) i.last_seen = at;
  if (level > i.level) i.level = level;
  if (!text.empty()) i.text.assign(text);
  // Examples: the newest three, refreshed at most once a second, so that a
  // flood of one signature costs no redaction per line.
  if (i.examples.size() < 3 || at - i.example_at >= std::chrono::seconds(1)) {
    if (i.examples.size() >= 3) i.examples.erase(i.examples.begin());
    i.examples.push_back(secrets::excerpt(raw, 240));
    i.example_at = at;
  }
}

void LogTally::prune(TimePoint now) {
  int64_t oldest = second_of(now - keep_);
  while (!buckets_.empty() && buckets_.front().second < oldest) buckets_.pop_front();
  // Signatures not seen within the kept time have nothing left to judge.
  TimePoint cut = now - keep_;
  std::erase_if(info_, [&](const auto& kv) { return kv.second.last_seen < cut; });
}

const SignatureInfo* LogTally::info(SignatureId id) const {
  auto it = info_.find(id);
  return it == info_.end() ? nullptr : &it->second;
}

}  // namespace dg::logs
