// Content-Transfer-Encoding decoding: quoted-printable and base64 by hand
// in one pass each, giving exactly what GMime's decoders give (its
// quoted-printable rules in full; base64 when the text is the canonical
// form, GMime itself otherwise).
#include <gmime/gmime.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>

#include "mime/message.h"

namespace replimail::mime {

namespace {

constexpr uint8_t kNotHex = 0xFF;

constexpr std::array<uint8_t, 256> hex_values() {
  std::array<uint8_t, 256> v{};
  for (auto& x : v) x = kNotHex;
  for (int c = '0'; c <= '9'; ++c) v[c] = static_cast<uint8_t>(c - '0');
  for (int c = 'A'; c <= 'F'; ++c) v[c] = static_cast<uint8_t>(c - 'A' + 10);
  for (int c = 'a'; c <= 'f'; ++c) v[c] = static_cast<uint8_t>(c - 'a' + 10);
  return v;
}
constexpr std::array<uint8_t, 256> kHex = hex_values();

constexpr uint8_t kNotBase64 = 0xFF;

constexpr std::array<uint8_t, 256> base64_values() {
  std::array<uint8_t, 256> v{};
  for (auto& x : v) x = kNotBase64;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) v[static_cast<unsigned char>(alphabet[i])] = i;
  return v;
}
constexpr std::array<uint8_t, 256> kBase64 = base64_values();

uint8_t at(std::string_view s, size_t i) { return static_cast<uint8_t>(s[i]); }

// Base64 in its canonical form: groups of four alphabet characters, line
// breaks (LF or CRLF) only between groups, the last group padded with "="
// or "==" and nothing but line breaks after it. Nullopt for anything else.
std::optional<std::string> decode_canonical_base64(std::string_view in) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  char* w = out.data();
  size_t i = 0;
  const size_t n = in.size();
  while (i < n) {
    if (in[i] == '\n' || in[i] == '\r') {
      if (in[i] == '\r' && (i + 1 == n || in[i + 1] != '\n')) return std::nullopt;
      i += in[i] == '\r' ? 2 : 1;
      continue;
    }
    if (i + 4 > n) return std::nullopt;
    uint8_t a = kBase64[at(in, i)], b = kBase64[at(in, i + 1)];
    uint8_t c = kBase64[at(in, i + 2)], d = kBase64[at(in, i + 3)];
    if (((a | b | c | d) & 0xC0) == 0) {
      uint32_t v = uint32_t{a} << 18 | uint32_t{b} << 12 | uint32_t{c} << 6 | d;
      *w++ = static_cast<char>(v >> 16);
      *w++ = static_cast<char>(v >> 8);
      *w++ = static_cast<char>(v);
      i += 4;
      continue;
    }
    // The padded last group, then line breaks only.
    if ((a | b) & 0xC0 || in[i + 3] != '=') return std::nullopt;
    uint32_t v = uint32_t{a} << 18 | uint32_t{b} << 12;
    if (in[i + 2] == '=') {
      *w++ = static_cast<char>(v >> 16);
    } else if ((c & 0xC0) == 0) {
      v |= uint32_t{c} << 6;
      *w++ = static_cast<char>(v >> 16);
      *w++ = static_cast<char>(v >> 8);
    } else {
      return std::nullopt;
    }
    for (i += 4; i < n; ++i) {
      if (in[i] != '\r' && in[i] != '\n') return std::nullopt;
    }
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return out;
}

std::string decode_with_gmime(std::string_view body, GMimeContentEncoding e) {
  GMimeEncoding state;
  g_mime_encoding_init_decode(&state, e);
  std::string out(g_mime_encoding_outlen(&state, body.size()), '\0');
  size_t n = g_mime_encoding_step(&state, body.data(), body.size(), out.data());
  out.resize(n);
  return out;
}

}  // namespace

std::string decode_quoted_printable(std::string_view in) {
  std::string out(in.size(), '\0');
  char* w = out.data();
  size_t i = 0;
  const size_t n = in.size();
  while (i < n) {
    const void* eq = std::memchr(in.data() + i, '=', n - i);
    size_t end = eq ? static_cast<size_t>(static_cast<const char*>(eq) - in.data()) : n;
    std::memcpy(w, in.data() + i, end - i);
    w += end - i;
    if (end == n) break;
    // "=" then LF is a soft line break; "=" then two characters is a byte
    // when both are hex digits, a soft line break when they are CR LF,
    // and the three characters as they are otherwise. An "=" with less
    // after it at the end is dropped.
    if (end + 1 < n && in[end + 1] == '\n') {
      i = end + 2;
      continue;
    }
    if (end + 2 >= n) break;
    uint8_t hi = kHex[at(in, end + 1)], lo = kHex[at(in, end + 2)];
    if (hi != kNotHex && lo != kNotHex) {
      *w++ = static_cast<char>(hi << 4 | lo);
    } else if (!(in[end + 1] == '\r' && in[end + 2] == '\n')) {
      std::memcpy(w, in.data() + end, 3);
      w += 3;
    }
    i = end + 3;
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return out;
}

std::string decode_base64(std::string_view in) {
  if (auto out = decode_canonical_base64(in)) return std::move(*out);
  return decode_with_gmime(in, GMIME_CONTENT_ENCODING_BASE64);
}

std::optional<std::string> decode_transfer_encoding(std::string_view body,
                                                    const std::optional<std::string>& encoding) {
  if (!encoding || *encoding == "7BIT" || *encoding == "8BIT" || *encoding == "BINARY") {
    return std::string(body);
  }
  if (*encoding == "BASE64") return decode_base64(body);
  if (*encoding == "QUOTED-PRINTABLE") return decode_quoted_printable(body);
  return std::nullopt;
}

}  // namespace replimail::mime
