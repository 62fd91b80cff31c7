// Response framing of the csync protocol (Cyrus sync_server 3.6):
//
//   response = *("* " KEY SP value CRLF) status CRLF
//   status   = "OK" SP text | "NO" SP [errcode SP] text | "BAD" SP text | "BYE" SP text
//
// The error code after NO is a bare Cyrus error name, not an IMAP
// [bracketed] response code. A client recognises a code only when the text
// starts with the name followed by a space (so the server's bare
// "NO IMAP_PROTOCOL_BAD_PARAMETERS" is not recognised by a 3.6 client: a
// quirk kept on both sides). Pure functions; no I/O except write_untagged.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dlist/printer.h"
#include "dlist/value.h"

namespace replimail::dlist {

// "OK success\r\n" (or another text).
std::string ok_line(std::string_view text = "success");
// The line Cyrus's sync_server sends for an error, e.g.
// "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n"; codes Cyrus does not
// send by name become "NO Unknown error\r\n".
std::string no_line(Code code);
// "NO <text>\r\n", "BAD <text>\r\n", "BYE <text>\r\n".
std::string no_line(std::string_view text);
std::string bad_line(std::string_view text);
std::string bye_line(std::string_view text);

// "* KEY value\r\n" for a keyed value such as the MAILBOX kvlist of a GET
// reply. A file literal's bytes are streamed through `out`.
Status write_untagged(const Value& keyed, Output& out);
Result<std::string> untagged_line(const Value& keyed);

struct Response {
  enum class Kind { kOk, kNo, kBad, kBye };
  Kind kind = Kind::kOk;
  // For NO: the recognised Cyrus error, else kOk (Cyrus's "remote denied").
  Code code = Code::kOk;
  std::string text;  // everything after the status word (code included)
};

// Parses a status line (CRLF optional); nullopt if it is not one.
std::optional<Response> parse_status(std::string_view text);
// The same from a line read by a Parser built with status_lines = true.
std::optional<Response> response_from(const std::vector<Value>& line);

// The client's view of a status: OK is ok; a recognised NO keeps its code;
// any other NO is kPermissionDenied ("remote denied"); BAD is
// kProtocolError; BYE is kIoError ("replica shutting down").
Status to_status(const Response& r);

}  // namespace replimail::dlist
