#include "dlist/value.h"

#include <cassert>
#include <cctype>
#include <charconv>

#include "common/ascii.h"

namespace replimail::dlist {

namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

bool is_guid(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!is_hex(c)) return false;
  }
  return true;
}

Value Value::atom(std::string s) {
  Value v;
  v.kind_ = Kind::kAtom;
  v.text_ = std::move(s);
  return v;
}

Value Value::literal(std::string s) {
  Value v;
  v.kind_ = Kind::kLiteral;
  v.text_ = std::move(s);
  return v;
}

Value Value::flag(std::string s) {
  Value v;
  v.kind_ = Kind::kFlag;
  v.text_ = std::move(s);
  return v;
}

Value Value::num(uint64_t n) {
  Value v;
  v.kind_ = Kind::kNum;
  v.text_ = std::to_string(n);
  return v;
}

Value Value::hex64(uint64_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  Value v;
  v.kind_ = Kind::kHex64;
  v.text_.assign(16, '0');
  for (int i = 15; i >= 0; --i, n >>= 4) v.text_[static_cast<size_t>(i)] = kDigits[n & 0xf];
  return v;
}

Value Value::guid(std::string_view g) {
  assert(is_guid(g));
  Value v;
  v.kind_ = Kind::kGuid;
  v.text_ = to_lower(g);
  return v;
}

Value Value::list() {
  Value v;
  v.kind_ = Kind::kList;
  return v;
}

Value Value::kvlist() {
  Value v;
  v.kind_ = Kind::kKvList;
  return v;
}

Value Value::file(FileRef ref) {
  Value v;
  v.kind_ = Kind::kFile;
  ref.guid = to_lower(ref.guid);
  v.file_ = std::move(ref);
  return v;
}

std::optional<std::string_view> Value::str() const {
  if (!is_scalar()) return std::nullopt;
  return std::string_view(text_);
}

std::optional<uint64_t> Value::num() const {
  if (!is_scalar() || kind_ == Kind::kHex64 || kind_ == Kind::kGuid || text_.empty()) {
    return std::nullopt;
  }
  uint64_t n = 0;
  const char* end = text_.data() + text_.size();
  auto [p, ec] = std::from_chars(text_.data(), end, n);
  if (ec != std::errc() || p != end) return std::nullopt;
  return n;
}

std::optional<uint32_t> Value::num32() const {
  auto n = num();
  if (!n || *n > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*n);
}

std::optional<uint64_t> Value::hex64() const {
  if (!is_scalar() || text_.empty() || text_.size() > 16) return std::nullopt;
  uint64_t n = 0;
  const char* end = text_.data() + text_.size();
  auto [p, ec] = std::from_chars(text_.data(), end, n, 16);
  if (ec != std::errc() || p != end) return std::nullopt;
  return n;
}

std::optional<std::string> Value::guid() const {
  if (!is_scalar() || !is_guid(text_)) return std::nullopt;
  return to_lower(text_);
}

Value& Value::push(Value v) {
  assert(is_list());
  v.key_.clear();
  children_.push_back(std::move(v));
  return children_.back();
}

Value& Value::add(std::string key, Value v) {
  assert(is_kvlist());
  v.key_ = std::move(key);
  children_.push_back(std::move(v));
  return children_.back();
}

const Value* Value::find(std::string_view key) const {
  if (!is_kvlist()) return nullptr;
  for (const auto& c : children_) {
    if (c.key_ == key) return &c;
  }
  return nullptr;
}

std::optional<std::string_view> Value::find_str(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->str() : std::nullopt;
}

std::optional<uint64_t> Value::find_num(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->num() : std::nullopt;
}

std::string debug_string(const Value& v) {
  std::string out;
  if (!v.key().empty()) out += v.key() + "=";
  switch (v.kind()) {
    case Value::Kind::kNil:
      return out + "NIL";
    case Value::Kind::kLiteral:
      return out + "{" + std::to_string(v.str()->size()) + " bytes}";
    case Value::Kind::kFile: {
      const FileRef* f = v.file();
      return out + "%{" + f->partition + " " + f->guid + " " + std::to_string(f->size) + "}";
    }
    case Value::Kind::kList:
    case Value::Kind::kKvList: {
      out += v.is_kvlist() ? "%(" : "(";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += " ";
        out += debug_string(v.children()[i]);
      }
      return out + ")";
    }
    default:
      return out + "'" + std::string(*v.str()) + "'";
  }
}

}  // namespace replimail::dlist
