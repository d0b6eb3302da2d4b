#pragma once
/// Renderings of a VerifyReport: the human summary, JSON and JUnit XML for CI
/// systems. All output is redacted of secrets.
#include <string>

#include "agent/verify/verify.h"

namespace dg {

std::string summary_text(const VerifyReport& report);
std::string report_json(const VerifyReport& report);
std::string report_junit(const VerifyReport& report);

}  // namespace dg
