// plot_model / model_to_dot as Keras's keras/utils/vis_utils.py draws the graph
// (record nodes `name: Class`, `wrapper(inner): Wrapper(Inner)`, with
// show_shapes an `{input:|output:}` table; one edge per inbound layer of each of
// the layer's nodes in the model), rendered in-process through Graphviz's libgvc.
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>

#include "kiln/model.h"
#include "network.h"

namespace kiln {
namespace {

// Text inside a record label: escape the record syntax and DOT's quote.
std::string record_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '{' || c == '}' || c == '|' || c == '<' || c == '>' || c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string layer_label(const Layer& l, const PlotOptions& o) {
  std::string cls = l.class_name(), name = l.name();
  if (const Layer* inner = l.wrapped()) {
    name += "(" + inner->name() + ")";
    cls += "(" + inner->class_name() + ")";
  }
  std::string label = o.show_layer_names ? record_escape(name) + ": " + record_escape(cls) : record_escape(cls);
  if (o.show_dtype) label += "|float32";
  if (o.show_shapes) {
    // Keras 2 prints an InputLayer's shapes as tuples here (the summary shows a list).
    bool is_input = l.class_name() == "InputLayer";
    std::string in = l.input_shape_string();
    std::string out = is_input ? in : l.output_shape_string();
    label += "\\n|{input:|output:}|{{" + record_escape(in) + "}|{" + record_escape(out) + "}}";
  }
  return label;
}

std::string extension_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

void write_file(const std::string& path, const char* data, size_t size) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error("plot_model: cannot write \"" + path + "\" (does the directory exist and is it writable?)");
  f.write(data, static_cast<std::streamsize>(size));
  if (!f) throw Error("plot_model: error while writing \"" + path + "\"");
}

}  // namespace

std::string model_to_dot(const Model& model, const PlotOptions& options) {
  if (options.rankdir != "TB" && options.rankdir != "LR" && options.rankdir != "BT" && options.rankdir != "RL")
    throw Error("plot_model: rankdir must be one of TB, LR, BT, RL; got \"" + options.rankdir + "\"");
  const detail::Network& net = model.network();
  // A Sequential model is drawn with its input layer, as tf.keras does.
  const std::vector<std::shared_ptr<Layer>>& layers = net.layers;
  std::map<const Layer*, size_t> id;
  for (size_t i = 0; i < layers.size(); ++i) id[layers[i].get()] = i;

  std::string dot = "digraph G {\nrankdir=" + options.rankdir + ";\nconcentrate=True;\nnode [shape=record];\n";
  for (size_t i = 0; i < layers.size(); ++i)
    dot += std::to_string(i) + " [label=\"" + layer_label(*layers[i], options) + "\"];\n";
  for (const auto& l : layers)
    for (const CallNode* node : net.nodes_of(*l))
      for (const KerasTensor& in : node->inputs)
        dot += std::to_string(id.at(&in.layer())) + " -> " + std::to_string(id.at(l.get())) + ";\n";
  return dot + "}\n";
}

namespace {

// One Graphviz context for the whole process, never freed: Graphviz 2.42's pango
// plugin keeps font data across contexts, and a layout in a second context after
// the first was freed reads freed memory (found by AddressSanitizer). Graphviz
// is not thread-safe either, so rendering holds a lock.
GVC_t* graphviz() {
  static GVC_t* gvc = gvContext();
  return gvc;
}

std::mutex& graphviz_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer builds (-DKILN_SANITIZE=ON): the context above and
// fontconfig's font cache live for the whole process by design; they are not
// leaks. LeakSanitizer reads this hook in any program that renders a plot.
extern "C" const char* __lsan_default_suppressions() { return "leak:libfontconfig.so\nleak:libgvc.so\n"; }
#endif

void plot_model(const Model& model, const std::string& path, const PlotOptions& options) {
  std::string ext = extension_of(path);
  if (ext != "png" && ext != "svg" && ext != "pdf" && ext != "dot")
    throw Error("plot_model: cannot tell the image format of \"" + path +
                "\"; use a file name ending in .png, .svg, .pdf or .dot");
  std::string dot = model_to_dot(model, options);
  if (ext == "dot") return write_file(path, dot.data(), dot.size());

  std::lock_guard<std::mutex> lock(graphviz_mutex());
  GVC_t* gvc = graphviz();
  if (!gvc) throw Error("plot_model: cannot initialize Graphviz");
  agseterr(AGMAX);  // errors come back as return codes, not as stderr noise
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  if (!g) throw Error("plot_model: Graphviz could not parse the model's DOT text (internal error)");
  if (gvLayout(gvc, g.get(), "dot") != 0) throw Error("plot_model: Graphviz layout failed");
  char* data = nullptr;
  unsigned int size = 0;
  int rc = gvRenderData(gvc, g.get(), ext.c_str(), &data, &size);
  gvFreeLayout(gvc, g.get());
  if (rc != 0 || !data) {
    if (data) gvFreeRenderData(data);
    throw Error("plot_model: Graphviz cannot render the format \"" + ext +
                "\" (is the Graphviz plugin for it installed? try .svg or .dot)");
  }
  try {
    write_file(path, data, size);
  } catch (...) {
    gvFreeRenderData(data);
    throw;
  }
  gvFreeRenderData(data);
}

}  // namespace kiln
