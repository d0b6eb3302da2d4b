#pragma once
/// Request templates of the http flag provider: `{{name}}` placeholders
/// replaced by values, escaped for where they land.
///  - URL: percent-encoded (a value cannot add a path segment or a query key).
///  - header: as is; a value with CR or LF is refused (no header injection).
///  - JSON body: the template is scanned as JSON. Inside a string literal a
///    value is written as JSON string content (quotes, backslashes and control
///    characters escaped), so `"segment": "{{segment_jsonlogic}}"` carries the
///    rule as a string; outside one, a string value becomes a quoted JSON
///    string and a JSON value (segment_jsonlogic, state) is inserted as JSON
///    (`null` when empty), so `"rule": {{segment_jsonlogic}}` carries it as an
///    object. The result must parse as JSON.
///  - other bodies: as is.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/core/error.h"

namespace dg::flagtpl {

struct Value {
  std::string name;
  std::string text;
  bool is_json = false;  ///< text is JSON already (empty = null)
};
using Values = std::vector<Value>;

enum class Mode { kUrl, kHeader, kJson, kText };

/// The placeholder names in `tpl` that are not in `known` (for config checks),
/// or an error for an unclosed `{{`.
Result<std::vector<std::string>> unknown_names(std::string_view tpl, const std::vector<std::string>& known);

Result<std::string> render(std::string_view tpl, const Values& values, Mode mode);

/// JSON string content of `s` (no surrounding quotes).
std::string json_escape(std::string_view s);

}  // namespace dg::flagtpl
