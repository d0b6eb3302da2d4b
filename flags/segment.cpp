#include "flags/segment.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <vector>

namespace dg {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<ParsedSegment> parse() {
    ParsedSegment out;
    std::string joiner;
    for (;;) {
      auto term = comparison();
      if (!term) return std::unexpected(term.error());
      out.terms.push_back(std::move(*term));
      skip_ws();
      if (at_end()) break;
      std::string word;
      if (eat("&&")) word = "and";
      else if (eat("||")) word = "or";
      else if (eat_word("and")) word = "and";
      else if (eat_word("or")) word = "or";
      else return error("expected 'and', 'or' or the end of the condition");
      if (!joiner.empty() && joiner != word)
        return error("mixing 'and' and 'or' is ambiguous; use one of them");
      joiner = word;
    }
    out.join = joiner == "or" ? ParsedSegment::Join::kOr : ParsedSegment::Join::kAnd;
    return out;
  }

 private:
  Result<SegmentTerm> comparison() {
    skip_ws();
    size_t start = pos_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' || s_[pos_] == '.' ||
                         s_[pos_] == '$'))
      ++pos_;
    if (pos_ == start || std::isdigit(static_cast<unsigned char>(s_[start])))
      return error("expected a context attribute name (e.g. pluginCount)");
    SegmentTerm term;
    term.attribute = std::string(s_.substr(start, pos_ - start));
    skip_ws();
    for (const char* candidate : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (eat(candidate)) {
        term.op = candidate;
        break;
      }
    }
    if (term.op.empty()) {
      if (eat_word("in")) term.op = "in";
      else return error("expected an operator (==, !=, <, <=, >, >=, in)");
    }
    skip_ws();
    if (term.op == "in") {
      if (!eat("[")) return error("expected '[' after 'in'");
      for (;;) {
        skip_ws();
        auto lit = literal();
        if (!lit) return std::unexpected(lit.error());
        term.values.push_back(std::move(*lit));
        skip_ws();
        if (eat("]")) break;
        if (!eat(",")) return error("expected ',' or ']'");
      }
    } else {
      auto lit = literal();
      if (!lit) return std::unexpected(lit.error());
      term.values.push_back(std::move(*lit));
    }
    return term;
  }

  Result<SegmentLiteral> literal() {
    using Kind = SegmentLiteral::Kind;
    if (at_end()) return error("expected a value");
    char c = s_[pos_];
    if (c == '"' || c == '\'') {
      ++pos_;
      std::string out;
      while (!at_end() && s_[pos_] != c) {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
        out += s_[pos_++];
      }
      if (at_end()) return error("unterminated string");
      ++pos_;
      return SegmentLiteral{Kind::kString, out};
    }
    if (eat_word("true")) return SegmentLiteral{Kind::kBool, "true"};
    if (eat_word("false")) return SegmentLiteral{Kind::kBool, "false"};
    if (eat_word("null")) return SegmentLiteral{Kind::kNull, "null"};
    size_t start = pos_;
    if (!at_end() && (s_[pos_] == '-' || s_[pos_] == '+')) ++pos_;
    while (!at_end() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) ++pos_;
    std::string_view num = s_.substr(start, pos_ - start);
    if (num.starts_with('+')) num.remove_prefix(1);
    long long i = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), i);
    if (ec == std::errc{} && p == num.data() + num.size() && !num.empty())
      return SegmentLiteral{Kind::kNumber, std::to_string(i)};
    double d = 0;
    auto [p2, ec2] = std::from_chars(num.data(), num.data() + num.size(), d);
    if (ec2 == std::errc{} && p2 == num.data() + num.size() && !num.empty())
      return SegmentLiteral{Kind::kNumber, std::string(num)};
    pos_ = start;
    return error("expected a number, a quoted string, true, false or null");
  }

  void skip_ws() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool at_end() const { return pos_ >= s_.size(); }
  bool eat(std::string_view t) {
    if (s_.substr(pos_).starts_with(t)) {
      pos_ += t.size();
      return true;
    }
    return false;
  }
  bool eat_word(std::string_view w) {
    if (!s_.substr(pos_).starts_with(w)) return false;
    size_t end = pos_ + w.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) return false;
    pos_ = end;
    return true;
  }
  std::unexpected<Error> error(std::string_view what) const {
    return fail(fmt::format("segment \"{}\" column {}: {}", s_, pos_ + 1, what));
  }

  std::string_view s_;
  size_t pos_ = 0;
};

boost::json::value json_literal(const SegmentLiteral& l) {
  switch (l.kind) {
    case SegmentLiteral::Kind::kString: return boost::json::value(l.text);
    case SegmentLiteral::Kind::kBool: return boost::json::value(l.text == "true");
    case SegmentLiteral::Kind::kNull: return boost::json::value(nullptr);
    case SegmentLiteral::Kind::kNumber: break;
  }
  long long i = 0;
  auto [p, ec] = std::from_chars(l.text.data(), l.text.data() + l.text.size(), i);
  if (ec == std::errc{} && p == l.text.data() + l.text.size()) return boost::json::value(i);
  double d = 0;
  std::from_chars(l.text.data(), l.text.data() + l.text.size(), d);
  return boost::json::value(d);
}

boost::json::value json_term(const SegmentTerm& t) {
  boost::json::value rhs;
  if (t.op == "in") {
    boost::json::array list;
    for (const auto& v : t.values) list.push_back(json_literal(v));
    rhs = std::move(list);
  } else {
    rhs = json_literal(t.values.front());
  }
  // JsonLogic's == is loose and treats a missing attribute like 0 or "":
  // compare strictly, and only users that have the attribute are in the
  // segment, so a flip never reaches users outside it.
  std::string op = t.op == "==" ? "===" : t.op == "!=" ? "!==" : t.op;
  boost::json::object var_ref;
  var_ref["var"] = t.attribute;
  boost::json::object present, cmp, both;
  present["!=="] = boost::json::array{var_ref, nullptr};  // strict: the engine coerces null to 0 under !=
  cmp[op] = boost::json::array{var_ref, rhs};
  both["and"] = boost::json::array{present, cmp};
  return boost::json::value(std::move(both));
}

}  // namespace

Result<ParsedSegment> parse_segment(std::string_view expression) { return Parser(expression).parse(); }

Result<std::string> compile_segment(std::string_view expression) {
  auto parsed = parse_segment(expression);
  if (!parsed) return std::unexpected(parsed.error());
  if (parsed->terms.size() == 1) return boost::json::serialize(json_term(parsed->terms.front()));
  boost::json::array terms;
  for (const auto& t : parsed->terms) terms.push_back(json_term(t));
  boost::json::object o;
  o[parsed->join == ParsedSegment::Join::kOr ? "or" : "and"] = std::move(terms);
  return boost::json::serialize(boost::json::value(std::move(o)));
}

}  // namespace dg
