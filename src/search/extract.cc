#include "search/extract.h"

#include <gmime/gmime.h>

#include <cctype>
#include <mutex>

#include "common/ascii.h"

namespace replimail::search {
namespace {

constexpr std::array<std::pair<std::string_view, Field>, 6> kHeaderFields = {{
    {"from", Field::kFrom},
    {"to", Field::kTo},
    {"cc", Field::kCc},
    {"bcc", Field::kBcc},
    {"subject", Field::kSubject},
    {"message-id", Field::kMessageId},
}};

// A parameter value as UTF-8: RFC 2231 values arrive decoded by the parser;
// RFC 2047 words (which many mailers put in names anyway) are decoded here.
std::string decode_name(const std::string& raw) {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
  gchar* d = g_mime_utils_header_decode_text(nullptr, raw.c_str());
  std::string out = d ? d : raw;
  g_free(d);
  if (!g_utf8_validate(out.data(), static_cast<gssize>(out.size()), nullptr)) {
    gchar* v = g_utf8_make_valid(out.data(), static_cast<gssize>(out.size()));
    out = v;
    g_free(v);
  }
  return out;
}

const std::string* param(const mime::Params& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name && !v.empty()) return &v;
  }
  return nullptr;
}

void collect_names(const mime::Part& p, std::vector<std::string>& out) {
  const std::string* name = param(p.disposition_params, "FILENAME");
  if (!name) name = param(p.params, "NAME");
  if (name) out.push_back(decode_name(*name));
  for (const mime::Part& c : p.children) collect_names(c, out);
}

}  // namespace

std::string_view field_prefix(Field field) {
  switch (field) {
    case Field::kHeaders:
      return "XH";
    case Field::kBody:
      return "XY";
    case Field::kFrom:
      return "XF";
    case Field::kTo:
      return "XT";
    case Field::kCc:
      return "XC";
    case Field::kBcc:
      return "XB";
    case Field::kSubject:
      return "XS";
    case Field::kMessageId:
      return "XM";
    case Field::kAttachmentName:
      return "XA";
  }
  return "XH";
}

std::optional<Field> header_field(std::string_view name) {
  for (const auto& [n, f] : kHeaderFields) {
    if (iequals(n, name)) return f;
  }
  return std::nullopt;
}

bool is_address_field(Field field) {
  return field == Field::kFrom || field == Field::kTo || field == Field::kCc || field == Field::kBcc;
}

std::vector<std::string> attachment_names(const mime::Message& message) {
  std::vector<std::string> out;
  collect_names(message.root(), out);
  return out;
}

Extracted extract(const mime::Message& message) {
  Extracted e;
  auto put = [&](Field f, const std::string& text) {
    e.values[static_cast<size_t>(f)].push_back(mime::search_fold(text));
  };
  put(Field::kHeaders, message.header_text());
  std::string body = message.body_text();
  put(Field::kBody, body);
  for (const auto& [name, f] : kHeaderFields) {
    for (const std::string& v : message.header_values(name)) put(f, v);
  }
  for (const std::string& n : attachment_names(message)) put(Field::kAttachmentName, n);
  for (const std::string& s : message.header_values("subject")) {
    e.words += s;
    e.words += '\n';
  }
  e.words += body;
  return e;
}

}  // namespace replimail::search
