// Build-only shim for the libFuzzer build: clang 14 (the newest clang in
// Debian bookworm) cannot instantiate libstdc++ 12's std::expected (it lacks
// conditionally trivial special members), so <expected> is empty there. This
// header, force-included by the clang fuzz build only, provides the small
// subset of std::expected/std::unexpected the parsers use. The product itself
// is built with g++ and the real std::expected.
#pragma once
#include <expected>
#if !defined(__cpp_lib_expected)
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace std {

template <class E>
class unexpected {
 public:
  constexpr explicit unexpected(E e) : e_(std::move(e)) {}
  constexpr const E& error() const& { return e_; }
  constexpr E& error() & { return e_; }

 private:
  E e_;
};
template <class E>
unexpected(E) -> unexpected<E>;

template <class T, class E>
class expected {
 public:
  using value_type = T;
  using error_type = E;
  template <class U = T, class = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                  !std::is_same_v<std::decay_t<U>, expected>>>
  constexpr expected(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class G>
  constexpr expected(const unexpected<G>& u) : v_(std::in_place_index<1>, u.error()) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : v_(std::in_place_index<1>, std::move(u.error())) {}
  constexpr expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  constexpr bool has_value() const { return v_.index() == 0; }
  constexpr explicit operator bool() const { return has_value(); }
  constexpr T& operator*() & { return std::get<0>(v_); }
  constexpr const T& operator*() const& { return std::get<0>(v_); }
  constexpr T&& operator*() && { return std::get<0>(std::move(v_)); }
  constexpr T* operator->() { return &std::get<0>(v_); }
  constexpr const T* operator->() const { return &std::get<0>(v_); }
  constexpr T& value() & { return std::get<0>(v_); }
  constexpr const T& value() const& { return std::get<0>(v_); }
  constexpr const E& error() const& { return std::get<1>(v_); }
  constexpr E& error() & { return std::get<1>(v_); }
  template <class U>
  constexpr T value_or(U&& d) const& { return has_value() ? **this : static_cast<T>(std::forward<U>(d)); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class expected<void, E> {
 public:
  constexpr expected() = default;
  template <class G>
  constexpr expected(const unexpected<G>& u) : e_(u.error()) {}
  constexpr bool has_value() const { return !e_.has_value(); }
  constexpr explicit operator bool() const { return has_value(); }
  constexpr const E& error() const& { return *e_; }

 private:
  std::optional<E> e_;
};

}  // namespace std
#endif
