// Model::save and load_model: the whole model in one Kiln container file.
//
// Why not Keras's .keras zip: it needs a zip writer and reader (a new
// dependency or a hand-written one, and another untrusted parser to harden),
// and its weights use Keras 3's layout, so a Kiln .keras file still would not
// load in tf.keras 2.x. A flat container gives the same "one file" guarantee,
// is written with one atomic rename, and every section reuses a reader Kiln
// already has (Keras JSON, Kiln weights); interop with Keras goes through
// to_json() and save_weights("w.weights.h5") (Keras 3) or ("w.h5") (tf.keras 2.x), which
// Keras reads directly.
//
// Layout, little-endian:
//   magic "\x89KILNMD\n" (8 bytes), u32 version (1), u32 section count (<= 16), then per section
//     u32 length + name, u64 length + bytes
//   u64 FNV-1a 64 checksum of every byte before it.
// Sections:
//   model.json    model.to_json()
//   weights       Kiln weights blob (persistence/weights.h), model.get_weights() order
//   compile.json  what compile() was given and the current learning rate (only if compiled)
//   optimizer     Kiln weights blob with one layer "optimizer": the step counter "iterations",
//                 then each weight's slots "<layer>/<weight>/<slot>" (only after a training step)
// Resuming: load_model() compiles with the saved options, restores the learning rate and the
// state, so fit(..., {.initial_epoch = k}) continues bit for bit (with shuffle off; fit draws
// a new shuffle seed per call).
#include <cstring>

#include "kiln/persistence.h"
#include "persistence/json_util.h"
#include "persistence/weights.h"
#include "runtime/atomic_file.h"

namespace kiln {
namespace {

using persistence::FdWriter;
using persistence::Fields;
using persistence::FileReader;
using persistence::json;
using persistence::ordered_json;
using persistence::StoredLayer;
using persistence::StoredWeight;

constexpr char kMagic[8] = {'\x89', 'K', 'I', 'L', 'N', 'M', 'D', '\n'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxSections = 16;

// --- compile config ---

ordered_json optimizer_json(const Optimizer& o) {
  ordered_json c;
  if (o.name() == "SGD") {
    const SGDOptions& s = o.sgd_options();
    c = {{"learning_rate", s.learning_rate}, {"momentum", s.momentum}, {"nesterov", s.nesterov}};
  } else if (o.name() == "Adam") {
    const AdamOptions& a = o.adam_options();
    c = {{"learning_rate", a.learning_rate}, {"beta_1", a.beta_1}, {"beta_2", a.beta_2}, {"epsilon", a.epsilon}};
  } else if (o.name() == "RMSprop") {
    const RMSpropOptions& r = o.rmsprop_options();
    c = {{"learning_rate", r.learning_rate},
         {"rho", r.rho},
         {"momentum", r.momentum},
         {"epsilon", r.epsilon},
         {"centered", r.centered}};
  } else {
    const AdagradOptions& a = o.adagrad_options();
    c = {{"learning_rate", a.learning_rate},
         {"initial_accumulator_value", a.initial_accumulator_value},
         {"epsilon", a.epsilon}};
  }
  return {{"class_name", o.name()}, {"config", c}};
}

Optimizer optimizer_from(const json& j) {
  Fields f(j, "load_model: compile.json optimizer");
  std::string cls = f.str("class_name");
  Fields c(f.at("config"), "load_model: optimizer " + cls);
  if (cls == "SGD")
    return Optimizer(SGDOptions{c.number("learning_rate"), c.number("momentum"), c.boolean("nesterov")});
  if (cls == "Adam")
    return Optimizer(
        AdamOptions{c.number("learning_rate"), c.number("beta_1"), c.number("beta_2"), c.number("epsilon")});
  if (cls == "RMSprop")
    return Optimizer(RMSpropOptions{c.number("learning_rate"), c.number("rho"), c.number("momentum"),
                                    c.number("epsilon"), c.boolean("centered")});
  if (cls == "Adagrad")
    return Optimizer(
        AdagradOptions{c.number("learning_rate"), c.number("initial_accumulator_value"), c.number("epsilon")});
  f.fail("class_name", "is \"" + cls + "\"; expected SGD, Adam, RMSprop or Adagrad");
}

ordered_json loss_json(const Loss& l) {
  return {{"name", l.name()}, {"from_logits", l.options().from_logits}, {"delta", l.options().delta}};
}

Loss loss_from(const json& j) {
  Fields f(j, "load_model: compile.json loss");
  return Loss(f.str("name"), {.from_logits = f.boolean("from_logits"), .delta = f.number("delta")});
}

ordered_json compile_json(const Trainer& t) {
  const CompileOptions& o = t.options();
  ordered_json losses = ordered_json::array(), by_name = ordered_json::object(), metrics = ordered_json::array();
  for (const Loss& l : o.loss.list) losses.push_back(loss_json(l));
  for (const auto& [k, l] : o.loss.by_name) by_name[k] = loss_json(l);
  for (const Metric& m : o.metrics) metrics.push_back(m.name());
  return {{"optimizer", optimizer_json(o.optimizer)},
          {"learning_rate", t.learning_rate()},
          {"loss", losses},
          {"loss_by_output", by_name},
          {"loss_weights", o.loss_weights},
          {"metrics", metrics},
          {"backend", o.backend}};
}

CompileOptions compile_from(const json& j, double& lr) {
  Fields f(j, "load_model: compile.json");
  CompileOptions o;
  o.optimizer = optimizer_from(f.at("optimizer"));
  lr = f.number("learning_rate");
  const json& losses = f.at("loss");
  const json& by_name = f.at("loss_by_output");
  if (!losses.is_array() || !by_name.is_object()) f.fail("loss", "must be a list (and loss_by_output an object)");
  for (const json& l : losses) o.loss.list.push_back(loss_from(l));
  for (const auto& [k, l] : by_name.items()) o.loss.by_name.emplace(k, loss_from(l));
  const json& lw = f.at("loss_weights");
  if (!lw.is_array()) f.fail("loss_weights", "must be a list of numbers");
  for (const json& w : lw) {
    if (!w.is_number()) f.fail("loss_weights", "must be a list of numbers");
    o.loss_weights.push_back(w.get<double>());
  }
  const json& ms = f.at("metrics");
  if (!ms.is_array()) f.fail("metrics", "must be a list of names");
  for (const json& m : ms) {
    if (!m.is_string()) f.fail("metrics", "must be a list of names");
    o.metrics.emplace_back(m.get<std::string>());
  }
  o.backend = f.str("backend", "");
  return o;
}

// The optimizer state's layout: step counter, then each weight's slots (step_graphs.h's order).
std::vector<StoredLayer> state_layout(const Model& m, const Optimizer& opt) {
  StoredLayer l{"optimizer", {{"iterations", {}, 0}}};
  std::vector<std::string> slots = opt.slot_names();
  for (const auto& layer : m.layers())
    for (const Weight& w : layer->weights())
      for (const std::string& s : slots)
        l.weights.push_back({layer->name() + "/" + w.name + "/" + s, w.value.shape(), 0});
  return {l};
}

// --- container ---

struct Section {
  std::string name;
  uint64_t offset = 0, size = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void Model::save(const std::string& path) const {
  if (ends_with(path, ".h5") || ends_with(path, ".keras"))
    throw Error("save: " + path +
                ": Kiln writes whole models in its own container (use a name like \"m.kiln\"); "
                "for Keras, write the architecture with to_json() and the weights with save_weights(\"w.h5\")");
  std::string arch = to_json();
  std::vector<StoredLayer> layout = persistence::model_layout(*this);
  std::vector<Tensor> values = get_weights();
  const Trainer* t = trainer();
  std::string compile = t ? persistence::dump_python(compile_json(*t)) : "";
  bool has_state = t && !t->state().empty();
  std::vector<StoredLayer> slayout =
      has_state ? state_layout(*this, t->options().optimizer) : std::vector<StoredLayer>{};
  KILN_ASSERT(!has_state || slayout[0].weights.size() == t->state().size(),
              "optimizer state has " + std::to_string(t ? t->state().size() : 0) + " tensors");

  runtime::atomic_replace(
      path,
      [&](const std::string&, int fd) {
        FdWriter w(fd, path, "save");
        w.write(kMagic, sizeof kMagic);
        w.u32(kVersion);
        w.u32(2 + (t ? 1 : 0) + (has_state ? 1 : 0));
        auto text = [&](const char* name, const std::string& s) {
          w.str(name);
          w.u64(s.size());
          w.write(s.data(), s.size());
        };
        text("model.json", arch);
        w.str("weights");
        w.u64(persistence::kiln_weights_size(layout));
        persistence::write_kiln_weights(w, layout, values);
        if (t) text("compile.json", compile);
        if (has_state) {
          w.str("optimizer");
          w.u64(persistence::kiln_weights_size(slayout));
          persistence::write_kiln_weights(w, slayout, t->state());
        }
        w.u64(w.hash());
        w.flush();
      },
      "save");
}

Model load_model(const std::string& path) {
  FileReader r(path, "load_model");
  char magic[8] = {};
  if (r.remaining() < sizeof magic) r.fail("not a Kiln model file (too short)");
  r.read(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) r.fail("not a Kiln model file (bad magic bytes)");
  uint32_t version = r.u32();
  if (version != kVersion) r.fail("unsupported Kiln model file version " + std::to_string(version));
  uint32_t count = r.u32();
  if (count > kMaxSections) r.fail("section count " + std::to_string(count) + " is absurd");
  std::vector<Section> sections;
  for (uint32_t i = 0; i < count; ++i) {
    Section s{r.str(64, "a section name"), 0, r.u64()};
    if (s.size > r.remaining()) r.fail("section \"" + s.name + "\" runs past the end of the file");
    s.offset = r.offset();
    r.skip(s.size);
    sections.push_back(std::move(s));
  }
  uint64_t want = r.hash();
  if (r.u64() != want) r.fail("checksum mismatch: the file is corrupted");
  if (r.remaining() != 0) r.fail("unexpected bytes after the checksum");

  auto find = [&](const std::string& name) -> const Section* {
    for (const Section& s : sections)
      if (s.name == name) return &s;
    return nullptr;
  };
  auto text = [&](const Section& s) {
    if (s.size > JsonLimits{}.max_bytes) r.fail("section \"" + s.name + "\" is too large");
    std::string out(static_cast<size_t>(s.size), '\0');
    r.seek(s.offset);
    r.read(out.data(), out.size());
    return out;
  };
  auto blob = [&](const Section& s, const std::vector<StoredLayer>& expected, const std::string& what) {
    r.seek(s.offset);
    r.limit(s.size);
    std::vector<StoredLayer> file = persistence::read_kiln_index(r);
    std::vector<Tensor> values;
    for (auto [li, wi] : persistence::match_layout(expected, file, "load_model: " + path + ": " + what))
      values.push_back(persistence::read_kiln_data(r, file[li].weights[wi]));
    return values;
  };
  const Section* arch = find("model.json");
  const Section* weights = find("weights");
  if (!arch || !weights) r.fail("the sections model.json and weights are required");

  // The weights section must hold every weight the architecture creates (4 bytes each): a
  // hostile architecture cannot make Kiln allocate more than the file could fill.
  Model m = model_from_json(text(*arch), {.max_params = static_cast<int64_t>(weights->size / 4)});
  m.set_weights(blob(*weights, persistence::model_layout(m), "weights"));
  if (const Section* c = find("compile.json")) {
    double lr = 0;
    CompileOptions o = compile_from(persistence::parse_json(text(*c), {}, "load_model: compile.json"), lr);
    m.compile(o);
    m.set_learning_rate(lr);
    if (const Section* st = find("optimizer"))
      m.trainer()->set_state(blob(*st, state_layout(m, o.optimizer), "optimizer state"));
  }
  return m;
}

}  // namespace kiln
