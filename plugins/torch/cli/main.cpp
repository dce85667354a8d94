// `rscovlm-torch`: the `rscovlm` program plus its LibTorch subcommands (generate, detect, tiny-model,
// `zoom --backend torch`, the plugin's components and demo step). The core `rscovlm` runs it for
// those commands with its own arguments, argv[0] included, so help and errors still name `rscovlm`.
#include "../../../examples/rscovlm/cli.hpp"

#include <string>

int main(int argc, char** argv) {
    std::string name = argc > 0 && argv[0] != nullptr ? argv[0] : "rscovlm-torch";
    auto slash = name.rfind('/');
    if (slash != std::string::npos) name.erase(0, slash + 1);
    if (name.empty()) name = "rscovlm-torch";
    return rscovlm::cli::run_program(argc, argv, name, rscovlm::cli::register_torch);
}
