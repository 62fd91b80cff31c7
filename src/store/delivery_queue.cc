#include "store/delivery_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <type_traits>

#include "store/staged_message.h"

namespace replimail::store {

namespace {

enum State : uint32_t { kFree = 0, kPending = 1, kClaimed = 2, kDone = 3, kFailed = 4 };

// This boot's id: slots written before a reboot belong to processes gone.
const std::string& boot_id() {
  static const std::string id = [] {
    char buf[64] = {};
    int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string("no-boot-id");
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }();
  return id;
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

template <size_t N>
void put(char (&dst)[N], const std::string& s) {
  std::memset(dst, 0, N);
  std::memcpy(dst, s.data(), std::min(s.size(), N - 1));
}

template <size_t N>
std::string get(const char (&src)[N]) {
  return std::string(src, strnlen(src, N));
}

}  // namespace

// One slot of the file; written and read whole under the file's flock.
struct DeliveryQueue::Slot {
  uint32_t state;
  int32_t owner;
  uint64_t ticket;
  uint64_t leader;  // the ticket of the leader that claimed it
  uint64_t ino;
  uint64_t size;
  uint32_t uid;
  uint32_t uidvalidity;
  int32_t code;  // a failure's Code
  uint32_t check_quota;
  char boot[40];
  char guid[48];
  char mailbox[256];
  char path[320];
  char why[256];
  char pad[48];
};

// The file locked, its slots read; writes go through put().
class DeliveryQueue::Locked {
  static_assert(sizeof(Slot) == 1024);

 public:
  explicit Locked(const DeliveryQueue& q) : q_(q) {
    while (::flock(q_.fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        status_ = errno_status("flock", q_.path_);
        return;
      }
    }
    locked_ = true;
    std::memset(slots_, 0, sizeof(slots_));
    ssize_t n = ::pread(q_.fd_, slots_, sizeof(slots_), 0);
    if (n < 0) status_ = errno_status("read", q_.path_);
  }
  ~Locked() {
    if (locked_) ::flock(q_.fd_, LOCK_UN);
  }
  const Status& status() const { return status_; }
  Slot& at(int i) { return slots_[i]; }
  void put(int i) {
    ssize_t n = ::pwrite(q_.fd_, &slots_[i], sizeof(Slot), static_cast<off_t>(i) * sizeof(Slot));
    if (n != static_cast<ssize_t>(sizeof(Slot)) && status_)
      status_ = errno_status("write", q_.path_);
  }
  void free(int i) {
    std::memset(&slots_[i], 0, sizeof(Slot));
    put(i);
  }
  bool mine(int i) const {
    return slots_[i].state != kFree &&
           std::strncmp(slots_[i].boot, boot_id().c_str(), sizeof(slots_[i].boot)) == 0;
  }

 private:
  const DeliveryQueue& q_;
  bool locked_ = false;
  Status status_;
  Slot slots_[kSlots];
};

Result<DeliveryQueue> DeliveryQueue::open(const std::string& index_path) {
  // Not through os::env(): the file is coordination between live processes,
  // never a durable state (nothing is flushed).
  std::string path = index_path + kFileSuffix;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return errno_status("open", path);
  return DeliveryQueue(fd, std::move(path));
}

DeliveryQueue::DeliveryQueue(DeliveryQueue&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) {
  o.fd_ = -1;
}

DeliveryQueue::~DeliveryQueue() {
  if (fd_ >= 0) ::close(fd_);
}

bool DeliveryQueue::fits(const std::string& mailbox, const StagedMessage& msg) {
  Slot* s = nullptr;
  return mailbox.size() < sizeof(s->mailbox) && msg.path().size() < sizeof(s->path) &&
         msg.guid().size() < sizeof(s->guid);
}

uint64_t DeliveryQueue::new_ticket() {
  static thread_local std::mt19937_64 gen(std::random_device{}() ^
                                          (static_cast<uint64_t>(::getpid()) << 32));
  uint64_t t = 0;
  while (t == 0) t = gen();
  return t;
}

Result<DeliveryQueue::Entry> DeliveryQueue::announce(const std::string& mailbox,
                                                     const StagedMessage& msg, bool check_quota) {
  struct stat st;
  if (::stat(msg.path().c_str(), &st) != 0) return errno_status("stat", msg.path());
  Entry e;
  e.ticket = new_ticket();
  e.owner = ::getpid();
  e.path = msg.path();
  e.guid = msg.guid();
  e.size = msg.size();
  e.ino = st.st_ino;
  e.check_quota = check_quota;
  Locked q(*this);
  if (!q.status()) return q.status();
  int free_slot = -1;
  for (int i = 0; i < kSlots && free_slot < 0; i++)
    if (!q.mine(i)) free_slot = i;
  // A slot whose owner died (it was never settled, or settled and never
  // read) is free too; a live leader's claim on it is told by the ticket.
  for (int i = 0; i < kSlots && free_slot < 0; i++)
    if (!alive(q.at(i).owner)) free_slot = i;
  if (free_slot < 0) return e;  // slot -1: deliver alone
  Slot& s = q.at(free_slot);
  std::memset(&s, 0, sizeof(Slot));
  s.state = kPending;
  s.owner = e.owner;
  s.ticket = e.ticket;
  s.ino = e.ino;
  s.size = e.size;
  s.check_quota = check_quota ? 1 : 0;
  put(s.boot, boot_id());
  put(s.guid, e.guid);
  put(s.mailbox, mailbox);
  put(s.path, e.path);
  q.put(free_slot);
  if (!q.status()) return q.status();
  e.slot = free_slot;
  return e;
}

void DeliveryQueue::withdraw(const Entry& e) {
  if (e.slot < 0) return;
  Locked q(*this);
  if (!q.status()) return;
  Slot& s = q.at(e.slot);
  if (q.mine(e.slot) && s.ticket == e.ticket && s.state == kPending) q.free(e.slot);
}

Result<DeliveryQueue::Outcome> DeliveryQueue::outcome(const Entry& e, uint32_t uidvalidity,
                                                      const Committed& committed) {
  Outcome out;
  if (e.slot < 0) return out;
  Locked q(*this);
  if (!q.status()) return q.status();
  Slot& s = q.at(e.slot);
  if (!q.mine(e.slot) || s.ticket != e.ticket) return out;  // never: deliver it ourselves
  switch (s.state) {
    case kDone:
      out = {true, Status::success(), s.uid, s.uidvalidity};
      q.free(e.slot);
      break;
    case kFailed:
      out.settled = true;
      out.status = Status(static_cast<Code>(s.code), get(s.why));
      q.free(e.slot);
      break;
    case kClaimed:
      // Its leader is gone (or failed after its lock was released): did
      // its commit go in?
      if (s.uid != 0 && committed(s.uid, get(s.guid), s.ino)) {
        out = {true, Status::success(), s.uid, uidvalidity};
        q.free(e.slot);
      } else {
        s.state = kPending;
        s.leader = 0;
        s.uid = 0;
        q.put(e.slot);
      }
      break;
    default:
      break;
  }
  if (!q.status()) return q.status();
  return out;
}

Result<std::vector<DeliveryQueue::Entry>> DeliveryQueue::claim(const std::string& mailbox,
                                                               uint64_t leader,
                                                               uint32_t uidvalidity,
                                                               const Committed& committed) {
  std::vector<Entry> claimed;
  Locked q(*this);
  if (!q.status()) return q.status();
  for (int i = 0; i < kSlots; i++) {
    Slot& s = q.at(i);
    if (!q.mine(i) || get(s.mailbox) != mailbox) continue;
    if (s.state == kClaimed && s.leader != leader) {
      // A claim left by a dead (or failed) leader: we hold the lock, so no
      // leader is between its claim and its settling.
      bool in = s.uid != 0 && committed(s.uid, get(s.guid), s.ino);
      if (!alive(s.owner)) {
        q.free(i);
        continue;
      }
      if (in) {
        s.state = kDone;
        s.uidvalidity = uidvalidity;
        q.put(i);
        continue;
      }
      s.state = kPending;
    }
    if (s.state != kPending) continue;
    if (!alive(s.owner)) {  // died waiting: nobody would answer it
      q.free(i);
      continue;
    }
    s.state = kClaimed;
    s.leader = leader;
    s.uid = 0;
    q.put(i);
    Entry e;
    e.slot = i;
    e.ticket = s.ticket;
    e.owner = s.owner;
    e.path = get(s.path);
    e.guid = get(s.guid);
    e.size = s.size;
    e.ino = s.ino;
    e.check_quota = s.check_quota != 0;
    claimed.push_back(std::move(e));
  }
  if (!q.status()) return q.status();
  return claimed;
}

Status DeliveryQueue::note_uids(const std::vector<Entry>& claimed, uint64_t leader) {
  Locked q(*this);
  if (!q.status()) return q.status();
  for (const Entry& e : claimed) {
    Slot& s = q.at(e.slot);
    if (!q.mine(e.slot) || s.ticket != e.ticket || s.state != kClaimed || s.leader != leader)
      continue;
    s.uid = e.uid;
    q.put(e.slot);
  }
  return q.status();
}

void DeliveryQueue::settle(const std::vector<Entry>& claimed, const std::vector<Outcome>& outcomes,
                           uint64_t leader, uint64_t own_ticket) {
  Locked q(*this);
  if (!q.status()) return;
  for (size_t k = 0; k < claimed.size() && k < outcomes.size(); k++) {
    const Entry& e = claimed[k];
    Slot& s = q.at(e.slot);
    if (!q.mine(e.slot) || s.ticket != e.ticket || s.state != kClaimed || s.leader != leader)
      continue;
    if (e.ticket == own_ticket) {
      q.free(e.slot);
      continue;
    }
    const Outcome& o = outcomes[k];
    if (o.status.is_ok()) {
      s.state = kDone;
      s.uid = o.uid;
      s.uidvalidity = o.uidvalidity;
    } else {
      s.state = kFailed;
      s.code = static_cast<int32_t>(o.status.code());
      put(s.why, o.status.message());
    }
    q.put(e.slot);
  }
}

Result<int> DeliveryQueue::pending(const std::string& mailbox) {
  Locked q(*this);
  if (!q.status()) return q.status();
  int n = 0;
  for (int i = 0; i < kSlots; i++)
    if (q.mine(i) && q.at(i).state == kPending && get(q.at(i).mailbox) == mailbox) n++;
  return n;
}

}  // namespace replimail::store
