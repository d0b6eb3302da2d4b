#include "agent/core/async_io.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <thread>

namespace dg {

void offload(boost::asio::io_context& loop, std::function<void()> work, std::function<void()> then) {
  // The work guard keeps run() from returning while the thread is busy.
  auto guard = boost::asio::make_work_guard(loop);
  std::thread([&loop, guard = std::move(guard), work = std::move(work), then = std::move(then)]() mutable {
    work();
    boost::asio::post(loop, std::move(then));
    guard.reset();
  }).detach();
}

}  // namespace dg
