#pragma once
/// Observation: one result of one signal (probe run). The outcome is three-way:
/// Failed means the target is unhealthy; Error means we could not tell. They are
/// never folded into each other downstream.
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"

namespace dg {

enum class Outcome { Passed, Failed, Error };

inline const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::Passed: return "passed";
    case Outcome::Failed: return "failed";
    case Outcome::Error: return "error";
  }
  return "?";
}

/// A file saved as evidence of a run (a browser probe's screenshot, its
/// console/network log), content-addressed beside the journal.
struct Artifact {
  std::string kind;    ///< "screenshot" | "log"
  std::string path;    ///< absolute
  std::string sha256;  ///< of the file's bytes (also its name)
  long long bytes = 0;
};

struct Observation {
  std::string signal;     ///< probe name
  TimePoint at{};         ///< when the run started
  Outcome outcome = Outcome::Error;
  Duration latency{0};
  std::string detail;     ///< why: which expectation failed, or what went wrong
  std::string excerpt;    ///< bounded evidence (body / output excerpt), may be empty
  std::vector<Artifact> artifacts;  ///< files saved for a failed run, may be empty
  /// Named phases of the run in ms (http: dns, connect, tls, first_byte, transfer), may be empty.
  std::vector<std::pair<std::string, double>> phases_ms;
};

}  // namespace dg
