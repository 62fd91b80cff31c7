// Replays a fuzz target's corpus without libFuzzer, so that every input that
// ever mattered (tests/fuzz/corpus/<target>/) runs in the ordinary test suite
// with the ordinary compiler. With -DREPLIMAIL_FUZZ=ON (clang) the same
// *_fuzz.cc files link with libFuzzer instead and explore new inputs.
//
//   fuzz_replay_<target> FILE_OR_DIR...
//
// Exit status 0 when every input ran; a failing input aborts (as it would
// under libFuzzer) and names itself on stderr first.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return 1;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "input %s (%zu bytes)\n", file.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int failures = 0;
  size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (!e.is_regular_file()) continue;
        failures += replay(e.path());
        ++inputs;
      }
    } else {
      failures += replay(p);
      ++inputs;
    }
  }
  std::printf("%zu inputs replayed, %d unreadable\n", inputs, failures);
  return failures == 0 && inputs > 0 ? 0 : 1;
}
