#pragma once
/// Secrets: values resolved from `env:NAME` and `file:PATH` references (a
/// file's trailing newline is not part of the value; the config loader makes
/// PATH absolute and re-reads it on every load, so a reload picks up a
/// rotated mounted secret). Every resolved value is
/// registered here so that anything written out (journal, incidents, console,
/// reports, error messages) can be redacted. Thread-safe.
///
/// Redaction works on values, never on serialized text: JSON goes through
/// redact_json() before it is serialized, XML text is redacted before it is
/// escaped, and anything cut short goes through the excerpt helpers below,
/// which redact before they cut so that no prefix of a secret survives.
#include <initializer_list>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "agent/core/error.h"

namespace dg::secrets {

/// Resolves "env:NAME" to the variable's value, "file:PATH" to the file's
/// content, and registers it as a secret.
/// Values without the prefix are returned unchanged (and not registered).
Result<std::string> resolve(std::string_view value);
bool is_reference(std::string_view value);
/// Registers a secret explicitly (e.g. a token read elsewhere), with the parts
/// of it that travel alone: the credential after an auth scheme, and for a
/// URL its password, its secret-looking path segments and its query values.
/// Values shorter than kMinLength are ignored: redacting one or two
/// characters would erase ordinary text everywhere.
void add(std::string value);
inline constexpr size_t kMinLength = 3;
/// Replaces every registered secret in `text` with "[REDACTED]" (the longest
/// match wins where two overlap).
std::string redact(std::string_view text);
/// Redacts every string in `v` in place: string leaves and object keys, at any
/// depth. Numbers, booleans and null are never touched. String members of the
/// top-level object named in `keep` are left as they are: fields the program
/// itself writes (a record's time, sequence, kind, chain hashes), which a short
/// secret such as "2026" must not garble.
void redact_json(boost::json::value& v, std::initializer_list<std::string_view> keep = {});
/// text::excerpt() and excerpt_tail() of the redacted text; excerpt_around()
/// is an excerpt centred on `pos` ("found here" evidence).
/// `truncated` says the text was already cut at its end (a capped output), so
/// its last bytes may be the start of a secret: they are dropped.
std::string excerpt(std::string_view s, size_t max = 240);
std::string excerpt_tail(std::string_view s, size_t max = 240, bool truncated = false);
std::string excerpt_around(std::string_view s, size_t pos, size_t max = 240);
void clear_for_tests();

}  // namespace dg::secrets
