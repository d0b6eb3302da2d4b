// fmt's compiled part, built into dg_core. Debian ships fmt only as a shared
// library (no libfmt.a); linking it would keep a C++ shared library in the
// binary and with it libstdc++.so, which costs start-up time (docs/benchmarks.md,
// "Whole process"). The definitions come from fmt's own format-inl.h; the
// templates that format.h declares extern are instantiated here for char. A
// new use of fmt that needs another one fails to link, naming it: add it below.
#include <fmt/format.h>

#if FMT_VERSION < 90000 || FMT_VERSION >= 100000
#error "fmt_compiled.cpp instantiates fmt 9's templates (Debian bookworm); check them against this fmt"
#endif

#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
template FMT_API auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl<char>(locale_ref) -> char;
}  // namespace detail
FMT_END_NAMESPACE
