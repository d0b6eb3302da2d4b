#pragma once
#include <optional>
#include <string_view>

namespace dg {
/// A sample value as Prometheus writes it: decimal float, "NaN", "+Inf", "-Inf"
/// (no hex, no underscores). Shared by the exposition and API decoders.
std::optional<double> parse_sample_value(std::string_view s);
}  // namespace dg
