#include "cli/cli.h"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "cli/commands.h"
#include "common/version.h"

namespace tresor::cli {
namespace {

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> all = [] {
    std::vector<CommandSpec> v;
    RegisterOperatorCommands(&v);
    RegisterGenericCommands(&v);
    RegisterTokenPolicyCommands(&v);
    RegisterMountCommands(&v);
    RegisterKvCommands(&v);
    return v;
  }();
  return all;
}

std::string VersionString() {
  return std::string("Vault v") + kVaultApiVersion + " (tresor " + kTresorVersion + ", " +
         kTresorCommit + ")";
}

// Reads one line from stdin; without echo when stdin is a terminal.
std::optional<std::string> ReadSecretLine(const std::string& prompt, std::ostream& prompt_stream) {
  prompt_stream << prompt << std::flush;
  bool tty = ::isatty(STDIN_FILENO);
  struct termios old_t{};
  if (tty && tcgetattr(STDIN_FILENO, &old_t) == 0) {
    struct termios t = old_t;
    t.c_lflag &= ~tcflag_t(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
  } else {
    tty = false;
  }
  std::string line;
  bool ok = static_cast<bool>(std::getline(std::cin, line));
  if (tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_t);
  prompt_stream << "\n";
  if (!ok && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

void PrintUsage(const Ui& ui, const std::string& prefix) {
  std::string head = prefix.empty() ? "vault <command> [args]" : "vault " + prefix + " <subcommand> [options] [args]";
  *ui.err << "Usage: " << head << "\n\n";
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const auto& c : Commands()) {
    if (!prefix.empty() && c.name.rfind(prefix + " ", 0) != 0) continue;
    std::string rest = prefix.empty() ? c.name : c.name.substr(prefix.size() + 1);
    rows.emplace_back(rest, c.synopsis);
    width = std::max(width, rest.size());
  }
  std::sort(rows.begin(), rows.end());
  *ui.err << (prefix.empty() ? "Commands:\n" : "Subcommands:\n");
  for (const auto& [n, s] : rows) *ui.err << "    " << n << std::string(width - n.size() + 4, ' ') << s << "\n";
}

}  // namespace

int RunWithUi(const std::vector<std::string>& args, Ui& ui) {
  if (args.empty()) {
    PrintUsage(ui, "");
    return 127;
  }
  const std::string& first = args[0];
  if (first == "-v" || first == "-version" || first == "--version" || first == "version") {
    ui.Output(VersionString());
    return 0;
  }
  if (first == "-h" || first == "-help" || first == "--help" || first == "help") {
    PrintUsage(ui, "");
    return 0;
  }
  // Longest command name matching the leading arguments.
  const CommandSpec* best = nullptr;
  size_t best_words = 0;
  for (const auto& c : Commands()) {
    std::vector<std::string> words;
    size_t start = 0;
    while (true) {
      auto sp = c.name.find(' ', start);
      words.push_back(c.name.substr(start, sp - start));
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
    if (words.size() > args.size() || words.size() <= best_words) continue;
    if (std::equal(words.begin(), words.end(), args.begin())) {
      best = &c;
      best_words = words.size();
    }
  }
  if (!best) {
    // A command group ("operator", "kv", ...) without a subcommand, or an unknown command.
    std::string prefix;
    for (size_t n = args.size(); n > 0 && prefix.empty(); --n) {
      std::string cand;
      for (size_t i = 0; i < n; ++i) cand += (i ? " " : "") + args[i];
      for (const auto& c : Commands())
        if (c.name.rfind(cand + " ", 0) == 0) prefix = cand;
    }
    if (!prefix.empty()) {
      PrintUsage(ui, prefix);
      return 127;
    }
    ui.Error("Unknown command: " + first);
    PrintUsage(ui, "");
    return 127;
  }
  CommandEnv env(ui);
  env.command_name = best->name;
  env.synopsis = best->synopsis;
  std::vector<std::string> rest(args.begin() + long(best_words), args.end());
  return best->fn(env, rest);
}

int Run(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  Ui ui;
  ui.stdout_is_tty = ::isatty(STDOUT_FILENO);
  ui.read_secret = ReadSecretLine;
  int rc = RunWithUi(args, ui);
  std::cout.flush();
  std::cerr.flush();
  return rc;
}

}  // namespace tresor::cli
