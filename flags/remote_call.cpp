#include "flags/remote_call.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

namespace dg {

Result<HttpResponse> perform_with_retries(const HttpRequest& request, const RetryPolicy& policy) {
  thread_local std::mt19937 rng{std::random_device{}()};
  Duration backoff = policy.first_backoff;
  for (int attempt = 1;; ++attempt) {
    auto r = http_perform(request);
    bool retry = !r || r->status == 429 || r->status >= 500;
    if (r && retry && policy.final_answer && policy.final_answer(*r)) retry = false;
    if (!retry || attempt >= policy.attempts) return r;
    // Full jitter over the backoff; a Retry-After (seconds) the server sent wins, capped.
    Duration wait{std::uniform_int_distribution<long long>(backoff.count() / 2, backoff.count())(rng)};
    if (r) {
      if (const std::string* ra = r->header("retry-after")) {
        long long s = 0;
        auto [p, ec] = std::from_chars(ra->data(), ra->data() + ra->size(), s);
        if (ec == std::errc{} && s >= 0) wait = std::min(Duration{s * 1000}, policy.max_backoff * 5);
      }
    }
    std::this_thread::sleep_for(wait);
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace dg
