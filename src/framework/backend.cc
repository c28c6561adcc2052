#include "framework/backend.h"

namespace tresor::framework {
namespace {

// Turns "(?P<name>" into "(" and records the names in order; returns the std::regex source.
std::string StripNamedGroups(const std::string& pattern, std::vector<std::string>* names) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.compare(i, 4, "(?P<") == 0) {
      size_t end = pattern.find('>', i + 4);
      names->push_back(pattern.substr(i + 4, end - (i + 4)));
      out += '(';
      i = end;
      continue;
    }
    if (pattern[i] == '(' && pattern.compare(i, 3, "(?:") != 0 && (i == 0 || pattern[i - 1] != '\\')) {
      names->push_back("");  // unnamed capturing group keeps indices aligned
    }
    out += pattern[i];
  }
  return out;
}

std::string LiteralPrefix(const std::string& pattern) {
  std::string out;
  for (char c : pattern) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) break;
    out += c;
  }
  // A quantifier may apply to the last literal char ("keys?"), so drop it to stay safe.
  if (!out.empty() && out.size() < pattern.size()) out.pop_back();
  return out;
}

}  // namespace


void FrameworkBackend::SetPaths(std::vector<Path> paths) {
  paths_.clear();
  paths_.reserve(paths.size());
  for (auto& p : paths) {
    Compiled c;
    std::string src = StripNamedGroups(p.pattern, &c.group_names);
    c.re = std::regex("^" + src + "$", std::regex::ECMAScript | std::regex::optimize);
    c.literal_prefix = LiteralPrefix(p.pattern);
    c.path = std::move(p);
    paths_.push_back(std::move(c));
  }
}

const FrameworkBackend::Compiled* FrameworkBackend::Match(const std::string& path,
                                                          std::map<std::string, std::string>* captures) const {
  std::smatch m;
  for (const auto& c : paths_) {
    if (path.compare(0, c.literal_prefix.size(), c.literal_prefix) != 0) continue;
    if (!std::regex_match(path, m, c.re)) continue;
    for (size_t i = 0; i < c.group_names.size() && i + 1 < m.size(); ++i) {
      if (!c.group_names[i].empty() && m[i + 1].matched) (*captures)[c.group_names[i]] = m[i + 1].str();
    }
    return &c;
  }
  return nullptr;
}

const FrameworkBackend::Compiled* FrameworkBackend::MatchOnce(Request& req,
                                                              std::map<std::string, std::string>* captures) const {
  auto& m = req.route_match;
  if (m && m->owner == this && m->path == req.path) {
    *captures = m->captures;
    return static_cast<const Compiled*>(m->route);
  }
  const Compiled* c = Match(req.path, captures);
  if (c) m = Request::RouteMatch{this, c, req.path, *captures};
  return c;
}

Result<std::optional<bool>> FrameworkBackend::Exists(Request& req) {
  std::map<std::string, std::string> captures;
  const Compiled* c = MatchOnce(req, &captures);
  if (!c) return Status::UnsupportedPath();
  if (!c->path.exists) return std::optional<bool>();
  FieldData fd(&c->path.fields, req.data, std::move(captures));
  ASSIGN_OR_RETURN(bool e, c->path.exists(req, fd));
  return std::optional<bool>(e);
}

Result<ResponsePtr> FrameworkBackend::HandleRequest(Request& req) {
  std::map<std::string, std::string> captures;
  const Compiled* c = MatchOnce(req, &captures);
  if (!c) return Status::UnsupportedPath();
  const auto& ops = c->path.operations;
  auto it = ops.find(req.operation);
  // Vault: a path without a create handler treats create as update, and vice versa.
  if (it == ops.end() && req.operation == Operation::kCreate) it = ops.find(Operation::kUpdate);
  if (it == ops.end() && req.operation == Operation::kUpdate) it = ops.find(Operation::kCreate);
  if (it == ops.end()) return Status::UnsupportedOperation();
  FieldData fd(&c->path.fields, req.data, std::move(captures));
  RETURN_IF_ERROR(fd.Validate());
  ASSIGN_OR_RETURN(ResponsePtr resp, it->second(req, fd));
  if (resp && req.operation != Operation::kRead && req.operation != Operation::kList) {
    auto unknown = fd.Unrecognized();
    if (!unknown.empty()) {
      std::string w = "Endpoint ignored these unrecognized parameters: [";
      for (size_t i = 0; i < unknown.size(); ++i) w += (i ? " " : "") + unknown[i];
      resp->warnings.push_back(w + "]");
    }
  }
  return resp;
}

std::string GenericNameRegex(const std::string& name) {
  return "(?P<" + name + ">\\w(?:[\\w.-]*\\w)?)";
}

bool MatchesSpecialPath(const std::vector<std::string>& patterns, const std::string& path) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (path.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (p == path) {
      return true;
    }
  }
  return false;
}

void Registry::Register(const std::string& type, BackendKind kind, Factory f) {
  factories_[{type, kind}] = std::move(f);
}

const Factory* Registry::Find(const std::string& type, BackendKind kind) const {
  auto it = factories_.find({type, kind});
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::Types(BackendKind kind) const {
  std::vector<std::string> out;
  for (auto& [k, f] : factories_)
    if (k.second == kind) out.push_back(k.first);
  return out;
}

Result<ResponsePtr> ListResponse(const std::vector<std::string>& keys) {
  if (keys.empty()) return ResponsePtr();
  return Response::WithData({{"keys", keys}});
}

}  // namespace tresor::framework

namespace tresor::logical {
const char* OperationName(Operation op) {
  switch (op) {
    case Operation::kRead: return "read";
    case Operation::kCreate: return "create";
    case Operation::kUpdate: return "update";
    case Operation::kPatch: return "patch";
    case Operation::kDelete: return "delete";
    case Operation::kList: return "list";
    case Operation::kHelp: return "help";
    case Operation::kRenew: return "renew";
    case Operation::kRevoke: return "revoke";
  }
  return "unknown";
}
}  // namespace tresor::logical
