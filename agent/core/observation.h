#pragma once
/// Observation: one result of one signal (probe run). The outcome is three-way:
/// Failed means the target is unhealthy; Error means we could not tell. They are
/// never folded into each other downstream.
#include <string>

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

struct Observation {
  std::string signal;     ///< probe name
  TimePoint at{};         ///< when the run started
  Outcome outcome = Outcome::Error;
  Duration latency{0};
  std::string detail;     ///< why: which expectation failed, or what went wrong
  std::string excerpt;    ///< bounded evidence (body / output excerpt), may be empty
};

}  // namespace dg
