// inspect: prints a model.bin's header and tensor table after full validation
// (magic, version, config ranges, length, checksum). Exit 0 when the file is
// sound, 2 with one line naming the problem otherwise.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>

#include "common/cli.hpp"
#include "model/checkpoint.hpp"
#include "model/tensor_table.hpp"

int main(int argc, char** argv) {
  return align::run_main("inspect", [&]() -> int {
    CLI::App app{"validate an align.cu model.bin and print its config and tensor table", "inspect"};
    std::string path;
    bool tensors = false;
    app.add_option("model", path, "model.bin to inspect")->required();
    app.add_flag("-t,--tensors", tensors, "also list every tensor with its shape, offset and RMS");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const align::LoadedModel m = align::load_model(path);
    const align::TensorTable table(m.info.config);
    std::printf("%s: align.cu model v%u, %s, %s\n", path.c_str(), align::kModelVersion, align::dtype_name(m.info.dtype),
                m.info.config.summary().c_str());
    std::printf("parameters: %zu in %zu tensors (flat buffer %zu), checksum %016llx\n", table.num_parameters(),
                table.tensors().size(), table.total_size(), (unsigned long long)m.info.checksum);
    if (tensors) {
      for (const align::TensorSpec& t : table.tensors()) {
        double ss = 0;
        for (size_t i = 0; i < t.numel; i++) ss += (double)m.params[t.offset + i] * m.params[t.offset + i];
        std::string shape;
        for (size_t d = 0; d < t.shape.size(); d++) shape += (d ? ", " : "") + std::to_string(t.shape[d]);
        std::printf("  %-32s [%s] offset %zu%s rms %.6g\n", t.name.c_str(), shape.c_str(), t.offset,
                    t.decay ? " decay" : "", std::sqrt(ss / t.numel));
      }
    }
    return 0;
  });
}
