#pragma once
/// Run-time failures are values: every fallible call returns Result<T>.
#include <expected>
#include <string>
#include <utility>

namespace dg {

struct Error {
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

}  // namespace dg
