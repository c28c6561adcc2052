#include "storage/list_children.h"

namespace tresor::storage_internal {

Result<std::vector<std::string>> ListChildren(std::string_view prefix, const ListOptions& opts,
                                              const SeekFn& seek) {
  std::vector<std::string> out;
  std::string target(prefix);
  target += opts.after;  // nothing sorts after `after` and before prefix+after
  while (opts.limit <= 0 || out.size() < static_cast<size_t>(opts.limit)) {
    ASSIGN_OR_RETURN(std::optional<std::string_view> key, seek(target));
    if (!key || key->substr(0, prefix.size()) != prefix) break;
    std::string_view rest = key->substr(prefix.size());
    size_t slash = rest.find('/');
    std::string child(slash == std::string_view::npos ? rest : rest.substr(0, slash + 1));
    // Next group: for a leaf, its immediate successor; for a folder "x/", past every
    // "x/..." key, i.e. the first key >= "x0" ('0' is '/' + 1).
    target.assign(prefix);
    target += child;
    if (!child.empty() && child.back() == '/') {
      target.back() = '/' + 1;
    } else {
      target.push_back('\0');
    }
    if (child.empty() || child <= opts.after) continue;
    out.push_back(std::move(child));
  }
  return out;
}

}  // namespace tresor::storage_internal
