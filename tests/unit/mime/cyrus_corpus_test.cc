// Compares ENVELOPE, BODYSTRUCTURE, BODY and BODY[section] for every message
// of tests/data/mime/ with what Cyrus 3.6 answered for the same stored
// bytes (recorded by tests/data/mime/cyrus_expected.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "mime/message.h"

namespace replimail::mime {
namespace {

namespace fsys = std::filesystem;

fsys::path data_dir() { return fsys::path(__FILE__).parent_path() / "../../data/mime"; }

std::vector<std::string> corpus_names() {
  std::vector<std::string> names;
  for (const auto& entry : fsys::directory_iterator(data_dir())) {
    if (entry.path().extension() == ".expected") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// "ITEM <name> <length>\n<bytes>\n" records, in file order.
std::vector<std::pair<std::string, std::string>> read_expected(const std::string& name) {
  std::ifstream in(data_dir() / (name + ".expected"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  std::vector<std::pair<std::string, std::string>> items;
  size_t p = 0;
  while (p < all.size()) {
    size_t eol = all.find('\n', p);
    std::string header = all.substr(p, eol - p);
    size_t sp = header.rfind(' ');
    std::string item = header.substr(5, sp - 5);
    size_t len = std::stoul(header.substr(sp + 1));
    items.emplace_back(item, all.substr(eol + 1, len));
    p = eol + 1 + len + 1;
  }
  return items;
}

// The recorder dropped the CRLF after each literal's "{n}".
std::string as_recorded(const std::string& imap) {
  static const std::regex kLiteral(R"(\{(\d+)\}\r\n)");
  return std::regex_replace(imap, kLiteral, "{$1}");
}

class CyrusCorpus : public ::testing::TestWithParam<std::string> {};

TEST_P(CyrusCorpus, MatchesCyrus) {
  auto items = read_expected(GetParam());
  ASSERT_FALSE(items.empty());
  ASSERT_EQ(items[0].first, "STORED");
  Message m = Message::from_bytes(items[0].second);
  for (size_t i = 1; i < items.size(); ++i) {
    const auto& [item, want] = items[i];
    SCOPED_TRACE(item);
    if (item == "ENVELOPE") {
      EXPECT_EQ(as_recorded(m.envelope()), want);
    } else if (item == "BODYSTRUCTURE") {
      EXPECT_EQ(as_recorded(m.bodystructure()), want);
    } else if (item == "BODY") {
      EXPECT_EQ(as_recorded(m.body()), want);
    } else {
      ASSERT_EQ(item.rfind("BODY[", 0), 0u);
      std::string spec = item.substr(5, item.size() - 6);
      auto section = parse_section(spec);
      ASSERT_TRUE(section.ok()) << section.status().to_string();
      auto got = m.section(*section);
      if (want == "NIL") {
        EXPECT_FALSE(got.ok());
      } else {
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        std::string expected = want == "\"\"" ? "" : want;
        EXPECT_EQ(std::string(got->data()), expected);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Messages, CyrusCorpus, ::testing::ValuesIn(corpus_names()),
                         [](const auto& info) { return info.param; });

TEST(CyrusCorpusSet, HasAtLeastThirtyMessages) { EXPECT_GE(corpus_names().size(), 30u); }

TEST(MessageFile, OpenMapsTheFile) {
  auto items = read_expected("05_nested_rfc822");
  fsys::path tmp = fsys::temp_directory_path() / "replimail_mime_open_test.eml";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << items[0].second;
  }
  auto m = Message::open(tmp.string());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bytes(), items[0].second);
  EXPECT_EQ(as_recorded(m->bodystructure()), items[2].second);
  fsys::remove(tmp);
  auto missing = Message::open(tmp.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kIoError);
}

TEST(MessageFile, EmptyFileParses) {
  fsys::path tmp = fsys::temp_directory_path() / "replimail_mime_empty_test.eml";
  { std::ofstream out(tmp, std::ios::binary); }
  auto m = Message::open(tmp.string());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bodystructure(),
            R"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL))");
  EXPECT_EQ(m->envelope(), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  fsys::remove(tmp);
}

}  // namespace
}  // namespace replimail::mime
