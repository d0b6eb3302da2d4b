// Without a loadable libcurl, AsyncHttp answers every exchange with the
// reason, later on the loop as always (registered with the broken
// libcurl.so.4 of tests/CMakeLists.txt through the CurlLazyMissing filter).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <optional>

#include "agent/core/async_http.h"

namespace dg {
namespace {

TEST(CurlLazyMissing, AsyncHttpDeliversTheReason) {
  if (!std::getenv("DG_FAKE_LIBCURL")) GTEST_SKIP() << "needs the broken libcurl.so.4 of tests/CMakeLists.txt";
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  std::optional<Result<HttpResponse>> got;
  HttpRequest req;
  req.url = "http://127.0.0.1:1/";
  http.perform(req, [&](Result<HttpResponse> r) { got = std::move(r); });
  EXPECT_FALSE(got) << "called inside perform()";
  EXPECT_EQ(http.in_flight(), 1u);
  loop.run();
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_NE(got->error().message.find("cannot load libcurl.so.4"), std::string::npos) << got->error().message;
  EXPECT_EQ(http.in_flight(), 0u);
}

}  // namespace
}  // namespace dg
