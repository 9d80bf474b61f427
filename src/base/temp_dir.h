// A fresh directory under the system's temporary directory (mkdtemp),
// removed with everything in it when the object goes: the scratch space of
// tests. path() is empty if the directory could not be made.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace correio {

class TempDir {
 public:
  // /tmp/<prefix>-<six random characters>
  explicit TempDir(std::string_view prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() /
                           (std::string(prefix) + "-XXXXXX"))
                              .string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace correio
