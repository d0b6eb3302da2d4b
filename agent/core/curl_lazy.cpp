// libcurl, loaded on first use (see curl_lazy.h for why).
//
// Every curl_* function the project calls is defined here and forwards to the
// same symbol of libcurl.so.4, resolved once with dlopen + dlsym. To use a new
// libcurl function, add it to DG_CURL_FUNCTIONS and write its forwarder
// below; a variadic setopt forwards through forward_option. The link
// fails with "undefined reference" for any curl_* call without an entry, so
// none can be missed.
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
// curl.h wraps these in 3-argument macros; the definitions below are the functions.
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#undef curl_share_setopt

#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "agent/core/curl_lazy.h"

#ifndef DG_LIBCURL_SONAME
#define DG_LIBCURL_SONAME "libcurl.so.4"  // the SONAME since 2006 (libcurl 7.16)
#endif

// The table: one entry per libcurl function, the field typed after its declaration in curl.h.
#define DG_CURL_FUNCTIONS(X) \
  X(curl_global_init)        \
  X(curl_global_cleanup)     \
  X(curl_easy_init)          \
  X(curl_easy_cleanup)       \
  X(curl_easy_perform)       \
  X(curl_easy_setopt)        \
  X(curl_easy_getinfo)       \
  X(curl_easy_reset)         \
  X(curl_easy_pause)         \
  X(curl_easy_strerror)      \
  X(curl_slist_append)       \
  X(curl_slist_free_all)     \
  X(curl_version_info)       \
  X(curl_multi_init)         \
  X(curl_multi_cleanup)      \
  X(curl_multi_setopt)       \
  X(curl_multi_add_handle)   \
  X(curl_multi_remove_handle) \
  X(curl_multi_socket_action) \
  X(curl_multi_assign)       \
  X(curl_multi_info_read)    \
  X(curl_multi_strerror)

namespace {

struct Api {
#define DG_CURL_FIELD(name) decltype(&::name) name = nullptr;
  DG_CURL_FUNCTIONS(DG_CURL_FIELD)
#undef DG_CURL_FIELD
};

Api g_api;
bool g_loaded = false;
char g_error[512] = "libcurl not loaded yet";
std::once_flag g_once;

void load() {
  // RTLD_LOCAL: libcurl's symbols are reached only through this table.
  void* lib = ::dlopen(DG_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::snprintf(g_error, sizeof g_error, "HTTP unavailable: cannot load %s: %s", DG_LIBCURL_SONAME, ::dlerror());
  } else {
    const char* missing = nullptr;
#define DG_CURL_RESOLVE(name)                                                  \
  g_api.name = reinterpret_cast<decltype(g_api.name)>(::dlsym(lib, #name)); \
  if (g_api.name == nullptr && missing == nullptr) missing = #name;
    DG_CURL_FUNCTIONS(DG_CURL_RESOLVE)
#undef DG_CURL_RESOLVE
    if (missing == nullptr) {
      g_loaded = true;
      return;
    }
    std::snprintf(g_error, sizeof g_error, "HTTP unavailable: %s has no %s (libcurl too old?)", DG_LIBCURL_SONAME,
                  missing);
    g_api = Api{};
  }
  // The callers only see NULL / CURLE_FAILED_INIT; say why once.
  std::fprintf(stderr, "deployguard: %s\n", g_error);
}

/// The table, loaded on the first call; nullptr when libcurl cannot be loaded.
const Api* api() {
  std::call_once(g_once, load);
  return g_loaded ? &g_api : nullptr;
}

// A variadic setopt passes its third argument by the option's type range, as
// libcurl reads it (curl.h, CURLOPTTYPE_*; the multi and share options use the
// same ranges): reading it as any other type is undefined.
template <typename Code, typename Handle, typename Option>
Code forward_option(Code (*real)(Handle*, Option, ...), Handle* handle, Option option, va_list args) {
  using Function = void (*)();
  const long o = static_cast<long>(option);
  if (o < CURLOPTTYPE_OBJECTPOINT) return real(handle, option, va_arg(args, long));  // LONG, VALUES
  if (o < CURLOPTTYPE_FUNCTIONPOINT)  // OBJECTPOINT, STRINGPOINT, SLISTPOINT, CBPOINT
    return real(handle, option, va_arg(args, void*));
  if (o < CURLOPTTYPE_OFF_T) return real(handle, option, va_arg(args, Function));
  if (o < CURLOPTTYPE_BLOB) return real(handle, option, va_arg(args, curl_off_t));
  return real(handle, option, va_arg(args, void*));  // struct curl_blob*
}

}  // namespace

namespace dg {

std::optional<std::string> libcurl_load_error() {
  if (api() != nullptr) return std::nullopt;
  return std::string(g_error);
}

}  // namespace dg

extern "C" {

CURLcode curl_global_init(long flags) {
  const Api* a = api();
  return a ? a->curl_global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void) {
  if (const Api* a = api()) a->curl_global_cleanup();
}

CURL* curl_easy_init(void) {
  const Api* a = api();
  return a ? a->curl_easy_init() : nullptr;
}

void curl_easy_cleanup(CURL* handle) {
  // A handle exists only if libcurl was loaded.
  if (const Api* a = api()) a->curl_easy_cleanup(handle);
}

CURLcode curl_easy_perform(CURL* handle) {
  const Api* a = api();
  return a ? a->curl_easy_perform(handle) : CURLE_FAILED_INIT;
}

CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
  const Api* a = api();
  if (a == nullptr) return CURLE_FAILED_INIT;
  va_list args;
  va_start(args, option);
  CURLcode rc = forward_option(a->curl_easy_setopt, handle, option, args);
  va_end(args);
  return rc;
}

CURLcode curl_easy_getinfo(CURL* handle, CURLINFO info, ...) {
  const Api* a = api();
  if (a == nullptr) return CURLE_FAILED_INIT;
  // Every CURLINFO_* takes a pointer to where the value goes.
  va_list args;
  va_start(args, info);
  void* out = va_arg(args, void*);
  va_end(args);
  return a->curl_easy_getinfo(handle, info, out);
}

void curl_easy_reset(CURL* handle) {
  if (const Api* a = api()) a->curl_easy_reset(handle);
}

CURLcode curl_easy_pause(CURL* handle, int bitmask) {
  const Api* a = api();
  return a ? a->curl_easy_pause(handle, bitmask) : CURLE_FAILED_INIT;
}

const char* curl_easy_strerror(CURLcode code) {
  const Api* a = api();
  return a ? a->curl_easy_strerror(code) : g_error;
}

curl_slist* curl_slist_append(curl_slist* list, const char* data) {
  const Api* a = api();
  return a ? a->curl_slist_append(list, data) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  if (const Api* a = api()) a->curl_slist_free_all(list);
}

curl_version_info_data* curl_version_info(CURLversion stamp) {
  const Api* a = api();
  return a ? a->curl_version_info(stamp) : nullptr;
}

// The multi interface (AsyncHttp). A multi handle exists only if libcurl was loaded.

CURLM* curl_multi_init(void) {
  const Api* a = api();
  return a ? a->curl_multi_init() : nullptr;
}

CURLMcode curl_multi_cleanup(CURLM* multi) {
  const Api* a = api();
  return a ? a->curl_multi_cleanup(multi) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_setopt(CURLM* multi, CURLMoption option, ...) {
  const Api* a = api();
  if (a == nullptr) return CURLM_BAD_HANDLE;
  va_list args;
  va_start(args, option);
  CURLMcode rc = forward_option(a->curl_multi_setopt, multi, option, args);
  va_end(args);
  return rc;
}

CURLMcode curl_multi_add_handle(CURLM* multi, CURL* easy) {
  const Api* a = api();
  return a ? a->curl_multi_add_handle(multi, easy) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM* multi, CURL* easy) {
  const Api* a = api();
  return a ? a->curl_multi_remove_handle(multi, easy) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_socket_action(CURLM* multi, curl_socket_t s, int ev_bitmask, int* running_handles) {
  const Api* a = api();
  return a ? a->curl_multi_socket_action(multi, s, ev_bitmask, running_handles) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_assign(CURLM* multi, curl_socket_t sockfd, void* sockp) {
  const Api* a = api();
  return a ? a->curl_multi_assign(multi, sockfd, sockp) : CURLM_BAD_HANDLE;
}

CURLMsg* curl_multi_info_read(CURLM* multi, int* msgs_in_queue) {
  const Api* a = api();
  return a ? a->curl_multi_info_read(multi, msgs_in_queue) : nullptr;
}

const char* curl_multi_strerror(CURLMcode code) {
  const Api* a = api();
  return a ? a->curl_multi_strerror(code) : g_error;
}

}  // extern "C"
