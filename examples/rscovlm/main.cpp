// The `rscovlm` command-line program: one subcommand group per component module.
//
// It never links LibTorch, so it starts in milliseconds. The LibTorch subcommands (`generate`,
// `detect`, `tiny-model`, `zoom|run|detect-scene|bench|serve ... --backend torch`) live in the `rscovlm-torch`
// executable, which this program runs in its own place (execv, as git runs its subcommands): first the one next to this
// binary, then the first on PATH. `components` and `demo` also run there when it exists, so that they include the
// plugin's components and demo step.
#include "cli.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <climits>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using rscovlm::cli::torch_commands;
using rscovlm::cli::torch_program;

bool is_executable_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

/// The running binary's path ("" if unknown).
std::string self_path() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n <= 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

/// True when `path` is this very binary (an `rscovlm-torch` that is a link to `rscovlm` would
/// otherwise run itself forever).
bool is_self(const std::string& path, const std::string& self) {
    if (self.empty()) return false;
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) != nullptr && self == buf;
}

/// `rscovlm-torch` next to this binary, else the first on PATH; "" when there is none.
std::string find_torch_program() {
    const std::string self = self_path();
    auto usable = [&](const std::string& p) { return is_executable_file(p) && !is_self(p, self); };
    const auto slash = self.rfind('/');
    if (slash != std::string::npos) {
        const std::string beside = self.substr(0, slash) + "/" + torch_program;
        if (usable(beside)) return beside;
    }
    const char* path = std::getenv("PATH");
    if (path == nullptr) return {};
    std::string_view rest(path);
    while (true) {
        auto colon = rest.find(':');
        std::string entry(rest.substr(0, colon));
        if (entry.empty()) entry = "."; // POSIX: an empty PATH entry is the current directory
        std::string candidate = entry + "/" + torch_program;
        if (usable(candidate)) return candidate;
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    return {};
}

enum class route {
    local,            ///< a core subcommand: run here
    torch,            ///< needs rscovlm-torch: run it, or fail when it is absent
    torch_if_present, ///< runs here too, but rscovlm-torch adds the plugin's part (components, demo)
};

/// Where `argv` must run, decided from the words alone (before any parsing): the subcommand is the
/// first argument that is not a global option (-q/--quiet, --data-dir DIR, --data-dir=DIR, --limit NAME=VALUE, -h,
/// ...).
route route_of(int argc, char** argv, std::string& what) {
    int sub = 0;
    for (int i = 1; i < argc && sub == 0; ++i) {
        std::string_view a = argv[i];
        if (a == "--") return route::local;
        if (a == "--data-dir" || a == "--limit") {
            ++i;
            continue;
        }
        if (!a.empty() && a[0] == '-') continue;
        sub = i;
    }
    if (sub == 0) return route::local;
    const std::string_view cmd = argv[sub];
    for (const auto& t : torch_commands)
        if (cmd == t.name) {
            what = "'rscovlm " + std::string(cmd) + "'";
            return route::torch;
        }
    if (cmd == "zoom" || cmd == "run" || cmd == "detect-scene" || cmd == "bench" || cmd == "serve") {
        // The torch backend: its short name or any key of the plugin's backends ("backend.torch.*").
        auto is_torch = [](std::string_view v) { return v == "torch" || v.rfind("backend.torch.", 0) == 0; };
        for (int i = sub + 1; i < argc; ++i) {
            std::string_view a = argv[i];
            if (a == "--") break;
            if ((a.rfind("--backend=", 0) == 0 && is_torch(a.substr(10))) ||
                (a == "--backend" && i + 1 < argc && is_torch(argv[i + 1]))) {
                what = "'rscovlm " + std::string(cmd) + " --backend torch'";
                return route::torch;
            }
        }
        return route::local;
    }
    if (cmd == "components" || cmd == "demo") return route::torch_if_present;
    return route::local;
}

int no_torch(const std::string& what) {
    rscovlm::cli::fail(rscovlm::error("cli", "no_torch",
                                      what + " needs " + torch_program +
                                          " (the LibTorch plugin), which is neither next to this rscovlm nor on PATH; "
                                          "build rscovlm with LibTorch (RSCOVLM_WITH_TORCH) and install it"));
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    using namespace rscovlm::cli;
    std::string what;
    const route r = route_of(argc, argv, what);
    if (r != route::local) {
        const std::string exe = find_torch_program();
        if (!exe.empty()) {
            // Same arguments (argv[0] included, so its --help and errors still say `rscovlm`),
            // same stdin/stdout/stderr, and its exit code becomes ours.
            ::execv(exe.c_str(), argv);
            if (r == route::torch) {
                fail(rscovlm::error("cli", "exec_failed", "cannot run " + exe + ": " + std::strerror(errno)));
                return 1;
            }
        } else if (r == route::torch) {
            return no_torch(what);
        }
    }
    // The LibTorch subcommands appear in --help when rscovlm-torch can be run.
    const bool torch_available = !find_torch_program().empty();
    return run_program(argc, argv, "rscovlm", [torch_available](CLI::App& app, context&) {
        if (!torch_available) return;
        for (const auto& t : torch_commands) {
            auto* cmd = app.add_subcommand(t.name, std::string(t.description) + " (runs " + torch_program + ")");
            cmd->prefix_command();
            const std::string name = t.name;
            cmd->callback([name] { // reached only if the forwarding above did not take place
                throw rscovlm::error("cli", "no_torch", "'rscovlm " + name + "' runs in " + torch_program);
            });
        }
    });
}
