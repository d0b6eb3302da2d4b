#pragma once
/// libcurl, loaded on first use. agent/core/curl_lazy.cpp defines the curl_*
/// functions the project calls and forwards them to libcurl.so.4, opened with
/// dlopen the first time one of them is called (thread-safe). The binary is not
/// linked against libcurl: commands that never make an HTTP request (exposition
/// check, check, journal verify) do not pay for loading its ~30 shared
/// libraries at start-up (docs/benchmarks.md, "Whole process").
///
/// Callers keep including <curl/curl.h> and calling curl_* as usual. When
/// libcurl cannot be loaded, the calls fail as libcurl's own do (NULL handles,
/// CURLE_FAILED_INIT) and curl_easy_strerror says why; the reason is written
/// to stderr once too.

#include <optional>
#include <string>

namespace dg {

/// Loads libcurl now if not yet done; the reason when it cannot be loaded.
std::optional<std::string> libcurl_load_error();

}  // namespace dg
