// Every unit of a real Cyrus 3.6.1 sync_client <-> sync_server session
// (testdata/transcript.txt, captured by the peer harness) parses, and every
// GET/APPLY command and untagged reply prints back to the same bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "dlist/framing.h"
#include "dlist/parser.h"
#include "dlist/printer.h"

namespace replimail::dlist {
namespace {

struct Unit {
  char side;         // 'C' client, 'S' server
  std::string text;  // the bytes on the wire, without the final CRLF
  bool has_file = false;
};

// Rebuilds the units: continuation lines ("|") are literal contents joined
// by CRLF; an elision marker stands for that many bytes of the literal.
std::vector<Unit> load_units() {
  std::filesystem::path path =
      std::filesystem::path(__FILE__).parent_path() / "testdata" / "transcript.txt";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  static const std::regex head(R"(^([CS]) +[0-9.]+s [z ] (.*)$)");
  static const std::regex cont(R"(^[CS] {11}\| (.*)$)");
  static const std::regex elided(
      R"(^ *\[\.\.\. ([0-9]+) more bytes of literal elided \.\.\.\](.*)$)");
  std::vector<Unit> units;
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, head)) {
      units.push_back(Unit{m[1].str()[0], m[2].str()});
    } else if (std::regex_match(line, m, cont) && !units.empty()) {
      std::string c = m[1].str();
      std::smatch e;
      if (std::regex_match(c, e, elided)) {
        units.back().text += std::string(std::stoul(e[1].str()), 'x') + e[2].str();
      } else {
        units.back().text += "\r\n" + c;
      }
      units.back().has_file = true;
    }
  }
  return units;
}

TEST(Transcript, EveryUnitParsesAndPrintsBack) {
  std::vector<Unit> units = load_units();
  ASSERT_GE(units.size(), 50u);
  size_t printed_back = 0, files = 0;
  for (const Unit& u : units) {
    MemoryFileSink sink;
    Parser p(&sink, {}, u.side == 'S');
    std::string wire = u.text + "\r\n";
    Parser::Fed fed = p.feed(wire);
    ASSERT_EQ(fed.event, Parser::Event::kLine) << p.error().to_string() << "\n" << u.text;
    ASSERT_EQ(fed.consumed, wire.size()) << u.text;
    std::vector<Value> values = p.take_line();
    ASSERT_FALSE(values.empty());
    for (const auto& [guid, body] : sink.files()) {
      EXPECT_EQ(body.rfind("Return-Path: <", 0), 0u) << guid;
      ++files;
    }
    auto first = values[0].str();
    ASSERT_TRUE(first.has_value());
    if (u.side == 'S' && *first != "*") {
      EXPECT_TRUE(response_from(values).has_value()) << u.text;
    }
    if (u.has_file) continue;
    if (*first == "GET" || *first == "APPLY" ||
        (*first == "*" && values.size() == 3 && values[2].is_container())) {
      auto item = keyed(values, 1);
      ASSERT_TRUE(item.ok()) << u.text;
      EXPECT_EQ(std::string(*first) + " " + *item_to_wire(*item), u.text);
      ++printed_back;
    }
  }
  EXPECT_EQ(files, 5u);
  EXPECT_GE(printed_back, 15u);
}

TEST(Transcript, FileLiteralsKeepTheirHeaders) {
  for (const Unit& u : load_units()) {
    if (!u.has_file) continue;
    MemoryFileSink sink;
    auto values = parse_line(u.text, &sink);
    ASSERT_TRUE(values.ok()) << values.status().to_string();
    auto item = keyed(*values, 1);
    ASSERT_TRUE(item.ok());
    EXPECT_EQ(item->key(), "MESSAGE");
    for (const Value& f : item->children()) {
      ASSERT_TRUE(f.is_file());
      EXPECT_EQ(f.file()->partition, "default");
      EXPECT_EQ(sink.files().at(f.file()->guid).size(), f.file()->size);
      EXPECT_EQ(f.file()->path, "memory:" + f.file()->guid);
    }
  }
}

}  // namespace
}  // namespace replimail::dlist
