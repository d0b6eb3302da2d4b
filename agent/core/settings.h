#pragma once
/// Settings: what one plugin type decoded from its config table (its own
/// struct, e.g. HttpProbeSpec), held without the common spec knowing the
/// type. Only the type's home (its decoder and its factory) looks inside, so
/// adding a type never edits a shared header. Copies share one immutable
/// value, so a Config snapshot stays cheap to copy.
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace dg {

class Settings {
 public:
  Settings() = default;
  template <class T>
    requires(!std::is_same_v<std::decay_t<T>, Settings>)
  Settings(T value)  // NOLINT(google-explicit-constructor): `.kind = HttpProbeSpec{...}` reads as what it is
      : value_(std::make_shared<T>(std::move(value))), type_(&typeid(T)) {}

  /// The settings if they are a T, else nullptr.
  template <class T>
  const T* get() const {
    return type_ != nullptr && *type_ == typeid(T) ? static_cast<const T*>(value_.get()) : nullptr;
  }
  /// The settings as the T its factory was registered for; a mismatch is a
  /// programming error (a spec built by hand with the wrong type).
  template <class T>
  const T& as() const {
    if (const T* p = get<T>()) return *p;
    throw std::logic_error(std::string("plugin settings are not a ") + typeid(T).name());
  }
  /// For the loader's passes after decoding, before the Config is published;
  /// copies first when another spec shares the value.
  template <class T>
  T* edit() {
    if (get<T>() == nullptr) return nullptr;
    if (value_.use_count() > 1) value_ = std::make_shared<T>(*static_cast<const T*>(value_.get()));
    return static_cast<T*>(value_.get());
  }
  bool empty() const { return type_ == nullptr; }

 private:
  std::shared_ptr<void> value_;
  const std::type_info* type_ = nullptr;
};

}  // namespace dg
