// libcurl is opened on the first curl_* call, not at start-up, and the shim
// passes every kind of option argument through unchanged. ctest runs each test
// in its own process, so "not loaded yet" holds at the start of each one.
#include "agent/core/curl_lazy.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace dg {
namespace {

bool libcurl_in_process() {
  void* h = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD);
  if (h != nullptr) ::dlclose(h);
  return h != nullptr;
}

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

TEST(CurlLazy, LibcurlIsLoadedOnTheFirstCallOnly) {
  if (std::getenv("DG_FAKE_LIBCURL")) GTEST_SKIP() << "run with a broken libcurl.so.4 (CurlLazyMissing)";
  EXPECT_FALSE(libcurl_in_process()) << "linked against libcurl: every command pays its start-up";
  EXPECT_EQ(libcurl_load_error(), std::nullopt);
  EXPECT_TRUE(libcurl_in_process());
  curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
  ASSERT_NE(v, nullptr);
  EXPECT_NE(v->version, nullptr);
}

TEST(CurlLazy, EveryOptionTypeReachesLibcurl) {
  if (std::getenv("DG_FAKE_LIBCURL")) GTEST_SKIP() << "run with a broken libcurl.so.4 (CurlLazyMissing)";
  auto path = std::filesystem::temp_directory_path() / ("dg_curl_lazy_" + std::to_string(::getpid()));
  std::ofstream(path) << "hello from a file";

  CURL* h = curl_easy_init();
  ASSERT_NE(h, nullptr);
  std::string body;
  std::string url = "file://" + path.string();
  curl_slist* headers = curl_slist_append(nullptr, "X-Test: 1");
  ASSERT_NE(headers, nullptr);
  curl_blob blob{const_cast<char*>("x"), 1, CURL_BLOB_COPY};
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_URL, url.c_str()), CURLE_OK);                       // string
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L), CURLE_OK);                           // long
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers), CURLE_OK);                    // slist
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, curl_off_t{1} << 20), CURLE_OK);  // off_t
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob), CURLE_OK);                     // blob
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect), CURLE_OK);                 // function
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_WRITEDATA, &body), CURLE_OK);                       // callback data
  EXPECT_EQ(curl_easy_setopt(h, static_cast<CURLoption>(9999), 0L), CURLE_UNKNOWN_OPTION);
  EXPECT_EQ(curl_easy_perform(h), CURLE_OK);
  EXPECT_EQ(body, "hello from a file") << "the write callback and its data went through";
  curl_off_t size = -1;
  EXPECT_EQ(curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &size), CURLE_OK);
  EXPECT_EQ(size, 17);
  EXPECT_STREQ(curl_easy_strerror(CURLE_OK), "No error");
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  std::filesystem::remove(path);
}

// Registered by tests/CMakeLists.txt with LD_LIBRARY_PATH at a directory whose
// libcurl.so.4 is not a library; skipped in the ordinary unit run.
TEST(CurlLazyMissing, CallsFailAsLibcurlsOwnAndSayWhy) {
  if (!std::getenv("DG_FAKE_LIBCURL")) GTEST_SKIP() << "needs the broken libcurl.so.4 of tests/CMakeLists.txt";
  auto error = libcurl_load_error();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("cannot load libcurl.so.4"), std::string::npos) << *error;
  EXPECT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_FAILED_INIT);
  EXPECT_EQ(curl_easy_init(), nullptr);
  EXPECT_EQ(curl_easy_setopt(nullptr, CURLOPT_URL, "http://127.0.0.1/"), CURLE_FAILED_INIT);
  EXPECT_EQ(curl_slist_append(nullptr, "X: 1"), nullptr);
  EXPECT_EQ(std::string(curl_easy_strerror(CURLE_FAILED_INIT)), *error);
}

}  // namespace
}  // namespace dg
