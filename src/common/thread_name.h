// Names the calling thread so that top -H, perf and gdb show what each thread is for.
// Linux keeps at most 15 characters; longer names are cut. Any thread may call these for itself.
#pragma once

#include <pthread.h>

#include <string>

namespace tresor {

inline void SetThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

inline std::string CurrentThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

}  // namespace tresor
