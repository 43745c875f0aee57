// model_from_json on hostile input: every malformed, absurd or unsupported
// document is a kiln::Error with a message naming the problem, never a crash,
// a hang or a huge allocation; plus seeded random mutations of real configs.
#include <nlohmann/json.hpp>
#include <random>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;
using nlohmann::json;

namespace {

json mlp_json() { return json::parse(zoo::build("mlp").to_json()); }

// layers[i] of the MLP's config.
json& layer(json& j, size_t i) { return j["config"]["layers"][i]; }

struct Case {
  const char* name;
  std::function<std::string()> text;
  const char* expect;  // substring of the error
};

std::string with(const std::function<void(json&)>& edit) {
  json j = mlp_json();
  edit(j);
  return j.dump();
}

const std::vector<Case>& cases() {
  static const std::vector<Case> cs = {
      {"not json", [] { return std::string("{\"class_name\": "); }, "invalid JSON"},
      {"bad utf8", [] { return std::string("{\"class_name\": \"\xff\xfe\"}"); }, "invalid JSON"},
      {"overlong utf8", [] { return std::string("{\"class_name\": \"\xc0\xaf\"}"); }, "invalid JSON"},
      {"deep nesting", [] { return std::string(200000, '['); }, "nested more than 64"},
      {"number overflow",
       [] {
         std::string t = with([](json& j) { layer(j, 1)["config"]["units"] = 7; });
         return t.replace(t.find("\"units\":7"), 9, "\"units\":1e999");
       },
       "invalid JSON"},
      {"top level array", [] { return std::string("[1, 2]"); }, "expected a JSON object"},
      {"unknown model class", [] { return with([](json& j) { j["class_name"] = "Foo"; }); }, "is not a model"},
      {"missing config", [] { return with([](json& j) { j.erase("config"); }); }, "\"config\" is missing"},
      {"layers not a list", [] { return with([](json& j) { j["config"]["layers"] = 3; }); },
       "\"layers\" must be a list"},
      {"unknown layer class", [] { return with([](json& j) { layer(j, 1)["class_name"] = "Dropout"; }); },
       "unknown layer class \"Dropout\""},
      {"units as string", [] { return with([](json& j) { layer(j, 1)["config"]["units"] = "10"; }); },
       "\"units\" must be an integer, got a string"},
      {"units negative", [] { return with([](json& j) { layer(j, 1)["config"]["units"] = -5; }); },
       "\"units\" must be in [1, "},
      {"units float", [] { return with([](json& j) { layer(j, 1)["config"]["units"] = 2.5; }); },
       "must be an integer, got a number"},
      {"units beyond uint64",
       [] {
         std::string t = with([](json& j) { layer(j, 1)["config"]["units"] = 7; });
         return t.replace(t.find("\"units\":7"), 9, "\"units\":123456789012345678901234567890");
       },
       "must be an integer"},
      {"units huge", [] { return with([](json& j) { layer(j, 1)["config"]["units"] = int64_t{1} << 39; }); },
       "would create"},
      {"input elements huge",
       [] {
         return with([](json& j) {
           layer(j, 0)["config"]["batch_input_shape"] = {nullptr, 1 << 30, 1 << 30, 1 << 30};
         });
       },
       "2^40 elements"},
      {"input rank huge",
       [] {
         return with([](json& j) { layer(j, 0)["config"]["batch_input_shape"] = json(std::vector<int>(100, 1)); });
       },
       "rank 99"},
      {"input zero dim",
       [] { return with([](json& j) {
              layer(j, 0)["config"]["batch_input_shape"] = {nullptr, 0};
            }); },
       "dimension 1 must be in [1, "},
      {"input null inside",
       [] { return with([](json& j) {
              layer(j, 0)["config"]["batch_input_shape"] = {nullptr, nullptr};
            }); },
       "only the batch dimension"},
      {"input shape missing", [] { return with([](json& j) { layer(j, 0)["config"].erase("batch_input_shape"); }); },
       "\"batch_shape\" is missing"},
      {"unknown inbound layer", [] { return with([](json& j) { layer(j, 2)["inbound_nodes"][0][0][0] = "ghost"; }); },
       "unknown layer \"ghost\""},
      {"inbound node out of range", [] { return with([](json& j) { layer(j, 2)["inbound_nodes"][0][0][1] = 3; }); },
       "refers to node 3 of layer \"dense\""},
      {"inbound tensor index", [] { return with([](json& j) { layer(j, 2)["inbound_nodes"][0][0][2] = 1; }); },
       "Kiln layers have one output"},
      {"inbound node empty", [] { return with([](json& j) { layer(j, 2)["inbound_nodes"][0] = json::array(); }); },
       "has no input tensors"},
      {"inbound not a list", [] { return with([](json& j) { layer(j, 2)["inbound_nodes"] = "dense"; }); },
       "\"inbound_nodes\" must be a list"},
      {"cycle",
       [] {
         return with([](json& j) {
           layer(j, 1)["inbound_nodes"][0][0][0] = "dense_1";
           layer(j, 2)["inbound_nodes"][0][0][0] = "dense";
         });
       },
       "cycle"},
      {"self loop", [] { return with([](json& j) { layer(j, 1)["inbound_nodes"][0][0][0] = "dense"; }); }, "cycle"},
      {"duplicate names",
       [] {
         return with([](json& j) {
           layer(j, 2)["name"] = "dense";
           layer(j, 2)["config"]["name"] = "dense";
         });
       },
       "\"dense\" is used twice"},
      {"input_layers names a Dense", [] { return with([](json& j) { j["config"]["input_layers"][0][0] = "dense"; }); },
       "not an InputLayer"},
      {"output_layers missing", [] { return with([](json& j) { j["config"].erase("output_layers"); }); },
       "\"output_layers\" is missing"},
      {"unconnected layer", [] { return with([](json& j) { layer(j, 2)["inbound_nodes"] = json::array(); }); },
       "has no inbound nodes"},
      {"unknown activation", [] { return with([](json& j) { layer(j, 1)["config"]["activation"] = "gelu"; }); },
       "Unknown activation function: \"gelu\""},
      {"activation object",
       [] { return with([](json& j) {
              layer(j, 1)["config"]["activation"] = {{"class_name", "ReLU"}};
            }); },
       "Kiln does not support an object activations"},
      {"float16", [] { return with([](json& j) { layer(j, 1)["config"]["dtype"] = "float16"; }); }, "float32 only"},
      {"frozen", [] { return with([](json& j) { layer(j, 1)["config"]["trainable"] = false; }); }, "frozen layers"},
      {"regularizer",
       [] { return with([](json& j) {
              layer(j, 1)["config"]["kernel_regularizer"] = {{"class_name", "L2"}};
            }); },
       "no regularizers"},
      {"model name not a string", [] { return with([](json& j) { j["config"]["name"] = 5; }); },
       "\"name\" must be a string"},
      {"too many layers",
       [] {
         return with([](json& j) {
           for (int i = 0; i < 100001; ++i) j["config"]["layers"].push_back(1);
         });
       },
       "more than JsonLimits::max_layers"},
  };
  return cs;
}

TEST(HostileJson, EveryCaseIsAClearError) {
  for (const Case& c : cases()) {
    std::string text = c.text();
    std::string msg = error_of([&] { model_from_json(text); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": got \"" << msg << "\"";
  }
}

// Layer-specific unsupported options.
TEST(HostileJson, UnsupportedLayerOptions) {
  json cnn = json::parse(zoo::build("cnn").to_json());
  json rnn = json::parse(zoo::build("multi_output").to_json());
  auto fails = [](json j, const std::function<void(json&)>& edit, const std::string& expect) {
    edit(j);
    std::string msg = error_of([&] { model_from_json(j.dump()); });
    EXPECT_NE(msg.find(expect), std::string::npos) << "got \"" << msg << "\"";
  };
  fails(
      cnn,
      [](json& j) {
        layer(j, 1)["config"]["dilation_rate"] = {2, 2};
      },
      "dilation_rate (1, 1) only");
  fails(
      cnn, [](json& j) { layer(j, 1)["config"]["data_format"] = "channels_first"; }, "channels_last only");
  fails(
      cnn, [](json& j) { layer(j, 1)["config"]["padding"] = "causal"; }, "causal");
  fails(
      cnn,
      [](json& j) {
        layer(j, 1)["config"]["kernel_size"] = {100, 100};
      },
      "Negative dimension size");
  fails(
      cnn,
      [](json& j) {
        layer(j, 1)["config"]["kernel_size"] = {1, 2, 3};
      },
      "list of two integers");
  fails(
      cnn, [](json& j) { layer(j, 1)["config"]["filters"] = int64_t{1} << 40; }, "would create");
  fails(
      rnn, [](json& j) { layer(j, 1)["config"]["go_backwards"] = true; }, "go_backwards=true");
  fails(
      rnn, [](json& j) { layer(j, 1)["config"]["dropout"] = 0.5; }, "no dropout");
  fails(
      rnn, [](json& j) { layer(j, 1)["config"]["units"] = int64_t{1} << 30; }, "would create");
  // TimeDistributed is the last layer of multi_output.
  json& td_probe = rnn["config"]["layers"];
  size_t td = 0;
  for (size_t i = 0; i < td_probe.size(); ++i)
    if (td_probe[i]["class_name"] == "TimeDistributed") td = i;
  fails(
      rnn,
      [&](json& j) {
        json copy = layer(j, td);
        layer(j, td)["config"]["layer"] = copy;
      },
      "is itself a wrapper");
  fails(
      rnn, [&](json& j) { layer(j, td)["config"]["layer"] = layer(j, 1); }, "TimeDistributed(LSTM) is not supported");
  fails(
      rnn, [&](json& j) { layer(j, td)["config"]["layer"] = 3; }, "expected a JSON object");

  json seq = json::parse(R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
      {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}})");
  std::string msg = error_of([&] { model_from_json(seq.dump()); });
  EXPECT_NE(msg.find("declares no input shape"), std::string::npos) << msg;
  seq["config"]["layers"].push_back({{"class_name", "InputLayer"}, {"config", {{"batch_input_shape", {nullptr, 3}}}}});
  seq["config"]["build_input_shape"] = {nullptr, 3};
  msg = error_of([&] { model_from_json(seq.dump()); });
  EXPECT_NE(msg.find("only be the first layer"), std::string::npos) << msg;
}

TEST(HostileJson, LimitsAreEnforced) {
  std::string text = zoo::build("mlp").to_json();
  EXPECT_NE(error_of([&] { model_from_json(text, {.max_bytes = 100}); }).find("more than the limit of 100"),
            std::string::npos);
  EXPECT_NE(error_of([&] { model_from_json(text, {.max_depth = 3}); }).find("nested more than 3"), std::string::npos);
  EXPECT_NE(error_of([&] { model_from_json(text, {.max_params = 500}); }).find("at most 500"), std::string::npos);
}

// Random byte edits of real configs: each result loads or is a kiln::Error, nothing else.
TEST(HostileJson, SeededMutationsNeverCrash) {
  std::vector<std::string> docs;
  for (const char* n : {"mlp", "shared_feature", "multi_output", "shared_input"})
    docs.push_back(zoo::build(n).to_json());
  std::mt19937 rng(1234);
  const char* tokens[] = {"{",  "}", "[",     "]",  ",",    ":",           "null",
                          "-1", "0", "1e999", "\"", "\xff", "99999999999", "true"};
  int loaded = 0, errors = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string t = docs[static_cast<size_t>(iter) % docs.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !t.empty(); ++e) {
      size_t pos = rng() % t.size();
      switch (rng() % 4) {
        case 0: t.erase(pos, 1 + rng() % 8); break;
        case 1: t.insert(pos, tokens[rng() % (sizeof tokens / sizeof *tokens)]); break;
        case 2: t[pos] = static_cast<char>(rng() % 256); break;
        default: t.resize(pos); break;
      }
    }
    try {
      model_from_json(t, {.max_params = 1 << 22});
      ++loaded;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(loaded + errors, 1500);
}

}  // namespace
