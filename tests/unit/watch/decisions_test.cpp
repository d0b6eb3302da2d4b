// /api/v1/decisions reads pages of the journal without walking it from the
// start: across sealed segments, by seq, and the newest records.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/journal/journal.h"
#include "agent/watch/api.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

std::vector<long long> seqs(const boost::json::array& a) {
  std::vector<long long> out;
  for (const auto& r : a) out.push_back(r.as_object().at("seq").as_int64());
  return out;
}

TEST(Decisions, PagesBySeqAcrossSegmentsAndTheNewest) {
  test::TempDir dir;
  FakeClock clock;
  std::string path = dir.file("journal.jsonl");
  {
    auto j = Journal::open(path, clock, nullptr, JournalOptions{.max_segment_bytes = 4096});
    ASSERT_TRUE(j);
    for (int i = 0; i < 200; ++i) ASSERT_TRUE((*j)->append("note", {{"data", {{"i", i}}}}));
  }
  ASSERT_GT(journal_files(path).size(), 3u) << "the test needs sealed segments";
  EXPECT_EQ(seqs(journal_records_since(path, 150, 10)),
            (std::vector<long long>{151, 152, 153, 154, 155, 156, 157, 158, 159, 160}));
  EXPECT_EQ(seqs(journal_records_since(path, 0, 3)), (std::vector<long long>{1, 2, 3}));
  EXPECT_EQ(seqs(journal_records_since(path, -1, 4)), (std::vector<long long>{197, 198, 199, 200}));
  EXPECT_TRUE(journal_records_since(path, 200, 10).empty());
  EXPECT_EQ(seqs(journal_records_since(path, 195, 100)), (std::vector<long long>{196, 197, 198, 199, 200}));
}

}  // namespace
}  // namespace dg
