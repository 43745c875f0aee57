// kiln: the command line over the frontend.
//
//   kiln examples [NAME...] [--out-dir DIR] [--train]  the tutorial models: summary + PNG each,
//                                              and with --train a few epochs on a synthetic task
//   kiln train NAME [--epochs E] [--samples S] train a tutorial model on its synthetic task
//   kiln summary NAME                          Keras's summary table
//   kiln plot NAME -o FILE [--show-shapes]     the layer graph (.png, .svg, .pdf or .dot)
//   kiln ir NAME [--stage=forward|train]       the forward (or training-step) graph as IR text
//   kiln ir NAME --stage=optimized|optimized-predict [--print-after=PASS,...|all]
//          [--dump-dir=DIR] [--time-passes]    the train step (or forward graph) after the default
//                                              pipeline (passes/pipelines.cpp), with kernels and buffer plan
//   kiln ir NAME --stage=llvm|asm              the optimized train step compiled by the JIT: its LLVM IR
//                                              after LLVM's optimizer, or the host assembly (codegen/jit.h)
//   kiln parse FILE|-                          parse, verify and print back a .kir file
//   kiln predict MODEL -i x.npy... -o y.npy... run a model on .npy inputs
//   kiln save NAME -o FILE                     a tutorial model as Keras JSON (.json) or a model.save()
//                                              file (compiled for its synthetic task)
//   kiln compile MODEL --aot -o libmodel.a [--header model.h] [--name PREFIX] [--predict-only]
//                                              predict and train_step (compiled models) with the weights
//                                              and optimizer state as a static library + C header
//                                              (Model::export_aot, codegen/aot.h; examples/aot)
//
// Wherever a NAME is taken, a saved model works too: a .json file (model.to_json)
// or a model.save() file.
//
// NAME is one of kiln::zoo::names(). Exit codes: 0 ok, 1 a kiln::Error (bad
// input file, failed verification, ...), 2 an unknown model name or bad usage.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <kiln/kiln.h>

#include "codegen/jit.h"
#include "frontend/zoo.h"
#include "frontend/training/tasks.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "runtime/atomic_file.h"
#include "passes/fuse.h"
#include "passes/pipelines.h"
#include "passes/plan_memory.h"

namespace {

// The tutorial's name for each model's plot (SEED.md).
struct Example {
  const char* name;
  const char* title;
  const char* png;
};
constexpr Example kExamples[] = {
    {"mlp", "Multilayer Perceptron", "multilayer_perceptron_graph.png"},
    {"cnn", "Convolutional Neural Network", "convolutional_neural_network.png"},
    {"rnn", "Recurrent Neural Network", "recurrent_neural_network.png"},
    {"shared_input", "Shared Input Layer", "shared_input_layer.png"},
    {"shared_feature", "Shared Feature Extraction Layer", "shared_feature_extractor.png"},
    {"multi_input", "Multiple Input Model", "multiple_inputs.png"},
    {"multi_output", "Multiple Output Model", "multiple_outputs.png"},
};

const Example* find_example(const std::string& name) {
  for (const Example& e : kExamples)
    if (name == e.name) return &e;
  return nullptr;
}

// An unknown model name: exit 2 with the list, before anything is built.
class UnknownName : public std::runtime_error {
 public:
  explicit UnknownName(const std::string& name) : std::runtime_error(message(name)) {}

 private:
  static std::string message(const std::string& name) {
    std::string s = "unknown model '" + name + "'; choose one of:";
    for (const std::string& n : kiln::zoo::names()) s += " " + n;
    return s + ", or the path of a saved model (.json from to_json, any other file from model.save)";
  }
};

bool is_zoo_name(const std::string& name) {
  for (const std::string& n : kiln::zoo::names())
    if (n == name) return true;
  return false;
}

void check_name(const std::string& name) {
  if (!is_zoo_name(name)) throw UnknownName(name);
}

std::string read_input(const std::string& file);

// A tutorial model by name, or a saved model: Keras JSON (.json) or a model.save() file.
kiln::Model build(const std::string& name) {
  kiln::clear_session();  // default names as in a fresh process: input_1, dense, ...
  if (is_zoo_name(name)) return kiln::zoo::build(name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec)) throw UnknownName(name);
  if (std::filesystem::path(name).extension() == ".json") return kiln::model_from_json(read_input(name));
  return kiln::load_model(name);
}

// Targets shaped like the model's outputs (batch 1), for building the training
// step of a saved, compiled model.
kiln::Data targets_like_outputs(const kiln::Model& model) {
  std::vector<kiln::Tensor> ys;
  for (const kiln::KerasTensor& t : model.outputs()) {
    std::vector<int64_t> shape = t.shape();
    shape[0] = 1;
    ys.push_back(kiln::Tensor::zeros(shape));
  }
  return ys;
}

// The training step of a tutorial model (compiled for its synthetic task) or
// of a saved model (compiled as it was saved).
std::unique_ptr<kiln::ir::Graph> train_step_graph(const std::string& name) {
  kiln::Model model = build(name);
  if (is_zoo_name(name)) {
    kiln::zoo::Task task = kiln::zoo::synthetic_task(name, 4);
    model.compile(task.compile);
    return model.step_graphs(task.y).train_step->clone();
  }
  if (!model.compiled())
    throw kiln::Error("'" + name + "' holds no training configuration (save the model after compile()), so it has " +
                      "no training step; --stage=forward and --stage=optimized-predict work");
  return model.step_graphs(targets_like_outputs(model)).train_step->clone();
}

// Trains `model` on its synthetic task (training/tasks.h) with Keras's progress output.
void train(kiln::Model& model, const std::string& name, int epochs, int64_t samples, const std::string& backend) {
  kiln::zoo::Task task = kiln::zoo::synthetic_task(name, samples);
  task.compile.backend = backend;
  model.compile(task.compile);
  if (epochs <= 0) epochs = task.epochs;
  std::cout << "Training " << name << " on a synthetic task (" << samples << " samples, " << epochs
            << " epochs, batch " << task.batch_size << ")\n";
  kiln::History h = model.fit(task.x, task.y, {.epochs = epochs, .batch_size = task.batch_size});
  std::cout << "loss " << h["loss"].front() << " -> " << h["loss"].back();
  if (task.metric != "loss") std::cout << ", " << task.metric << " " << h[task.metric].back();
  std::cout << "\n";
}

int run_examples(std::vector<std::string> names, const std::string& out_dir, bool train_too) {
  if (names.empty()) names = kiln::zoo::names();
  for (const std::string& n : names) check_name(n);
  std::filesystem::create_directories(out_dir);
  bool first = true;
  for (const std::string& n : names) {
    const Example* e = find_example(n);
    std::string png = e ? e->png : n + ".png";
    if (!first) std::cout << "\n";
    first = false;
    std::cout << "== " << n << ": " << (e ? e->title : n) << "\n";
    kiln::Model model = build(n);
    model.summary();
    std::filesystem::path path = std::filesystem::path(out_dir) / png;
    kiln::plot_model(model, path.string());
    std::cout << "wrote " << path.string() << "\n";
    if (train_too) train(model, n, 0, 64, "");
  }
  return 0;
}

// The training step as IR: forward + loss + metrics + backward + optimizer update.
std::string train_step_text(const std::string& name) { return kiln::ir::to_string(*train_step_graph(name)); }

// The train step (or forward graph) through the default pipeline, printed
// with its kernel count and buffer plan.
std::string optimized_text(const std::string& name, bool predict, const kiln::passes::PassOptions& opts) {
  std::unique_ptr<kiln::ir::Graph> g = predict ? build(name).forward_ir() : train_step_graph(name);
  namespace kp = kiln::passes;
  kp::optimize(*g, predict ? kp::Pipeline::Predict : kp::Pipeline::TrainStep, opts);
  // plan-memory's plan is the IR-level view; the JIT allocates codegen's (HACKING.md: two planners).
  return "// " + kp::kernel_summary(*g) + "\n" + kp::print_with_plan(*g) +
         "// jit arena (what the JIT allocates, codegen/plan.h) at N=32: " +
         std::to_string(kiln::codegen::planned_arena_bytes(*g, 32)) + " bytes\n";
}

// The optimized train step through the JIT (as the "jit" backend compiles it):
// LLVM IR after optimization, or the host assembly. No disk cache: the text
// is regenerated from the graph either way.
std::string compiled_text(const std::string& name, bool assembly) {
  std::unique_ptr<kiln::ir::Graph> g = train_step_graph(name);
  kiln::passes::optimize(*g, kiln::passes::Pipeline::TrainStep);
  kiln::codegen::Jit jit(kiln::codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto prog = jit.compile(*g);
  return assembly ? prog->asm_text() : prog->llvm_ir();
}

std::string read_input(const std::string& file) {
  if (file == "-") return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::ifstream in(file, std::ios::binary);
  if (!in) throw kiln::Error("cannot open '" + file + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// kiln predict FILE --input x.npy... -o y.npy...: one .npy per model input and output.
int run_predict(const std::string& name, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                int batch_size) {
  kiln::Model model = build(name);
  if (inputs.size() != model.inputs().size())
    throw kiln::Error("model '" + name + "' has " + std::to_string(model.inputs().size()) + " input(s); got " +
                      std::to_string(inputs.size()) + " --input file(s)");
  if (outputs.size() != model.outputs().size())
    throw kiln::Error("model '" + name + "' has " + std::to_string(model.outputs().size()) + " output(s); got " +
                      std::to_string(outputs.size()) + " -o file(s)");
  std::vector<kiln::Tensor> xs;
  for (const std::string& f : inputs) xs.push_back(kiln::runtime::read_npy(f));
  kiln::Prediction p = model.predict(xs, {.batch_size = batch_size});
  for (size_t i = 0; i < outputs.size(); ++i) {
    kiln::runtime::write_npy(outputs[i], p[i]);
    std::cout << "wrote " << outputs[i] << " " << p[i].shape_string() << "\n";
  }
  return 0;
}

// kiln save NAME -o FILE: a tutorial model (initial weights, compiled for its
// synthetic task) as Keras JSON (.json: architecture only) or a model.save() file.
int run_save(const std::string& name, const std::string& out) {
  kiln::Model model = build(name);
  if (is_zoo_name(name)) model.compile(kiln::zoo::synthetic_task(name, 4).compile);
  if (std::filesystem::path(out).extension() == ".json") {
    std::string json = model.to_json();
    kiln::runtime::atomic_write(out, json, "kiln save");
  } else {
    model.save(out);
  }
  std::cout << "wrote " << out << "\n";
  return 0;
}

// kiln compile MODEL --aot -o libmodel.a: predict (and, for a compiled model,
// train_step) as native code with the weights and optimizer state embedded, a
// C header beside it (default: the archive's name, .h). A tutorial model is
// compiled for its synthetic task first, as `kiln save` does.
int run_compile_aot(const std::string& name, const std::string& archive, const std::string& header,
                    std::string prefix, bool predict_only) {
  kiln::Model model = build(name);
  if (is_zoo_name(name)) model.compile(kiln::zoo::synthetic_task(name, 4).compile);
  if (prefix.empty()) prefix = "model";
  model.export_aot(archive, {.name = prefix, .header = header, .train_step = !predict_only});
  bool train = model.compiled() && !predict_only;
  std::cout << "wrote " << archive << " (" << prefix << "_predict" << (train ? ", " + prefix + "_train_step" : "")
            << ")\nwrote " << (header.empty() ? std::filesystem::path(archive).replace_extension(".h").string() : header)
            << "\n";
  return 0;
}

int run_parse(const std::string& file) {
  std::string text = read_input(file);
  kiln::ir::Module m = kiln::ir::parse_module(text, file == "-" ? "<stdin>" : file);
  kiln::ir::verify(m);
  kiln::ir::print(std::cout, m);
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"kiln: the Keras functional API in C++ (tutorial models, IR tools)", "kiln"};
  app.require_subcommand(1);
  std::string model_names = "One of:";
  for (const Example& e : kExamples) model_names += " " + std::string(e.name);

  std::vector<std::string> ex_names;
  std::string out_dir = ".";
  CLI::App* examples = app.add_subcommand("examples", "Build the tutorial models: print each summary, write each PNG");
  examples->add_option("NAME", ex_names, "Models to run (default: all). " + model_names);
  examples->add_option("--out-dir", out_dir, "Folder for the PNGs (default: current folder)");
  bool ex_train = false;
  examples->add_flag("--train", ex_train, "Also train each model for a few epochs on a synthetic task");

  std::string train_name, backend;
  int epochs = 0;
  int64_t samples = 64;
  CLI::App* train_cmd = app.add_subcommand("train", "Train a tutorial model on a synthetic task, with Keras's progress bar");
  train_cmd->add_option("NAME", train_name, model_names)->required();
  train_cmd->add_option("--epochs", epochs, "Epochs (default: what the task needs)");
  train_cmd->add_option("--samples", samples, "Number of synthetic samples (default 64)")->check(CLI::Range(2, 1 << 20));
  train_cmd->add_option("--backend", backend, "Execution backend (default: $KILN_BACKEND or the default)");

  std::string name;
  CLI::App* summary = app.add_subcommand("summary", "Print a tutorial model's summary, as Keras prints it");
  summary->add_option("NAME", name, model_names)->required();

  std::string plot_file;
  bool show_shapes = false;
  CLI::App* plot = app.add_subcommand("plot", "Draw a tutorial model's layer graph (.png, .svg, .pdf, .dot)");
  plot->add_option("NAME", name, model_names)->required();
  plot->add_option("-o,--output", plot_file, "Output file")->required();
  plot->add_flag("--show-shapes", show_shapes, "Show input and output shapes");

  std::string stage = "forward";
  CLI::App* ir = app.add_subcommand("ir", "Print a tutorial model's forward or training-step graph as IR text");
  ir->add_option("NAME", name, model_names)->required();
  ir->add_option("--stage", stage,
                 "forward (default), train (forward, loss, backward, optimizer update), optimized (the train "
                 "step after the default pipeline), optimized-predict, llvm (the optimized train step's LLVM IR "
                 "after LLVM's optimizer) or asm (its host assembly)")
      ->check(CLI::IsMember({"forward", "train", "optimized", "optimized-predict", "llvm", "asm"}));
  std::string print_after, dump_dir;
  bool time_passes = false;
  ir->add_option("--print-after", print_after, "Print the IR after these passes (comma-separated) or 'all'");
  ir->add_option("--dump-dir", dump_dir, "Write the IR of every stage to DIR/00-input.kir, 01-<pass>.kir, ...");
  ir->add_flag("--time-passes", time_passes, "Print the time each pass took");

  std::string file;
  CLI::App* parse = app.add_subcommand("parse", "Parse and verify a .kir file, print it back ('-' reads stdin)");
  parse->add_option("FILE", file, "IR text file, or - for stdin")->required();

  std::vector<std::string> pred_inputs, pred_outputs;
  int pred_batch = 32;
  CLI::App* predict = app.add_subcommand("predict", "Run a model on .npy inputs, write .npy outputs");
  predict->add_option("MODEL", name, "A saved model file (or a tutorial model name)")->required();
  predict->add_option("-i,--input", pred_inputs, "One .npy per model input, in order")->required();
  predict->add_option("-o,--output", pred_outputs, "One .npy per model output, in order")->required();
  predict->add_option("--batch-size", pred_batch, "Batch size (default 32)")->check(CLI::PositiveNumber);

  std::string save_file;
  CLI::App* save = app.add_subcommand("save", "Save a tutorial model: Keras JSON (.json) or a model.save() file");
  save->add_option("NAME", name, model_names)->required();
  save->add_option("-o,--output", save_file, "Output file")->required();

  std::string aot_archive, aot_header, aot_prefix;
  bool aot = false;
  CLI::App* compile =
      app.add_subcommand("compile", "Compile a model's predict and train_step ahead of time: static library + C header");
  compile->add_option("MODEL", name, "A saved model file (or a tutorial model name)")->required();
  compile->add_flag("--aot", aot, "Native code for this CPU with the weights embedded (required)")->required();
  compile->add_option("-o,--output", aot_archive, "Static library to write (e.g. libmodel.a)")->required();
  compile->add_option("--header", aot_header, "C header to write (default: the library's path with .h)");
  compile->add_option("--name", aot_prefix, "Prefix of the C symbols (default: model -> model_predict)");
  bool aot_predict_only = false;
  compile->add_flag("--predict-only", aot_predict_only, "Leave out train_step (included when the model is compiled)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (examples->parsed()) return run_examples(ex_names, out_dir, ex_train);
  if (train_cmd->parsed()) {
    kiln::Model model = build(train_name);
    train(model, train_name, epochs, samples, backend);
    return 0;
  }
  if (summary->parsed()) {
    build(name).summary();
    return 0;
  }
  if (plot->parsed()) {
    kiln::Model model = build(name);
    kiln::plot_model(model, plot_file, {.show_shapes = show_shapes});
    std::cout << "wrote " << plot_file << "\n";
    return 0;
  }
  if (ir->parsed()) {
    if (stage == "optimized" || stage == "optimized-predict") {
      kiln::passes::PassOptions opts;
      opts.print_after = kiln::passes::split_names(print_after);
      opts.dump_dir = dump_dir;
      opts.time_passes = time_passes;
      opts.verify_each = true;
      opts.log = &std::cout;
      std::cout << optimized_text(name, stage == "optimized-predict", opts);
      return 0;
    }
    if (stage == "llvm" || stage == "asm") {
      std::cout << compiled_text(name, stage == "asm");
      return 0;
    }
    std::cout << (stage == "train" ? train_step_text(name) : build(name).forward_ir_text());
    return 0;
  }
  if (parse->parsed()) return run_parse(file);
  if (predict->parsed()) return run_predict(name, pred_inputs, pred_outputs, pred_batch);
  if (save->parsed()) return run_save(name, save_file);
  if (compile->parsed()) return run_compile_aot(name, aot_archive, aot_header, aot_prefix, aot_predict_only);
  return 2;  // unreachable: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UnknownName& e) {
    std::cerr << "kiln: " << e.what() << "\n";
    return 2;
  } catch (const kiln::Error& e) {
    std::cerr << "kiln: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "kiln: error: " << e.what() << "\n";
    return 1;
  }
}
