#pragma once
/// Miner: an online fixed-depth-tree clusterer of log messages into
/// signatures, in the manner of Drain (He, Zhu, Zheng, Lyu, ICWS 2017).
///
/// A message is masked (masker.h) into tokens, routed by its token count and
/// its first `depth - 3` tokens (a token holding a digit, or a node already
/// full, goes to the `<*>` branch), then matched against the signatures of
/// that leaf by the share of positions that agree (equal words, or a variable
/// in both); the best at or above `similarity` takes the line and its
/// differing tokens become `<*>`.
///
/// Identity: a signature's id is the FNV-1a hash of the template it was
/// created with, so it survives generalisation (the merge is recorded, the id
/// kept), restarts (to_json / from_json) and a fresh start on the same first
/// line. Memory is bounded: at most `max_signatures` (least recently used
/// evicted, its count moved to the explicit "other" bucket), at most
/// `max_tokens` tokens per template, at most `max_line_bytes` per message.
/// Each add() is linear in the message. Not thread-safe: one per source.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/error.h"
#include "logs/masker.h"

namespace dg::logs {

using SignatureId = uint64_t;
/// The "other" bucket: lines whose signature was evicted.
inline constexpr SignatureId kOther = 0;

struct MinerOptions {
  double similarity = 0.7;  ///< share of positions that agree for a line to join a signature (Drain's st)
  /// Drain's own measure (only equal words agree) and routing (only tokens
  /// with digits take the <*> branch): the published st values assume them.
  bool drain_compat = false;
  int depth = 5;            ///< Drain's depth: root, length and leaf layers, so depth-3 prefix tokens
  int max_children = 100;   ///< per tree node; further tokens share the <*> branch
  size_t max_signatures = 1000;
  size_t max_tokens = 64;       ///< a longer message keeps its first tokens and ends in one <*>
  size_t max_line_bytes = 4096;  ///< the rest of a longer message is not looked at
  MaskOptions masks;
};

struct Merge {
  uint32_t position = 0;
  std::string was;  ///< the token that became <*>
};

struct Signature {
  SignatureId id = 0;
  std::vector<std::string> tokens;  ///< the template now
  std::string first;                ///< the template it was created with (its identity)
  uint64_t count = 0;               ///< lines it took (since it was created or restored)
  uint32_t generalisations = 0;     ///< tokens turned into <*> since it was created
  std::vector<Merge> merges;        ///< the first few of them, for the record
  std::string text() const;         ///< tokens joined by one space
};

struct Mined {
  SignatureId id = kOther;
  bool created = false;      ///< a new signature
  bool generalised = false;  ///< an existing one gained a <*>
};

/// The id as it is printed: 16 lower-case hex digits.
std::string id_text(SignatureId id);
std::optional<SignatureId> parse_id(std::string_view text);

class Miner {
 public:
  static Result<Miner> make(MinerOptions options);
  ~Miner();
  Miner(Miner&&) noexcept;
  Miner& operator=(Miner&&) noexcept;

  /// Mines one message (header already taken off).
  Mined add(std::string_view message);
  const Signature* find(SignatureId id) const;
  /// Live signatures, most lines first.
  std::vector<const Signature*> signatures() const;
  size_t size() const;
  uint64_t other_count() const;  ///< lines of evicted signatures
  uint64_t evicted() const;      ///< signatures evicted
  const MinerOptions& options() const;

  /// The state as JSON text (options, signatures in LRU order, other bucket).
  std::string to_json() const;
  /// A miner restored from to_json(); the masks come from `options` (they are
  /// config, not state), the tree settings from the state (the tree depends on them).
  static Result<Miner> from_json(std::string_view json, MinerOptions options);

 private:
  Miner();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg::logs
