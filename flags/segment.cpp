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

  Result<boost::json::value> parse() {
    std::vector<boost::json::value> terms;
    std::string joiner;
    for (;;) {
      auto term = comparison();
      if (!term) return std::unexpected(term.error());
      terms.push_back(std::move(*term));
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
    if (terms.size() == 1) return std::move(terms.front());
    boost::json::object o;
    o[joiner] = boost::json::array(terms.begin(), terms.end());
    return boost::json::value(std::move(o));
  }

 private:
  Result<boost::json::value> comparison() {
    skip_ws();
    size_t start = pos_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' || s_[pos_] == '.' ||
                         s_[pos_] == '$'))
      ++pos_;
    if (pos_ == start || std::isdigit(static_cast<unsigned char>(s_[start])))
      return error("expected a context attribute name (e.g. pluginCount)");
    std::string var(s_.substr(start, pos_ - start));
    skip_ws();
    std::string op;
    for (const char* candidate : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (eat(candidate)) {
        op = candidate;
        break;
      }
    }
    if (op.empty()) {
      if (eat_word("in")) op = "in";
      else return error("expected an operator (==, !=, <, <=, >, >=, in)");
    }
    skip_ws();
    boost::json::value rhs;
    if (op == "in") {
      if (!eat("[")) return error("expected '[' after 'in'");
      boost::json::array list;
      for (;;) {
        skip_ws();
        auto lit = literal();
        if (!lit) return std::unexpected(lit.error());
        list.push_back(std::move(*lit));
        skip_ws();
        if (eat("]")) break;
        if (!eat(",")) return error("expected ',' or ']'");
      }
      rhs = std::move(list);
    } else {
      auto lit = literal();
      if (!lit) return std::unexpected(lit.error());
      rhs = std::move(*lit);
    }
    // JsonLogic's == is loose and treats a missing attribute like 0 or "":
    // compare strictly, and only users that have the attribute are in the
    // segment, so a flip never reaches users outside it.
    if (op == "==") op = "===";
    else if (op == "!=") op = "!==";
    boost::json::object var_ref;
    var_ref["var"] = var;
    boost::json::object present, cmp, both;
    present["!=="] = boost::json::array{var_ref, nullptr};  // strict: the engine coerces null to 0 under !=
    cmp[op] = boost::json::array{var_ref, rhs};
    both["and"] = boost::json::array{present, cmp};
    return boost::json::value(std::move(both));
  }

  Result<boost::json::value> literal() {
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
      return boost::json::value(out);
    }
    if (eat_word("true")) return boost::json::value(true);
    if (eat_word("false")) return boost::json::value(false);
    if (eat_word("null")) return boost::json::value(nullptr);
    size_t start = pos_;
    if (!at_end() && (s_[pos_] == '-' || s_[pos_] == '+')) ++pos_;
    while (!at_end() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) ++pos_;
    std::string_view num = s_.substr(start, pos_ - start);
    if (num.starts_with('+')) num.remove_prefix(1);
    long long i = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), i);
    if (ec == std::errc{} && p == num.data() + num.size() && !num.empty()) return boost::json::value(i);
    double d = 0;
    auto [p2, ec2] = std::from_chars(num.data(), num.data() + num.size(), d);
    if (ec2 == std::errc{} && p2 == num.data() + num.size() && !num.empty()) return boost::json::value(d);
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

}  // namespace

Result<std::string> compile_segment(std::string_view expression) {
  auto v = Parser(expression).parse();
  if (!v) return std::unexpected(v.error());
  return boost::json::serialize(*v);
}

}  // namespace dg
