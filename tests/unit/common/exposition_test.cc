#include "common/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace replimail::exposition {
namespace {

TEST(ExpositionTest, SeriesEscapesLabelValues) {
  EXPECT_EQ(series("replimail_up", {}), "replimail_up");
  EXPECT_EQ(series("m", {{"channel", "replica"}, {"phase", "rolling"}}),
            "m{channel=\"replica\",phase=\"rolling\"}");
  EXPECT_EQ(series("m", {{"x", "a\\b\"c\nd"}}), "m{x=\"a\\\\b\\\"c\\nd\"}");
  EXPECT_EQ(series("m", {{"channel", ""}}), "m{channel=\"\"}");
  EXPECT_EQ(family_of("m{x=\"{\"}"), "m");
  EXPECT_EQ(family_of("plain"), "plain");
}

TEST(ExpositionTest, NamesFollowThePrometheusGrammar) {
  EXPECT_TRUE(valid_name("replimail_channel_backlog_lines"));
  EXPECT_TRUE(valid_name("ns:metric_1"));
  EXPECT_FALSE(valid_name("1metric"));
  EXPECT_FALSE(valid_name("has-dash"));
  EXPECT_FALSE(valid_name(""));
  EXPECT_TRUE(valid_name("channel", true));
  EXPECT_FALSE(valid_name("a:b", true));
}

TEST(ExpositionTest, ValuesAreWrittenAsPrometheusReadsThem) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(5), "5");
  EXPECT_EQ(format_value(-1), "-1");
  EXPECT_EQ(format_value(18446744073709.0), "18446744073709");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.5e300), "1.5e+300");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(ExpositionTest, RenderWritesHelpTypeAndSortedSamples) {
  std::vector<Family> families = {
      {"replimail_channel_backlog_lines",
       "Lines waiting\nin the log \\ here.",
       Type::kGauge,
       {{series("replimail_channel_backlog_lines", {{"channel", "squatter"}}), 0},
        {series("replimail_channel_backlog_lines", {{"channel", "replica"}}), 5}}},
      {"replimail_empty", "Nothing yet.", Type::kCounter, {}},
      {"replimail_deliveries_total", "", Type::kCounter, {{"replimail_deliveries_total", 3}}},
  };
  EXPECT_EQ(render(families),
            "# HELP replimail_channel_backlog_lines Lines waiting\\nin the log \\\\ here.\n"
            "# TYPE replimail_channel_backlog_lines gauge\n"
            "replimail_channel_backlog_lines{channel=\"replica\"} 5\n"
            "replimail_channel_backlog_lines{channel=\"squatter\"} 0\n"
            "# TYPE replimail_deliveries_total counter\n"
            "replimail_deliveries_total 3\n");
  EXPECT_EQ(render({}), "");
}

}  // namespace
}  // namespace replimail::exposition
