// plot_model: real PNG/SVG/PDF files rendered through libgvc, DOT options,
// record-label escaping, and errors.
#include <filesystem>

#include "frontend/zoo.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::read_file;

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("kiln_plot_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

TEST(Plot, PngHasMagicBytes) {
  Model m = zoo::build("multi_input");
  fs::path p = temp_dir() / "multiple_inputs.png";
  plot_model(m, p.string(), {.show_shapes = true});
  std::string data = read_file(p.string());
  ASSERT_GT(data.size(), 1000u);
  EXPECT_EQ(data.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(Plot, SvgNamesEveryLayer) {
  for (const std::string& name : zoo::names()) {
    Model m = zoo::build(name);
    fs::path p = temp_dir() / (name + ".svg");
    plot_model(m, p.string(), {.show_shapes = true});
    std::string svg = read_file(p.string());
    EXPECT_NE(svg.find("<svg"), std::string::npos);
    for (const auto& l : m.layers())
      EXPECT_NE(svg.find(">" + l->name()), std::string::npos) << name << " " << l->name();
  }
}

TEST(Plot, PdfAndDot) {
  Model m = zoo::build("mlp");
  fs::path pdf = temp_dir() / "mlp.pdf";
  plot_model(m, pdf.string());
  EXPECT_EQ(read_file(pdf.string()).substr(0, 5), "%PDF-");
  fs::path dot = temp_dir() / "mlp.dot";
  plot_model(m, dot.string(), {.show_shapes = true});
  EXPECT_EQ(read_file(dot.string()), model_to_dot(m, {.show_shapes = true}));
}

TEST(Plot, DotOptions) {
  Model m = zoo::build("multi_output");
  std::string plain = model_to_dot(m);
  EXPECT_NE(plain.find("0 [label=\"input_1: InputLayer\"];"), std::string::npos) << plain;
  EXPECT_NE(plain.find("time_distributed(dense_2): TimeDistributed(Dense)"), std::string::npos) << plain;
  std::string lr = model_to_dot(m, {.show_layer_names = false, .rankdir = "LR"});
  EXPECT_NE(lr.find("rankdir=LR;"), std::string::npos);
  EXPECT_NE(lr.find("[label=\"LSTM\"]"), std::string::npos) << lr;
  EXPECT_NE(model_to_dot(m, {.show_dtype = true}).find("float32"), std::string::npos);
}

TEST(Plot, RecordSyntaxInNamesIsEscaped) {
  clear_session();
  auto x = Input({3}, {.name = "in{1}"});
  Model m(x, Dense(2, {.name = "a|b<c>"})(x));
  std::string dot = model_to_dot(m, {.show_shapes = true});
  EXPECT_NE(dot.find("a\\|b\\<c\\>: Dense"), std::string::npos) << dot;
  EXPECT_NE(dot.find("in\\{1\\}: InputLayer"), std::string::npos) << dot;
  fs::path p = temp_dir() / "escaped.svg";
  plot_model(m, p.string(), {.show_shapes = true});
  EXPECT_NE(read_file(p.string()).find("a|b&lt;c&gt;"), std::string::npos);
}

TEST(Plot, Errors) {
  Model m = zoo::build("mlp");
  std::string msg = error_of([&] { plot_model(m, (temp_dir() / "x.bmpx").string()); });
  EXPECT_NE(msg.find(".png, .svg, .pdf or .dot"), std::string::npos) << msg;
  msg = error_of([&] { plot_model(m, "/nonexistent_dir_kiln/x.png"); });
  EXPECT_NE(msg.find("cannot write \"/nonexistent_dir_kiln/x.png\""), std::string::npos) << msg;
  msg = error_of([&] { model_to_dot(m, {.rankdir = "XY"}); });
  EXPECT_NE(msg.find("rankdir"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln
