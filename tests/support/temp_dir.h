// Where tests keep their files: a fresh directory under $TMPDIR when it is
// set, else under the working directory (ctest runs every test in
// build/tests), never under a fixed /tmp, so that parallel runs of several
// checkouts and the machine's other users never share or collide on them.
// Header-only: unit tests (one binary per room) and the integration harness
// include it alike.
#pragma once

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace replimail::testing {

// The directory test directories are made in.
inline std::string temp_base() {
  const char* env = getenv("TMPDIR");
  if (env != nullptr && *env != '\0') return env;
  char cwd[PATH_MAX];
  return getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) : std::string(".");
}

// mkdtemp(<temp_base()>/<prefix>XXXXXX): the path of a new, empty directory
// only this process knows, or "" if it could not be made (errno says why).
inline std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = temp_base() + "/" + prefix + "XXXXXX";
  return mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
}

}  // namespace replimail::testing
