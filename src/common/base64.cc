#include "common/base64.h"

#include <array>
#include <cstdint>

namespace replimail {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Each byte's 6-bit value, or kNotInAlphabet for a byte outside the alphabet.
constexpr uint8_t kNotInAlphabet = 0xff;
constexpr std::array<uint8_t, 256> make_values() {
  std::array<uint8_t, 256> v{};
  v.fill(kNotInAlphabet);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    v[static_cast<unsigned char>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  return v;
}
constexpr std::array<uint8_t, 256> kValues = make_values();

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    size_t n = bytes.size() - i < 3 ? bytes.size() - i : 3;
    uint32_t acc = 0;
    for (size_t j = 0; j < 3; ++j) {
      acc <<= 8;
      if (j < n) acc |= static_cast<unsigned char>(bytes[i + j]);
    }
    out.push_back(kAlphabet[(acc >> 18) & 63]);
    out.push_back(kAlphabet[(acc >> 12) & 63]);
    out.push_back(n > 1 ? kAlphabet[(acc >> 6) & 63] : '=');
    out.push_back(n > 2 ? kAlphabet[acc & 63] : '=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text == "=") return std::string();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    uint32_t acc = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      uint8_t v = 0;
      if (c == '=') {
        // Padding: only in the last quantum's last two places.
        if (!last || j < 2) return std::nullopt;
        ++pad;
      } else {
        v = kValues[static_cast<unsigned char>(c)];
        if (v == kNotInAlphabet || pad > 0) return std::nullopt;
      }
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out.push_back(static_cast<char>((acc >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((acc >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(acc & 0xff));
  }
  return out;
}

}  // namespace replimail
