#include "dlist/parser.h"

#include <algorithm>

namespace replimail::dlist {

namespace {

constexpr size_t kMaxFileHeader = 1200;
constexpr size_t kMaxSizeDigits = 20;

bool ends_atom(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == ')' || c == '"';
}

// "123" -> 123; nullopt if empty, not all digits, or over `max`.
std::optional<uint64_t> parse_size(std::string_view s, uint64_t max) {
  if (s.empty() || s.size() > kMaxSizeDigits) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  if (n > max) return std::nullopt;
  return n;
}

}  // namespace

Status MemoryFileSink::begin(const FileRef& ref) {
  guid_ = ref.guid;
  data_.clear();
  return Status::success();
}

Status MemoryFileSink::write(std::string_view bytes) {
  data_.append(bytes);
  return Status::success();
}

Result<std::string> MemoryFileSink::finish() {
  files_[guid_] = std::move(data_);
  data_.clear();
  return "memory:" + guid_;
}

void MemoryFileSink::discard() { data_.clear(); }

Parser::Parser(FileSink* sink, Limits limits, bool status_lines)
    : sink_(sink), limits_(limits), status_lines_(status_lines) {
  reset();
}

Parser::~Parser() {
  if (file_open_) sink_->discard();
}

void Parser::reset() {
  st_ = St::kSep;
  stack_.clear();
  stack_.push_back(Frame{Value::list(), std::nullopt});
  token_.clear();
  values_ = 0;
  held_ = 0;
  prev_ = 0;
  mid_line_ = false;
  failed_ = false;
  skipped_ = 0;
}

bool Parser::expecting_key() const {
  const Frame& f = stack_.back();
  return f.value.is_kvlist() && !f.key;
}

bool Parser::hold(size_t n) {
  held_ += n;
  if (held_ > limits_.max_line_memory) {
    fail("line holds too much data");
    return false;
  }
  return true;
}

void Parser::fail(std::string message) {
  if (file_open_) sink_->discard();
  file_open_ = false;
  if (!failed_) error_ = Status(Code::kProtocolError, std::move(message));
  failed_ = true;
  st_ = St::kSkip;
  stack_.resize(1);
  stack_[0].value.children().clear();
  token_.clear();
}

void Parser::fail_skip(std::string message, uint64_t body) {
  fail(std::move(message));
  remaining_ = body;
  seen_cr_ = false;
  st_ = St::kSkipEol;
}

bool Parser::may_skip(uint64_t body) {
  if (body <= limits_.max_skip - std::min(skipped_, limits_.max_skip)) {
    skipped_ += body;
    return true;
  }
  if (!failed_) fail("literal too large to skip");
  error_ = Status(Code::kProtocolError, error_.message() + " (literal of " + std::to_string(body) +
                                            " bytes not skipped: connection must close)");
  lost_ = true;
  return false;
}

void Parser::stream_members(std::string key, MemberSink* sink) {
  member_key_ = std::move(key);
  member_sink_ = sink;
}

void Parser::complete(Value v) {
  if (++values_ > limits_.max_values) {
    fail("too many values in line");
    return;
  }
  Frame& f = stack_.back();
  if (f.streamed && member_sink_->member(stack_[0].value.children(), stack_[1].value, v)) {
    values_ = stream_values_;
    held_ = stream_held_;
    st_ = St::kAfterValue;
    return;
  }
  if (f.value.is_kvlist() && !f.key) {
    auto k = v.str();
    if (!k && !v.is_nil()) {
      fail("kvlist key must be a string");
      return;
    }
    f.key = k ? std::string(*k) : std::string("NIL");
  } else if (f.value.is_kvlist()) {
    f.value.add(std::move(*f.key), std::move(v));
    f.key.reset();
  } else {
    f.value.push(std::move(v));
  }
  st_ = St::kAfterValue;
}

bool Parser::open(Value container) {
  if (expecting_key()) {
    fail("kvlist key must be a string");
    return false;
  }
  if (stack_.size() > limits_.max_depth) {
    fail("dlist nested too deeply");
    return false;
  }
  // The streamed list: a list value of key member_key_ in a kvlist that is
  // a value of the line (stack_[0] is the line itself).
  bool streamed = member_sink_ != nullptr && container.is_list() && stack_.size() == 2 &&
                  stack_[1].value.is_kvlist() && stack_[1].key == member_key_;
  stack_.push_back(Frame{std::move(container), std::nullopt, streamed});
  if (streamed) {
    stream_values_ = values_;
    stream_held_ = held_;
  }
  st_ = St::kSep;
  return true;
}

void Parser::close() {
  if (top()) {
    fail("unexpected ')'");
    return;
  }
  if (stack_.back().key) {
    fail("kvlist key without value");
    return;
  }
  Value v = std::move(stack_.back().value);
  stack_.pop_back();
  complete(std::move(v));
}

bool Parser::status_word_here() const {
  if (!status_lines_ || !top()) return false;
  const auto& items = stack_[0].value.children();
  if (items.size() == 2) {
    if (!items[0].str()) return false;
  } else if (items.size() != 1) {
    return false;
  }
  auto w = items.back().str();
  return items.back().kind() == Value::Kind::kAtom &&
         (*w == "OK" || *w == "NO" || *w == "BAD" || *w == "BYE");
}

void Parser::finish_atom() {
  if (flag_) {
    if (token_.size() < 2) {
      fail("empty flag");
      return;
    }
    complete(Value::flag(std::move(token_)));
  } else if (token_ == "NIL") {
    complete(Value::nil());
  } else {
    complete(Value::atom(std::move(token_)));
  }
  token_.clear();
}

void Parser::finish_file_header() {
  // partition SP guid SP size; the partition is an atom or quoted string.
  std::string_view h(token_);
  std::string partition;
  if (!h.empty() && h[0] == '"') {
    size_t i = 1;
    for (; i < h.size() && h[i] != '"'; ++i) {
      if (h[i] == '\\' && i + 1 < h.size()) ++i;
      partition.push_back(h[i]);
    }
    if (i >= h.size()) {
      fail("bad file literal partition");
      return;
    }
    h.remove_prefix(i + 1);
  } else {
    size_t sp = h.find(' ');
    partition = std::string(h.substr(0, sp));
    h.remove_prefix(sp == std::string_view::npos ? h.size() : sp);
  }
  size_t sp2 = h.size() > 1 ? h.find(' ', 1) : std::string_view::npos;
  if (partition.empty() || h.empty() || h[0] != ' ' || sp2 == std::string_view::npos) {
    fail("bad file literal header");
    return;
  }
  std::string_view guid = h.substr(1, sp2 - 1);
  std::string_view size_text = h.substr(sp2 + 1);
  auto size = parse_size(size_text, UINT64_MAX);
  if (!size) {
    fail("bad file literal size");
    return;
  }
  if (*size > limits_.max_file) {
    fail_skip("file literal too large", *size);
    return;
  }
  if (!is_guid(guid)) {
    fail_skip("bad file literal guid", *size);
    return;
  }
  if (!sink_) {
    fail_skip("file literal not accepted here", *size);
    return;
  }
  file_ = FileRef{std::move(partition), std::string(guid), *size, ""};
  for (char& c : file_.guid) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  token_.clear();
  seen_cr_ = false;
  st_ = St::kFileEol;
}

Parser::Fed Parser::feed(std::string_view data) {
  if (lost_) return Fed{Event::kBadLine, data.size()};
  size_t i = 0;
  const size_t n = data.size();
  while (i < n) {
    if (lost_) {
      reset();
      return Fed{Event::kBadLine, i};
    }
    mid_line_ = true;
    std::optional<Event> end = step(data, i);
    if (!end) continue;
    // data[i] is the LF that ended the line.
    ++i;
    if (*end == Event::kLine) line_ = std::move(stack_[0].value.children());
    reset();
    return Fed{*end, i};
  }
  if (lost_) {
    reset();
    return Fed{Event::kBadLine, n};
  }
  return Fed{Event::kNeedMore, n};
}

std::optional<Parser::Event> Parser::step(std::string_view data, size_t& i) {
  const char c = data[i];
  switch (st_) {
    case St::kSep:
    case St::kAfterValue:
      return on_separator(c, i);
    case St::kCr:
      if (c == '\n') return Event::kLine;
      fail("CR without LF");
      break;
    case St::kAtom:
      take_run(data, i, [](char ch) { return !ends_atom(ch); });
      if (i < data.size()) on_atom(data[i], i);
      break;
    case St::kText:
      return on_text(c, i);
    case St::kQuoted:
      take_run(data, i, [](char ch) { return ch != '"' && ch != '\\' && ch != '\r' && ch != '\n'; });
      if (i < data.size()) on_quoted(data[i], i);
      break;
    case St::kQuotedEsc:
      on_quoted(c, i);
      break;
    case St::kPercent:
      on_percent(c, i);
      break;
    case St::kLitHeader:
      on_literal_header(c, i);
      break;
    case St::kLitEol:
    case St::kFileEol:
      on_literal_eol(c, i);
      break;
    case St::kLitBody:
    case St::kFileBody:
      on_body(data, i);
      break;
    case St::kFileHeader:
      on_file_header(c, i);
      break;
    case St::kSkip:
      return on_skip(c, i);
    case St::kSkipHeader:
      return on_skip_header(c, i);
    case St::kSkipEol:
      on_skip_eol(c, i);
      break;
    case St::kSkipBody:
      on_skip_body(data, i);
      break;
  }
  return std::nullopt;
}

template <typename Plain>
void Parser::take_run(std::string_view data, size_t& i, Plain plain) {
  // As many bytes as the per-byte path would have taken before its next
  // check could fail: up to the token limit and the line's memory limit.
  size_t room = limits_.max_token > token_.size() ? limits_.max_token - token_.size() : 0;
  room = std::min(room, limits_.max_line_memory > held_ ? limits_.max_line_memory - held_ : 0);
  size_t j = i;
  const size_t end = i + std::min(room, data.size() - i);
  while (j < end && plain(data[j])) ++j;
  if (j == i) return;
  token_.append(data.data() + i, j - i);
  held_ += j - i;
  i = j;
}

std::optional<Parser::Event> Parser::on_separator(char c, size_t& i) {
  if (c == ' ' || c == '\t') {
    st_ = St::kSep;
    ++i;
  } else if (c == '\r' || c == '\n') {
    // Inside a list a line break separates values; at the top it ends the line.
    if (top() && c == '\n') return Event::kLine;
    st_ = top() ? St::kCr : St::kSep;
    ++i;
  } else if (c == ')') {
    ++i;
    close();
  } else if (st_ == St::kAfterValue) {
    fail("garbage after value");
  } else {
    ++i;
    start_value(c);
  }
  return std::nullopt;
}

void Parser::start_value(char c) {
  switch (c) {
    case '(':
      open(Value::list());
      break;
    case '%':
      st_ = St::kPercent;
      break;
    case '{':
      token_.clear();
      plus_ = false;
      st_ = St::kLitHeader;
      break;
    case '"':
      token_.clear();
      st_ = St::kQuoted;
      break;
    default:
      token_.assign(1, c);
      flag_ = c == '\\';
      st_ = St::kAtom;
  }
}

void Parser::on_atom(char c, size_t& i) {
  if (ends_atom(c)) {
    finish_atom();
    if (st_ == St::kAfterValue && c == ' ' && status_word_here()) {
      ++i;
      token_.clear();
      st_ = St::kText;
    }
  } else if (token_.size() >= limits_.max_token) {
    fail("atom too long");
  } else if (hold(1)) {
    token_.push_back(c);
    ++i;
  }
}

std::optional<Parser::Event> Parser::on_text(char c, size_t& i) {
  if (c == '\n') {
    if (!token_.empty() && token_.back() == '\r') token_.pop_back();
    stack_[0].value.push(Value::atom(std::move(token_)));
    token_.clear();
    return Event::kLine;
  }
  if (token_.size() >= limits_.max_token) {
    fail("status text too long");
  } else if (hold(1)) {
    token_.push_back(c);
    ++i;
  }
  return std::nullopt;
}

void Parser::on_quoted(char c, size_t& i) {
  if (c == '\r' || c == '\n') {
    fail("unterminated quoted string");
  } else if (st_ == St::kQuotedEsc) {
    if (hold(1)) {
      token_.push_back(c);
      ++i;
      st_ = St::kQuoted;
    }
  } else if (c == '"') {
    ++i;
    Value v = Value::atom(std::move(token_));
    token_.clear();
    complete(std::move(v));
  } else if (token_.size() >= limits_.max_token) {
    fail("quoted string too long");
  } else if (c == '\\') {
    ++i;
    st_ = St::kQuotedEsc;
  } else if (hold(1)) {
    token_.push_back(c);
    ++i;
  }
}

void Parser::on_percent(char c, size_t& i) {
  if (c == '(') {
    ++i;
    open(Value::kvlist());
  } else if (c == '{') {
    ++i;
    if (expecting_key()) {
      // The header and body that follow must still be skipped whole.
      fail("kvlist key must be a string");
      skip_file_header_ = true;
      st_ = St::kSkipHeader;
    } else {
      token_.clear();
      st_ = St::kFileHeader;
    }
  } else {
    fail("'%' not followed by '(' or '{'");
  }
}

void Parser::on_literal_header(char c, size_t& i) {
  if (c >= '0' && c <= '9' && !plus_ && token_.size() < kMaxSizeDigits) {
    token_.push_back(c);
    ++i;
  } else if (c == '+' && !plus_) {
    plus_ = true;
    ++i;
  } else if (c == '}') {
    ++i;
    auto size = parse_size(token_, UINT64_MAX);
    if (!size) {
      fail("bad literal size");
    } else if (*size > limits_.max_literal) {
      fail_skip("literal too large", *size);
    } else {
      remaining_ = *size;
      seen_cr_ = false;
      token_.clear();
      st_ = St::kLitEol;
    }
  } else {
    fail("bad literal");
  }
}

void Parser::on_literal_eol(char c, size_t& i) {
  if (c == '\r' && !seen_cr_) {
    seen_cr_ = true;
    ++i;
    return;
  }
  if (c != '\n') return fail("literal size not followed by a line break");
  ++i;
  if (st_ == St::kFileEol) return open_file();
  if (held_ + remaining_ > limits_.max_line_memory) {
    fail_skip("line holds too much data", remaining_);
    if (may_skip(remaining_)) st_ = St::kSkipBody;
    return;
  }
  held_ += remaining_;
  token_.reserve(remaining_);
  st_ = St::kLitBody;
  // A zero-length body is complete without another byte.
  if (remaining_ == 0) end_literal();
}

void Parser::open_file() {
  Status s = sink_->begin(file_);
  if (!s) {
    fail_skip(s.to_string(), file_.size);
    if (may_skip(file_.size)) st_ = St::kSkipBody;
    return;
  }
  file_open_ = true;
  st_ = St::kFileBody;
  remaining_ = file_.size;
  if (remaining_ == 0) end_file();
}

void Parser::on_body(std::string_view data, size_t& i) {
  size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
  std::string_view chunk = data.substr(i, take);
  i += take;
  remaining_ -= take;
  if (st_ == St::kLitBody) {
    token_.append(chunk);
    if (remaining_ == 0) end_literal();
    return;
  }
  if (Status s = sink_->write(chunk); !s) {
    uint64_t left = remaining_;
    fail(s.to_string());
    remaining_ = left;
    if (may_skip(left)) st_ = St::kSkipBody;
    return;
  }
  if (remaining_ == 0) end_file();
}

void Parser::end_literal() {
  Value v = Value::literal(std::move(token_));
  token_.clear();
  complete(std::move(v));
}

void Parser::end_file() {
  file_open_ = false;
  auto path = sink_->finish();
  if (!path) return fail(path.status().to_string());
  file_.path = *path;
  complete(Value::file(std::move(file_)));
}

void Parser::on_file_header(char c, size_t& i) {
  if (c == '}') {
    ++i;
    finish_file_header();
  } else if (c == '\r' || c == '\n' || token_.size() >= kMaxFileHeader) {
    fail("bad file literal header");
  } else {
    token_.push_back(c);
    ++i;
  }
}

// Error recovery (kSkip...): find the end of the line without mistaking the
// bytes of a literal or file literal for it.

std::optional<Parser::Event> Parser::on_skip(char c, size_t& i) {
  if (c == '\n') return Event::kBadLine;
  if (c == '{') {
    skip_file_header_ = prev_ == '%';
    token_.clear();
    st_ = St::kSkipHeader;
  }
  prev_ = c;
  ++i;
  return std::nullopt;
}

std::optional<Parser::Event> Parser::on_skip_header(char c, size_t& i) {
  if (c == '\n') return Event::kBadLine;
  ++i;
  if (c != '}') {
    token_.push_back(c);
    if (token_.size() > kMaxFileHeader) st_ = St::kSkip;
    return std::nullopt;
  }
  std::string_view h(token_);
  if (skip_file_header_) {
    size_t sp = h.rfind(' ');
    h = sp == std::string_view::npos ? std::string_view() : h.substr(sp + 1);
  } else if (!h.empty() && h.back() == '+') {
    h.remove_suffix(1);
  }
  auto size = parse_size(h, UINT64_MAX);
  token_.clear();
  if (size) {
    remaining_ = *size;
    seen_cr_ = false;
    st_ = St::kSkipEol;
  } else {
    st_ = St::kSkip;
  }
  return std::nullopt;
}

void Parser::on_skip_eol(char c, size_t& i) {
  if (c == '\r' && !seen_cr_) {
    seen_cr_ = true;
    ++i;
  } else if (c == '\n') {
    ++i;
    if (may_skip(remaining_)) st_ = remaining_ ? St::kSkipBody : St::kSkip;
  } else {
    st_ = St::kSkip;
  }
}

void Parser::on_skip_body(std::string_view data, size_t& i) {
  size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
  i += take;
  remaining_ -= take;
  if (remaining_ == 0) {
    prev_ = 0;
    st_ = St::kSkip;
  }
}

std::vector<Value> Parser::take_line() { return std::move(line_); }

Result<std::vector<Value>> parse_line(std::string_view bytes, FileSink* sink, Limits limits) {
  Parser p(sink, limits);
  std::string owned;
  if (bytes.empty() || bytes.back() != '\n') {
    owned.assign(bytes);
    owned += "\r\n";
    bytes = owned;
  }
  Parser::Fed fed = p.feed(bytes);
  if (fed.event == Parser::Event::kBadLine) return p.error();
  if (fed.event == Parser::Event::kNeedMore) {
    return Status(Code::kProtocolError, "incomplete dlist line");
  }
  if (fed.consumed != bytes.size()) return Status(Code::kProtocolError, "bytes after dlist line");
  return p.take_line();
}

Result<Value> keyed(std::vector<Value> values, size_t at) {
  if (values.size() != at + 2) {
    return Status(Code::kProtocolError,
                  values.size() < at + 2 ? "missing dlist value" : "garbage after dlist value");
  }
  const Value& key = values[at];
  if (key.kind() != Value::Kind::kAtom && key.kind() != Value::Kind::kLiteral) {
    return Status(Code::kProtocolError, "dlist key must be a string");
  }
  Value v = std::move(values[at + 1]);
  v.set_key(std::string(*key.str()));
  return v;
}

}  // namespace replimail::dlist
