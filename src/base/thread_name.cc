#include "base/thread_name.h"

#include <pthread.h>

#include <string>

namespace correio {

void SetThreadName(std::string_view name) {
  std::string n(name.substr(0, 15));
  (void)pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace correio
