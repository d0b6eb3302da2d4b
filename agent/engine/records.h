#pragma once
/// The JSON shapes of evidence in journal records (observations, readings,
/// verdict numbers), shared by the engine and the drivers' final verdicts.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "agent/core/metric_reading.h"
#include "agent/core/observation.h"
#include "policies/evaluator.h"

namespace dg::records {

boost::json::object to_json(const Observation& o);
boost::json::object to_json(const MetricReading& r);
boost::json::array to_json(const std::vector<Observation>& obs);
boost::json::array to_json(const std::vector<MetricReading>& readings);
boost::json::array to_json(const std::vector<std::string>& v);
boost::json::object stats_json(const Verdict& v);

}  // namespace dg::records
