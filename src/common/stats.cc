#include "common/stats.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include "common/fs.h"

namespace replimail::stats {
namespace {

// The file: slot 0 is the header (magic, slot size, slot count), slots 1..
// are metrics. A slot: value (8 bytes), kind (4), text length (4), text.
constexpr char kMagic[8] = {'R', 'M', 'S', 'T', 'A', 'T', 'S', '1'};
constexpr size_t kFileSize = kSlots * kSlotSize;

struct SlotView {
  uint64_t* value;
  uint32_t* kind;
  uint32_t* length;
  char* text;
};

SlotView slot_at(char* base, size_t i) {
  char* p = base + i * kSlotSize;
  return {reinterpret_cast<uint64_t*>(p), reinterpret_cast<uint32_t*>(p + 8),
          reinterpret_cast<uint32_t*>(p + 12), p + 16};
}

class Registry {
 public:
  static Registry& get() {
    static Registry* r = new Registry();  // never destroyed: handles outlive main()
    return *r;
  }

  void set_dir(std::string dir) {
    std::lock_guard lock(mu_);
    dir_ = std::move(dir);
  }

  uint64_t* cell(Kind kind, std::string_view name, std::string_view help,
                 const exposition::Labels& labels) {
    std::string s = exposition::series(name, labels);
    std::lock_guard lock(mu_);
    auto it = cells_.find(s);
    if (it != cells_.end()) return it->second;
    uint64_t* c = nullptr;
    if (publishing()) {
      std::string family(name);
      if (!help.empty() && !helped_.contains(family)) {
        if (publish(Kind::kHelp, family + " " + std::string(help)) != nullptr)
          helped_.insert(family);
      }
      c = publish(kind, s);
    }
    if (c == nullptr) c = &local_.emplace_back(0);
    cells_.emplace(std::move(s), c);
    return c;
  }

 private:
  // REQUIRES: mu_ held. True if the file is (or can now be) mapped.
  bool publishing() {
    if (base_ != nullptr) return true;
    if (dir_.empty() || failed_) return false;
    if (!open_file()) failed_ = true;
    return base_ != nullptr;
  }

  bool open_file() {
    if (auto st = fs::make_dirs(dir_, 0750); !st.is_ok()) {
      spdlog::warn("stats: {}: metrics stay unpublished", st.to_string());
      return false;
    }
    std::random_device rd;
    char tag[32];
    std::snprintf(tag, sizeof tag, "%d-%08x", static_cast<int>(::getpid()), rd());
    const std::string final_path = dir_ + "/" + tag + ".stats";
    const std::string tmp = dir_ + "/" + tag + ".tmp";
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
      spdlog::warn("stats: {}: {}: metrics stay unpublished", tmp, std::strerror(errno));
      return false;
    }
    // Locked before it has its final name: promstatsd never sees it unlocked
    // while this process lives.
    void* map = MAP_FAILED;
    if (::flock(fd, LOCK_SH) == 0 && ::ftruncate(fd, kFileSize) == 0) {
      map = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (map == MAP_FAILED) {
      spdlog::warn("stats: {}: {}: metrics stay unpublished", tmp, std::strerror(errno));
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    char* base = static_cast<char*>(map);
    std::memcpy(base, kMagic, sizeof kMagic);
    uint32_t geometry[2] = {static_cast<uint32_t>(kSlotSize), static_cast<uint32_t>(kSlots)};
    std::memcpy(base + 8, geometry, sizeof geometry);
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      spdlog::warn("stats: {}: {}: metrics stay unpublished", final_path, std::strerror(errno));
      ::munmap(map, kFileSize);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    fd_ = fd;  // kept open: it holds the lock
    base_ = base;
    return true;
  }

  // REQUIRES: mu_ held, base_ mapped. The value cell of a new slot, or
  // nullptr when the text is too long or the file full (logged once).
  uint64_t* publish(Kind kind, const std::string& text) {
    if (text.size() > kMaxSeriesLength || next_ >= kSlots) {
      if (!warned_full_) {
        spdlog::warn(
            "stats: no slot for {} (series over {} bytes or {} slots used): "
            "counted in this process only",
            text, kMaxSeriesLength, kSlots - 1);
        warned_full_ = true;
      }
      return nullptr;
    }
    SlotView slot = slot_at(base_, next_++);
    std::memcpy(slot.text, text.data(), text.size());
    *slot.length = static_cast<uint32_t>(text.size());
    *slot.value = 0;
    // Released last: a reader that sees the kind sees the text.
    std::atomic_ref<uint32_t>(*slot.kind)
        .store(static_cast<uint32_t>(kind), std::memory_order_release);
    return slot.value;
  }

  std::mutex mu_;
  std::string dir_;
  bool failed_ = false;
  bool warned_full_ = false;
  int fd_ = -1;
  char* base_ = nullptr;
  size_t next_ = 1;
  std::unordered_map<std::string, uint64_t*> cells_;
  std::set<std::string> helped_;
  std::deque<uint64_t> local_;
};

}  // namespace

std::string stats_dir(const Config& cfg) {
  std::string dir = cfg.get("prometheus_stats_dir");
  return dir.empty() ? cfg.configdirectory() + "/stats" : dir;
}

void configure(const Config& cfg) {
  if (cfg.get_bool("prometheus_enabled")) configure_dir(stats_dir(cfg));
}

void configure_dir(const std::string& dir) { Registry::get().set_dir(dir); }

void Counter::add(uint64_t n) const {
  std::atomic_ref<uint64_t>(*cell_).fetch_add(n, std::memory_order_relaxed);
}
uint64_t Counter::value() const {
  return std::atomic_ref<uint64_t>(*cell_).load(std::memory_order_relaxed);
}

void Gauge::add(int64_t delta) const {
  std::atomic_ref<uint64_t>(*cell_).fetch_add(static_cast<uint64_t>(delta),
                                              std::memory_order_relaxed);
}
void Gauge::set(int64_t v) const {
  std::atomic_ref<uint64_t>(*cell_).store(static_cast<uint64_t>(v), std::memory_order_relaxed);
}
int64_t Gauge::value() const {
  return static_cast<int64_t>(std::atomic_ref<uint64_t>(*cell_).load(std::memory_order_relaxed));
}

Counter counter(std::string_view name, std::string_view help, const exposition::Labels& labels) {
  return Counter(Registry::get().cell(Kind::kCounter, name, help, labels));
}

Gauge gauge(std::string_view name, std::string_view help, const exposition::Labels& labels) {
  return Gauge(Registry::get().cell(Kind::kGauge, name, help, labels));
}

std::string_view service() {
  static const std::string name = [] {
    const char* s = std::getenv("CYRUS_SERVICE");
    return std::string(s != nullptr ? s : "");
  }();
  return name;
}

void count_command(std::string_view command) {
  std::string name(command);
  for (char& c : name)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  counter("replimail_commands_total", "Commands received, per service and command.",
          {{"service", std::string(service())}, {"command", name}})
      .add();
}

Result<FileSnapshot> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kIoError, path + ": " + std::strerror(errno));
  FileSnapshot snap;
  // A lock we can take exclusively is one nobody holds: the writer is gone.
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
  } else {
    snap.owner_alive = true;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != kFileSize) {
    ::close(fd);
    return Status(Code::kInvalidArgument, path + ": not a stats file");
  }
  void* map = ::mmap(nullptr, kFileSize, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return Status(Code::kIoError, path + ": " + std::strerror(errno));
  char* base = static_cast<char*>(map);
  uint32_t geometry[2];
  std::memcpy(geometry, base + 8, sizeof geometry);
  if (std::memcmp(base, kMagic, sizeof kMagic) != 0 || geometry[0] != kSlotSize ||
      geometry[1] != kSlots) {
    ::munmap(map, kFileSize);
    return Status(Code::kInvalidArgument, path + ": not a stats file");
  }
  for (size_t i = 1; i < kSlots; ++i) {
    SlotView slot = slot_at(base, i);
    uint32_t kind = std::atomic_ref<uint32_t>(*slot.kind).load(std::memory_order_acquire);
    if (kind == 0) break;  // slots are taken in order
    uint32_t len = *slot.length;
    if (kind > static_cast<uint32_t>(Kind::kHelp) || len > kMaxSeriesLength) continue;
    Entry e;
    e.kind = static_cast<Kind>(kind);
    e.text.assign(slot.text, len);
    e.value = std::atomic_ref<uint64_t>(*slot.value).load(std::memory_order_relaxed);
    snap.entries.push_back(std::move(e));
  }
  ::munmap(map, kFileSize);
  return snap;
}

}  // namespace replimail::stats
