// decode_prometheus_answer on recorded Prometheus 2.42 HTTP API answers
// (tests/data/prometheus): the Ok / NoData / Error split, series values and
// sorted labels, the wording of `detail`, warnings, and that NaN/±Inf or an
// empty result never turn into a number.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "probes/metrics/prometheus_response.h"
#include "tests/support/temp_dir.h"

namespace dg::test {
namespace {

constexpr const char* kJson = "application/json";

std::string recorded(const std::string& name) {
  std::string body = slurp(std::string(DG_TEST_DATA_DIR "/prometheus/") + name);
  EXPECT_FALSE(body.empty()) << "missing recorded answer " << name;
  return body;
}

MetricReading decode_file(const std::string& name, int http_status = 200, std::string_view ct = kJson) {
  return decode_prometheus_answer(http_status, ct, recorded(name));
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string status(const MetricReading& r) { return to_string(r.status); }

// Whatever the answer, an Ok reading carries only finite numbers and a
// NoData / Error reading carries none at all (never a made-up zero).
void expect_well_formed(const MetricReading& r, const std::string& what) {
  SCOPED_TRACE(what);
  if (r.status == ReadingStatus::Ok) {
    EXPECT_FALSE(r.series.empty()) << "Ok without a series";
    for (const auto& s : r.series) EXPECT_TRUE(std::isfinite(s.value)) << labels_key(s.labels) << " = " << s.value;
  } else {
    EXPECT_TRUE(r.series.empty()) << "a reading without a usable value still carries " << r.series.size()
                                  << " series, first = " << r.series.front().value;
    EXPECT_FALSE(r.detail.empty()) << "no data / error must say why";
  }
}

TEST(PrometheusAnswer, VectorWithTwoSeriesSortedByLabelsWithSortedLabels) {
  MetricReading r = decode_file("vector_two_series.json");
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 2u);
  // The recorded metric objects list route, job, __name__, instance in that
  // order; the reading sorts them by name.
  Labels edit{{"__name__", "http_errors:ratio_rate5m"}, {"instance", "10.0.0.7:8080"}, {"job", "wiki"},
              {"route", "/wiki/edit"}};
  Labels view{{"__name__", "http_errors:ratio_rate5m"}, {"instance", "10.0.0.7:8080"}, {"job", "wiki"},
              {"route", "/wiki/view"}};
  EXPECT_EQ(r.series[0].labels, edit);
  EXPECT_DOUBLE_EQ(r.series[0].value, 0.0375);
  EXPECT_EQ(r.series[1].labels, view);
  EXPECT_DOUBLE_EQ(r.series[1].value, 0.002);
  EXPECT_TRUE(r.detail.empty()) << r.detail;
  EXPECT_TRUE(r.warnings.empty());
  expect_well_formed(r, "vector");
}

TEST(PrometheusAnswer, VectorOrderInTheAnswerDoesNotMatter) {
  // Same two series, listed the other way round.
  std::string body = R"({"status":"success","data":{"resultType":"vector","result":[
    {"metric":{"route":"/b"},"value":[1795483262.805,"2"]},
    {"metric":{"route":"/a"},"value":[1795483262.805,"1"]}]}})";
  MetricReading r = decode_prometheus_answer(200, kJson, body);
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({route="/a"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 1);
  EXPECT_EQ(labels_key(r.series[1].labels), R"({route="/b"})");
  EXPECT_DOUBLE_EQ(r.series[1].value, 2);
}

TEST(PrometheusAnswer, ScalarIsOneSeriesWithoutLabels) {
  MetricReading r = decode_file("scalar.json");
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_TRUE(r.series[0].labels.empty());
  EXPECT_DOUBLE_EQ(r.series[0].value, 42.5);
}

TEST(PrometheusAnswer, MatrixTakesTheNewestPointOfEachSeries) {
  MetricReading r = decode_file("matrix.json");
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({__name__="up",instance="10.0.0.7:8080",job="wiki"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 0);  // newest of 1, 1, 0
  EXPECT_EQ(labels_key(r.series[1].labels), R"({__name__="up",instance="10.0.0.8:8080",job="wiki"})");
  EXPECT_DOUBLE_EQ(r.series[1].value, 1);  // newest of 0, 1, 1
}

TEST(PrometheusAnswer, EmptyVectorIsNoDataNeverZero) {
  MetricReading r = decode_file("empty_vector.json");
  EXPECT_EQ(status(r), "no_data");
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, "empty")) << r.detail;
  expect_well_formed(r, "empty");
}

struct NonFinite {
  const char* file;
};
void PrintTo(const NonFinite& c, std::ostream* os) { *os << c.file; }

class PrometheusNonFinite : public ::testing::TestWithParam<NonFinite> {};

TEST_P(PrometheusNonFinite, AllValuesUnusableIsNoDataSayingWhy) {
  MetricReading r = decode_file(GetParam().file);
  EXPECT_EQ(status(r), "no_data") << r.detail;
  EXPECT_TRUE(r.series.empty()) << "value " << (r.series.empty() ? 0 : r.series[0].value);
  EXPECT_TRUE(contains(r.detail, "NaN") && contains(r.detail, "infinite")) << r.detail;
  EXPECT_FALSE(contains(r.detail, "empty")) << "a NaN is an answer, not an empty result: " << r.detail;
  expect_well_formed(r, GetParam().file);
}

INSTANTIATE_TEST_SUITE_P(Recorded, PrometheusNonFinite,
                         ::testing::Values(NonFinite{"vector_nan.json"}, NonFinite{"vector_plus_inf.json"},
                                           NonFinite{"vector_minus_inf.json"}));

TEST(PrometheusAnswer, MixedFiniteAndNaNKeepsOnlyTheFiniteSeries) {
  MetricReading r = decode_file("vector_mixed_nan.json");
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(labels_key(r.series[0].labels), R"({route="/wiki/view"})");
  EXPECT_DOUBLE_EQ(r.series[0].value, 0.25);
  EXPECT_TRUE(contains(r.detail, "1 of 2")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "NaN")) << r.detail;
  expect_well_formed(r, "mixed");
}

TEST(PrometheusAnswer, GoExponentForm) {
  MetricReading r = decode_file("vector_exponent.json");
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_DOUBLE_EQ(r.series[0].value, 1e-07);
  EXPECT_GT(r.series[0].value, 0);
}

struct ApiError {
  const char* file;
  int http;
  const char* error_type;
  const char* message_part;
};
void PrintTo(const ApiError& c, std::ostream* os) { *os << c.file; }

class PrometheusApiError : public ::testing::TestWithParam<ApiError> {};

TEST_P(PrometheusApiError, ErrorCarriesHttpStatusErrorTypeAndMessage) {
  const ApiError& c = GetParam();
  MetricReading r = decode_file(c.file, c.http);
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, std::to_string(c.http))) << r.detail;
  EXPECT_TRUE(contains(r.detail, c.error_type)) << r.detail;
  EXPECT_TRUE(contains(r.detail, c.message_part)) << r.detail;
  expect_well_formed(r, c.file);
}

INSTANTIATE_TEST_SUITE_P(
    Recorded, PrometheusApiError,
    ::testing::Values(ApiError{"error_bad_data_400.json", 400, "bad_data", "parse error: unexpected right parenthesis"},
                      ApiError{"error_execution_422.json", 422, "execution", "many-to-many matching not allowed"},
                      ApiError{"error_timeout_503.json", 503, "timeout", "query timed out in expression evaluation"}));

TEST(PrometheusAnswer, WarningsRideAlongWithValidData) {
  MetricReading r = decode_file("success_with_warnings.json");
  ASSERT_EQ(status(r), "ok") << r.detail;
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_DOUBLE_EQ(r.series[0].value, 0.5);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0], R"(remote_read: error reading from remote storage "longterm": context deadline exceeded)");
  EXPECT_EQ(r.warnings[1], "the result may be incomplete");
}

TEST(PrometheusAnswer, WarningsAreKeptOnAnErrorAnswer) {
  MetricReading r = decode_file("error_with_warnings_422.json", 422);
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(contains(r.detail, "execution")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "too many samples")) << r.detail;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "remote_read")) << r.warnings[0];
}

TEST(PrometheusAnswer, WarningsAreKeptOnEveryErrorPath) {
  // Same warning on answers rejected after the status check: a native
  // histogram and an HTTP 500 that claims success. The warning is part of
  // the evidence whatever the verdict on the answer.
  const std::string warning = R"("warnings":["remote_read: partial response"])";
  std::string histogram = recorded("native_histogram.json");
  histogram.insert(histogram.rfind('}'), "," + warning);
  MetricReading h = decode_prometheus_answer(200, kJson, histogram);
  EXPECT_EQ(status(h), "error");
  EXPECT_EQ(h.warnings, std::vector<std::string>{"remote_read: partial response"}) << "native histogram path";

  std::string success = recorded("success_http_500.json");
  success.insert(success.rfind('}'), "," + warning);
  MetricReading s = decode_prometheus_answer(500, kJson, success);
  EXPECT_EQ(status(s), "error");
  EXPECT_EQ(s.warnings, std::vector<std::string>{"remote_read: partial response"}) << "HTTP 500 despite success path";
}

TEST(PrometheusAnswer, NativeHistogramIsRejectedClearly) {
  MetricReading r = decode_file("native_histogram.json");
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, "native histogram")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "histogram_quantile")) << "should say what to do instead: " << r.detail;
}

TEST(PrometheusAnswer, NativeHistogramInARangeAnswerIsRejectedClearlyToo) {
  // A range query over a native histogram answers "histograms" instead of
  // "values". That is not a NaN: say what it is, as for the vector case.
  std::string body = R"({"status":"success","data":{"resultType":"matrix","result":[
    {"metric":{"__name__":"http_request_duration_seconds","job":"wiki"},
     "histograms":[[1795483260,{"count":"120","sum":"33.5","buckets":[[0,"0.5","0.7071067811865475","40"]]}]]}]}})";
  MetricReading r = decode_prometheus_answer(200, kJson, body);
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, "native histogram")) << r.detail;
  EXPECT_FALSE(contains(r.detail, "NaN")) << "misleading: " << r.detail;
}

TEST(PrometheusAnswer, HtmlFromAProxyIsAnErrorWithABoundedExcerpt) {
  std::string body = recorded("proxy_502_html.txt");
  ASSERT_GT(body.size(), 400u) << "the recorded page must be longer than the excerpt";
  MetricReading r = decode_prometheus_answer(502, "text/html", body);
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, "502")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "non-JSON")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "text/html")) << r.detail;
  // The excerpt shows the start of the page, escaped onto one line, and is bounded.
  auto at = r.detail.find("<!DOCTYPE html>");
  ASSERT_NE(at, std::string::npos) << r.detail;
  std::string excerpt = r.detail.substr(at);
  EXPECT_LE(excerpt.size(), 200u) << excerpt;
  EXPECT_GE(excerpt.size(), 100u) << "an excerpt too short to be useful: " << excerpt;
  EXPECT_EQ(excerpt.find('\n'), std::string::npos) << "newlines must be escaped";
  EXPECT_FALSE(contains(r.detail, "nginx/1.22.1")) << "the tail of the page should have been cut";
  EXPECT_LE(r.detail.size(), 300u);
}

TEST(PrometheusAnswer, PlainTextBodyIsAnErrorSayingNonJson) {
  MetricReading r = decode_file("plain_text.txt", 503, "text/plain");
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(contains(r.detail, "non-JSON")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "503")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "upstream connect error")) << r.detail;
  expect_well_formed(r, "plain text");
}

TEST(PrometheusAnswer, NoContentTypeIsSaid) {
  MetricReading r = decode_prometheus_answer(200, "", "");
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(contains(r.detail, "no content type")) << r.detail;
}

TEST(PrometheusAnswer, JsonThatIsNotAnObjectIsAnError) {
  MetricReading r = decode_file("not_object.json");
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(r.series.empty());
  EXPECT_TRUE(contains(r.detail, "HTTP 200")) << r.detail;
  expect_well_formed(r, "array");
}

TEST(PrometheusAnswer, SuccessButHttp500IsAnError) {
  MetricReading r = decode_file("success_http_500.json", 500);
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(r.series.empty()) << "a value in a 500 answer must not be used";
  EXPECT_TRUE(contains(r.detail, "500")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "success")) << r.detail;
  // The same body with 200 is fine: it is the status code that fails it.
  MetricReading ok = decode_file("success_http_500.json", 200);
  ASSERT_EQ(status(ok), "ok") << ok.detail;
  EXPECT_DOUBLE_EQ(ok.series.at(0).value, 1);
}

TEST(PrometheusAnswer, StringResultIsNotANumber) {
  MetricReading r =
      decode_prometheus_answer(200, kJson, R"({"status":"success","data":{"resultType":"string","result":[1795483262.8,"hello"]}})");
  EXPECT_EQ(status(r), "error");
  EXPECT_TRUE(contains(r.detail, "string")) << r.detail;
}

TEST(PrometheusAnswer, NoRecordedAnswerYieldsANumberItDoesNotHold) {
  // Sweep: whatever the file, Ok only with finite values, otherwise no series.
  const char* files[] = {"vector_two_series.json", "scalar.json",         "matrix.json",
                         "empty_vector.json",      "vector_nan.json",     "vector_plus_inf.json",
                         "vector_minus_inf.json",  "vector_mixed_nan.json", "vector_exponent.json",
                         "error_bad_data_400.json", "error_execution_422.json", "error_timeout_503.json",
                         "error_with_warnings_422.json", "success_with_warnings.json", "native_histogram.json",
                         "proxy_502_html.txt",     "plain_text.txt",      "not_object.json",
                         "success_http_500.json"};
  int ok = 0, no_data = 0, error = 0;
  for (const char* f : files) {
    for (int http : {200, 500}) {
      MetricReading r = decode_file(f, http);
      expect_well_formed(r, std::string(f) + " @" + std::to_string(http));
      if (http == 200) {
        ok += r.status == ReadingStatus::Ok;
        no_data += r.status == ReadingStatus::NoData;
        error += r.status == ReadingStatus::Error;
      } else {
        EXPECT_NE(r.status, ReadingStatus::Ok) << f << " answered with HTTP 500";
      }
    }
  }
  EXPECT_EQ(ok, 7);       // two series, scalar, matrix, mixed, exponent, warnings, success(200)
  EXPECT_EQ(no_data, 4);  // empty, NaN, +Inf, -Inf
  EXPECT_EQ(error, 8);
}

}  // namespace
}  // namespace dg::test

namespace dg {
namespace {

TEST(PrometheusAnswerMalformed, AValueThatIsNotAStringIsAnErrorNotNoData) {
  MetricReading r = decode_prometheus_answer(
      200, "application/json",
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795483262.8, 1]}]}})");
  EXPECT_EQ(r.status, ReadingStatus::Error) << r.detail;
  EXPECT_NE(r.detail.find("no readable value"), std::string::npos) << r.detail;
  MetricReading m = decode_prometheus_answer(
      200, "application/json", R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[]}]}})");
  EXPECT_EQ(m.status, ReadingStatus::Error) << m.detail;
}

}  // namespace
}  // namespace dg
