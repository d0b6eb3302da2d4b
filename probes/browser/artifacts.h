#pragma once
/// Evidence files beside the journal: a failed browser run's screenshot and
/// its console/network log, each named by the SHA-256 of its bytes (the same
/// picture twice is one file; a reference is checkable), written atomically.
/// Pruning removes the oldest files past a count and size bound, but never
/// one that is recent or that an open or recent incident references.
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/observation.h"

namespace dg {

/// Saves `bytes` as `<dir>/<sha256>.<ext>` (directories created) unless a
/// file of that name is already there.
Result<Artifact> save_artifact(const std::string& dir, const std::string& kind, std::string_view bytes,
                               std::string_view ext);

struct PruneLimits {
  size_t max_files = 1000;
  long long max_bytes = 512ll << 20;
  /// Never removed while younger than this: the incidents a file belongs to
  /// are still "recent" (reviews are written from them).
  Duration keep_recent = std::chrono::hours(24 * 14);
};

/// Keeps these files from pruning for the life of the process: the engine
/// pins what an incident it opened references. Thread-safe.
void pin_artifacts(const std::vector<Artifact>& files);

/// Removes the oldest files of `dir` while it holds more than the limits
/// allow, skipping recent ones, every file whose SHA-256 is in `pinned` and
/// every one pinned with pin_artifacts(). Returns the names removed; each is
/// also recorded in `<dir>/pruned.jsonl` ({file, sha256, pruned_at}), so a
/// review can say when an incident's screenshot was pruned.
std::vector<std::string> prune_artifacts(const std::string& dir, const PruneLimits& limits,
                                         const std::set<std::string>& pinned);

}  // namespace dg
