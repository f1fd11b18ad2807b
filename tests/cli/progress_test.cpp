// The CLI's progress bar against a fake clock and a captured stream: speed and ETA in the line,
// and a line that always ends (finish, or the bar destroyed by an error unwinding past it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cli/progress.hpp"

namespace bantam::cli {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = ProgressOutput::Clock;

constexpr uint64_t kMiB = 1 << 20;

struct Capture {
  std::string text;
  Clock::time_point now{};
  void advance(double seconds) {
    now += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }
  ProgressOutput output(bool terminal) {
    return {terminal, [this](const std::string& t) { text += t; }, [this] { return now; }};
  }
  // What a terminal shows last: the text after the last carriage return.
  std::string last_drawn() const { return text.substr(text.rfind('\r') + 1); }
};

TEST(Progress, DurationsReadLikeAClock) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(42), "0:42");
  EXPECT_EQ(format_duration(725), "12:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-5), "0:00");
}

TEST(Progress, BytesShowSpeedAndTimeLeftOnATerminal) {
  Capture c;
  ProgressBar bar("pulling m", c.output(true));
  bar.bytes(0, 100 * kMiB);
  c.advance(4);
  bar.bytes(50 * kMiB, 100 * kMiB);  // 12.5 MiB/s, 50 MiB to go
  EXPECT_THAT(c.last_drawn(), HasSubstr("50.0/100.0 MiB, 12.5 MiB/s, ETA 0:04"));
  EXPECT_THAT(c.last_drawn(), HasSubstr(" 50% "));
  EXPECT_THAT(c.text, Not(HasSubstr("\n")));
  c.advance(4);
  bar.bytes(100 * kMiB, 100 * kMiB);
  bar.finish("ok");
  EXPECT_THAT(c.text, EndsWith("pulling m: done in 8.0 s, ok\n"));
}

TEST(Progress, AResumedDownloadCountsOnlyTheBytesMoved) {
  Capture c;
  ProgressBar bar("pulling m", c.output(true));
  bar.bytes(90 * kMiB, 100 * kMiB);  // already on disk
  c.advance(2);
  bar.bytes(92 * kMiB, 100 * kMiB);
  EXPECT_THAT(c.last_drawn(), HasSubstr("1.0 MiB/s, ETA 0:08"));
}

TEST(Progress, RedrawsAtMostTenTimesASecondButAlwaysTheEnd) {
  Capture c;
  ProgressBar bar("q", c.output(true));
  bar.bytes(1, 100);
  bar.bytes(2, 100);  // same instant: skipped
  EXPECT_EQ(std::count(c.text.begin(), c.text.end(), '\r'), 1);
  bar.bytes(100, 100);
  EXPECT_EQ(std::count(c.text.begin(), c.text.end(), '\r'), 2);
}

TEST(Progress, AnUnfinishedBarEndsItsLineWhenDestroyed) {
  Capture c;
  {
    ProgressBar bar("pulling m", c.output(true));
    bar.bytes(10, 100);
  }  // as when an error unwinds past it
  EXPECT_THAT(c.text, EndsWith("\n"));
  EXPECT_EQ(std::count(c.text.begin(), c.text.end(), '\n'), 1);

  Capture quiet;
  { ProgressBar never_drawn("x", quiet.output(true)); }
  EXPECT_EQ(quiet.text, "");
}

TEST(Progress, FinishedBarsAddNoSecondNewline) {
  Capture c;
  {
    ProgressBar bar("q", c.output(true));
    bar.update(0.5);
    bar.finish();
  }
  EXPECT_EQ(std::count(c.text.begin(), c.text.end(), '\n'), 1);
  EXPECT_THAT(c.text, EndsWith("q: done in 0.0 s\n"));
}

TEST(Progress, WorkWithoutBytesShowsTimeLeft) {
  Capture c;
  ProgressBar bar("eval", c.output(true));
  c.advance(10);
  bar.update(0.25, "5/20");
  EXPECT_THAT(c.last_drawn(), HasSubstr("25% 5/20, ETA 0:30"));
}

TEST(Progress, LogsGetWholeLinesEveryTenPercent) {
  Capture c;
  ProgressBar bar("quantize Q8_0", c.output(false));
  bar.bytes(0, 100 * kMiB);
  for (int mib = 1; mib <= 100; ++mib) {
    c.advance(0.1);
    bar.bytes(mib * kMiB, 100 * kMiB);
  }
  bar.finish();
  EXPECT_THAT(c.text, Not(HasSubstr("\r")));
  EXPECT_EQ(std::count(c.text.begin(), c.text.end(), '\n'), 12);  // 0%, 10% ... 100%, done
  EXPECT_THAT(c.text, HasSubstr("quantize Q8_0: 50% 50.0/100.0 MiB, 10.0 MiB/s, ETA 0:05\n"));
  EXPECT_THAT(c.text, EndsWith("quantize Q8_0: done in 10.0 s\n"));
}

}  // namespace
}  // namespace bantam::cli
