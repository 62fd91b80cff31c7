#include "../../support/temp_dir.h"
#include "common/stats.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

namespace replimail::stats {
namespace {

std::string temp_dir() {
  return replimail::testing::make_temp_dir("stats_test.");
}

std::vector<std::string> stats_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().string());
  return out;
}

std::map<std::string, Entry> by_text(const FileSnapshot& snap) {
  std::map<std::string, Entry> m;
  for (const Entry& e : snap.entries) m[e.text] = e;
  return m;
}

// Runs `fn` in a child process (the registry is per process) and waits.
template <typename Fn>
void in_child(Fn fn) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    fn();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(StatsTest, PublishedCountersAndGaugesAreReadBackAndTheDeadWriterIsSeen) {
  std::string dir = temp_dir();
  int go[2], done[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    configure_dir(dir);
    counter("replimail_test_total", "A test counter.", {{"service", "imap"}}).add(3);
    counter("replimail_test_total", "ignored: the first help wins", {{"service", "imap"}}).add();
    Gauge g = gauge("replimail_test_active", "A test gauge.");
    g.add(5);
    g.add(-7);
    char b = 'x';
    if (::write(done[1], &b, 1) != 1) ::_exit(1);
    if (::read(go[0], &b, 1) != 1) ::_exit(1);  // alive until told
    ::_exit(0);
  }
  char b;
  ASSERT_EQ(::read(done[0], &b, 1), 1);
  auto files = stats_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(files[0].ends_with(".stats")) << files[0];
  auto snap = read_file(files[0]);
  ASSERT_TRUE(snap.ok()) << snap.status().to_string();
  EXPECT_TRUE(snap->owner_alive);
  auto m = by_text(*snap);
  ASSERT_TRUE(m.contains("replimail_test_total{service=\"imap\"}"));
  EXPECT_EQ(m["replimail_test_total{service=\"imap\"}"].kind, Kind::kCounter);
  EXPECT_EQ(m["replimail_test_total{service=\"imap\"}"].value, 4u);
  EXPECT_EQ(m["replimail_test_total A test counter."].kind, Kind::kHelp);
  EXPECT_EQ(m["replimail_test_active"].kind, Kind::kGauge);
  EXPECT_EQ(static_cast<int64_t>(m["replimail_test_active"].value), -2);
  EXPECT_EQ(snap->entries.size(), 4u);  // two help slots, two series

  ASSERT_EQ(::write(go[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  auto after = read_file(files[0]);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->owner_alive);
  EXPECT_EQ(by_text(*after)["replimail_test_total{service=\"imap\"}"].value, 4u);
  std::filesystem::remove_all(dir);
}

TEST(StatsTest, WithoutConfigureNothingIsPublishedButCountsAreKept) {
  std::string dir = temp_dir();
  in_child([] {
    Counter c = counter("replimail_local_total", "Local.");
    c.add(2);
    if (counter("replimail_local_total", "Local.").value() != 2) ::_exit(1);
  });
  EXPECT_TRUE(stats_files(dir).empty());
  std::filesystem::remove_all(dir);
}

TEST(StatsTest, ASeriesTooLongForASlotCountsInMemoryOnly) {
  std::string dir = temp_dir();
  in_child([&] {
    configure_dir(dir);
    Counter c = counter("replimail_long_total", "", {{"x", std::string(kMaxSeriesLength, 'a')}});
    c.add(7);
    if (c.value() != 7) ::_exit(1);
    counter("replimail_short_total", "").add();
  });
  auto files = stats_files(dir);
  ASSERT_EQ(files.size(), 1u);
  auto snap = read_file(files[0]);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->entries.size(), 1u);
  EXPECT_EQ(snap->entries[0].text, "replimail_short_total");
  std::filesystem::remove_all(dir);
}

TEST(StatsTest, AFileThatIsNotAStatsFileIsRefused) {
  std::string dir = temp_dir();
  std::string path = dir + "/x.stats";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("hello", f);
  std::fclose(f);
  EXPECT_EQ(read_file(path).status().code(), Code::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace replimail::stats
