#include "training/progress.h"

#include <unistd.h>

#include <cmath>

namespace kiln {

Progbar::Progbar(int target, int verbose, std::FILE* out)
    : target_(target), verbose_(verbose), tty_(isatty(fileno(out)) != 0), out_(out),
      start_(std::chrono::steady_clock::now()) {}

std::string Progbar::format_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, std::abs(v) > 1e-3 ? "%.4f" : "%.4e", v);
  return buf;
}

std::string Progbar::format_time(double s, const char* unit) {
  char buf[64];
  if (s >= 1) std::snprintf(buf, sizeof buf, " %.0fs/%s", s, unit);
  else if (s >= 1e-3) std::snprintf(buf, sizeof buf, " %.0fms/%s", s * 1e3, unit);
  else std::snprintf(buf, sizeof buf, " %.0fus/%s", s * 1e6, unit);
  return buf;
}

void Progbar::update(int current, const Logs& values, bool finalize) {
  if (verbose_ == 0) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double per_step = current > 0 ? elapsed / current : 0.0;
  std::string metrics;
  for (const auto& [k, v] : values) metrics += " - " + k + ": " + format_value(v);
  std::string digits = std::to_string(target_);

  if (verbose_ == 1 && tty_) {
    std::string cur = std::to_string(current);
    std::string line = std::string(digits.size() - std::min(digits.size(), cur.size()), ' ') + cur + "/" + digits + " [";
    int width = 30;
    int prog = target_ > 0 ? width * current / target_ : width;
    if (prog > 0) {
      line += std::string(prog - 1, '=');
      line += current < target_ ? '>' : '=';
    }
    line += std::string(width - prog, '.') + "]";
    if (finalize || current >= target_) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " - %.0fs", elapsed);
      line += buf + format_time(per_step, "step");
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, " - ETA: %.0fs", per_step * (target_ - current));
      line += buf;
    }
    line += metrics;
    size_t w = line.size();
    if (w < last_width_) line += std::string(last_width_ - w, ' ');
    last_width_ = w;
    std::fprintf(out_, "\r%s", line.c_str());
    if (finalize) std::fprintf(out_, "\n");
    std::fflush(out_);
    return;
  }
  if (!finalize) return;
  char buf[32];
  std::snprintf(buf, sizeof buf, " - %.0fs", elapsed);
  std::string line = std::to_string(current) + "/" + digits + buf + metrics + " -" + format_time(elapsed, "epoch") +
                     " -" + format_time(per_step, "step");
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace kiln
