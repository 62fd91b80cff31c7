// libFuzzer entry point for the dlist parser: `tests/fuzz/run dlist 600`
// fuzzes for ten minutes; the ordinary test suite replays its corpus.
//
// Each input is fed twice, whole and in small chunks (chunk sizes taken from
// the first byte); the two runs must agree, and every parsed line without
// file literals must print and parse back to values that print the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dlist/parser.h"
#include "dlist/printer.h"

namespace {

using replimail::dlist::Limits;
using replimail::dlist::MemoryFileSink;
using replimail::dlist::Parser;
using replimail::dlist::Value;

struct Outcome {
  std::vector<std::vector<Value>> lines;
  size_t errors = 0;
};

Outcome run(std::string_view data, size_t step) {
  Limits lim;
  lim.max_literal = 1 << 16;
  lim.max_file = 1 << 16;
  lim.max_line_memory = 1 << 20;
  MemoryFileSink sink;
  Parser p(&sink, lim, data.size() % 2 == 1);
  Outcome out;
  for (size_t pos = 0; pos < data.size(); pos += step) {
    std::string_view chunk = data.substr(pos, step);
    while (!chunk.empty()) {
      Parser::Fed f = p.feed(chunk);
      if (f.event == Parser::Event::kLine) out.lines.push_back(p.take_line());
      if (f.event == Parser::Event::kBadLine) ++out.errors;
      chunk.remove_prefix(f.consumed);
    }
  }
  return out;
}

bool has_file(const Value& v) {
  if (v.is_file()) return true;
  for (const auto& c : v.children()) {
    if (has_file(c)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  size_t step = 1 + static_cast<size_t>(bytes[0] % 13);
  Outcome whole = run(data, data.size());
  Outcome chunked = run(data, step);
  if (whole.lines != chunked.lines || whole.errors != chunked.errors) std::abort();
  for (const auto& line : whole.lines) {
    bool files = false;
    for (const auto& v : line) files = files || has_file(v);
    if (files) continue;
    std::string text;
    for (const auto& v : line) {
      auto w = replimail::dlist::to_wire(v);
      if (!w.ok()) std::abort();
      if (!text.empty()) text += ' ';
      text += *w;
    }
    auto back = replimail::dlist::parse_line(text + "\r\n");
    if (!back.ok() || back->size() != line.size()) std::abort();
    for (size_t i = 0; i < line.size(); ++i) {
      if (*replimail::dlist::to_wire((*back)[i]) != *replimail::dlist::to_wire(line[i])) {
        std::abort();
      }
    }
  }
  return 0;
}
