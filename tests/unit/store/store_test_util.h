// A throw-away instance under a temporary directory for store tests, with
// one sync-log channel ("replica") whose lines the tests read back.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../../support/temp_dir.h"
#include "common/config.h"
#include "common/fs.h"
#include "store/instance.h"
#include "store/sqlite_db.h"
#include "synclog/line.h"
#include "synclog/synclog.h"

namespace replimail::store::testing {

inline std::string sha1_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha1(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; i++) out += fmt::format("{:02x}", md[i]);
  return out;
}

class TempInstance {
 public:
  // `extra`: imapd.conf lines added to the instance's ("delete_mode: immediate\n").
  explicit TempInstance(const std::string& extra = "") {
    root_ = replimail::testing::make_temp_dir("replimail-store-");
    auto cfg = Config::parse(fmt::format("configdirectory: {0}/conf\n"
                                         "partition-default: {0}/part\n"
                                         "partition-other: {0}/other\n"
                                         "sync_log: 1\n"
                                         "sync_log_channels: replica\n",
                                         root_) +
                                 extra,
                             "test.conf");
    EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
    cfg_ = *cfg;
    reopen();
  }
  ~TempInstance() {
    inst_.reset();
    std::filesystem::remove_all(root_);
  }

  void reopen() {
    inst_.reset();
    auto inst = Instance::open(cfg_);
    EXPECT_TRUE(inst.ok()) << inst.status().to_string();
    inst_ = std::move(*inst);
  }

  // Closes the instance (every database connection), e.g. before fork():
  // SQLite connections must not cross it. reopen() opens it again.
  void close() { inst_.reset(); }
  Instance& inst() { return *inst_; }
  const Config& cfg() const { return cfg_; }
  const std::string& root() const { return root_; }

  std::string log_path() const { return synclog::log_path(cfg_.configdirectory(), "replica"); }
  // The sync-log lines written so far (and forgets them).
  std::vector<synclog::Line> take_log() {
    auto data = fs::read_file(log_path());
    (void)fs::remove_file(log_path());  // none yet is no error
    if (!data.ok()) return {};
    return synclog::parse_log(*data).lines;
  }

  // A finished staged message holding `body`.
  std::unique_ptr<StagedMessage> stage(std::string_view body) {
    auto msg = inst_->stage_message();
    EXPECT_TRUE(msg.ok()) << msg.status().to_string();
    EXPECT_TRUE((*msg)->write(body).is_ok());
    EXPECT_TRUE((*msg)->finish().is_ok());
    return std::move(*msg);
  }

  // Delivers `body` to `mailbox`; returns its UID (0 on failure).
  uint32_t deliver(const std::string& mailbox, std::string_view body) {
    auto msg = stage(body);
    AppendRequest req;
    req.mailbox = mailbox;
    req.message = msg.get();
    auto res = inst_->append({req});
    EXPECT_TRUE(res[0].status.is_ok()) << res[0].status.to_string();
    return res[0].uid;
  }

 private:
  std::string root_;
  Config cfg_;
  std::unique_ptr<Instance> inst_;
};

// The first column of every row `sql` returns from the database at `path`,
// opened afresh (what another process would see).
inline std::vector<std::string> query_texts(const std::string& path, const std::string& sql) {
  auto db = SqliteDb::open(path);
  EXPECT_TRUE(db.ok()) << path;
  if (!db.ok()) return {};
  auto st = (*db)->prepare(sql);
  EXPECT_TRUE(st.ok()) << sql;
  if (!st.ok()) return {};
  auto rows = st->texts();
  EXPECT_TRUE(rows.ok()) << sql;
  return rows.ok() ? *rows : std::vector<std::string>{};
}

inline synclog::Line L(std::string kw, std::vector<std::string> args) {
  return synclog::Line{std::move(kw), std::move(args)};
}

}  // namespace replimail::store::testing
