#include "imap/command_reader.h"

#include <algorithm>
#include <utility>

#include "imap/parser.h"

namespace replimail::imap {
namespace {

std::string_view first_word(std::string_view s) { return s.substr(0, s.find(' ')); }

}  // namespace

size_t CommandReader::feed(std::string_view bytes, Sink& sink) {
  size_t used = 0;
  while (used < bytes.size()) {
    std::string_view rest = bytes.substr(used);
    if (skip_left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(skip_left_, rest.size()));
      skip_left_ -= n;
      used += n;
      examined_ += n;
      continue;
    }
    if (literal_left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, rest.size()));
      examined_ += n;
      if (literal_is_message_) {
        sink.message_data(rest.substr(0, n));
      } else {
        pending_.append(rest.substr(0, n));
      }
      literal_left_ -= n;
      used += n;
      if (literal_left_ == 0 && literal_is_message_) {
        literal_is_message_ = false;
        sink.message_end();
      }
      continue;
    }
    size_t nl = rest.find('\n');
    size_t take = nl == std::string_view::npos ? rest.size() : nl;
    examined_ += take;
    if (!discarding_line_) {
      // Never more than one byte over the limit, however much arrives.
      size_t room = static_cast<size_t>(limits_.line) + 1 - line_.size();
      line_.append(rest.substr(0, std::min(take, room)));
      if (line_.size() > limits_.line) {
        discarding_line_ = true;
        std::string().swap(line_);
      }
    }
    used += take;
    if (nl == std::string_view::npos) break;
    ++used;
    ++examined_;
    std::string line = std::exchange(line_, {});
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (std::exchange(discarding_line_, false)) {
      if (std::exchange(drop_rest_, false)) continue;  // the tail of a refused command
      refuse("", Refusal::kLineTooLong, false, false, 0, sink);
      return used;
    }
    if (on_line(line, sink)) return used;
  }
  return used;
}

bool CommandReader::on_line(std::string_view line, Sink& sink) {
  if (drop_rest_) {
    // The tail of a refused command: skip it, and any literal it announces.
    examined_ += line.size();
    auto lit = trailing_literal(line);
    drop_rest_ = lit && !lit->synchronising;
    if (drop_rest_) skip_left_ = lit->size;
    return false;
  }
  if (raw_lines_ && pending_.empty()) {
    sink.raw_line(line);
    return true;
  }
  return on_command_line(line, sink);
}

bool CommandReader::on_command_line(std::string_view line, Sink& sink) {
  std::string tag(first_word(pending_.empty() ? line : std::string_view(pending_)));
  examined_ += line.size();  // looking for a literal header at its end
  auto lit = trailing_literal(line);
  bool sync = lit && lit->synchronising;
  bool pushed = lit && !lit->synchronising;
  uint64_t skip = pushed ? lit->size : 0;
  if (pending_.size() + line.size() > limits_.command) {
    refuse(tag, Refusal::kCommandTooLarge, sync, pushed, skip, sink);
    return true;
  }
  pending_ += line;
  examined_ += line.size();
  if (!lit) {
    std::string command = std::exchange(pending_, {});
    drop_command();
    sink.command(command);
    return true;
  }
  bool message;
  if (literals_ == 0) {
    // Once per command, on its first line: bounded by limits_.line.
    examined_ += 2 * pending_.size();
    message = announces_append_message(pending_);
    append_ = message || announces_append_mailbox(pending_);
  } else {
    message = append_;
  }
  ++literals_;
  if (message ? lit->size > limits_.message
              : lit->size > limits_.literal || pending_.size() + 2 + lit->size > limits_.command) {
    Refusal why = message                       ? Refusal::kMessageTooLarge
                  : lit->size > limits_.literal ? Refusal::kLiteralTooLarge
                                                : Refusal::kCommandTooLarge;
    refuse(tag, why, sync, pushed, skip, sink);
    return true;
  }
  if (sync) sink.go_ahead();
  if (!message) {
    pending_ += "\r\n";
    literal_left_ = lit->size;
    return false;
  }
  // The header (`{n}`, `{n+}` or `~{n}`) ends pending_: an empty literal
  // takes its place.
  size_t open = pending_.rfind('{');
  if (open > 0 && pending_[open - 1] == '~') --open;
  pending_.resize(open);
  pending_ += "{0}\r\n";
  literal_left_ = lit->size;
  literal_is_message_ = literal_left_ > 0;
  sink.message_begin(pending_, lit->size, lit->binary);
  if (lit->size == 0) sink.message_end();
  return false;
}

void CommandReader::refuse(std::string_view tag, Refusal why, bool synchronising, bool pushed,
                           uint64_t skip, Sink& sink) {
  drop_command();
  skip_left_ = skip;
  drop_rest_ = pushed;
  sink.refused(tag, why, synchronising);
}

void CommandReader::drop_command() {
  std::string().swap(pending_);
  literal_left_ = 0;
  literal_is_message_ = false;
  append_ = false;
  literals_ = 0;
}

void CommandReader::reset() {
  drop_command();
  std::string().swap(line_);
  discarding_line_ = false;
  skip_left_ = 0;
  drop_rest_ = false;
}

}  // namespace replimail::imap
