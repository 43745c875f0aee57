// Kiln's deterministic generator, the session state (seed, name counters) and
// Keras's default initializers.
#include "random.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <string>

#include "ir/error.h"
#include "kiln/session.h"

namespace kiln {
namespace {

constexpr uint64_t kDefaultSeed = 1337;

struct Session {
  uint64_t seed = kDefaultSeed;
  detail::Rng rng{kDefaultSeed};
  std::map<std::string, int64_t> uids;
};

Session& session() {
  static Session s;
  return s;
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

void set_seed(uint64_t seed) {
  session().seed = seed;
  session().rng.reseed(seed);
}

void clear_session() {
  session().uids.clear();
  session().rng.reseed(session().seed);
}

namespace detail {

uint64_t session_seed() { return session().seed; }

std::string unique_object_name(const std::string& prefix, bool zero_based) {
  int64_t uid = ++session().uids[prefix];
  if (zero_based) return uid == 1 ? prefix : prefix + "_" + std::to_string(uid - 1);
  return prefix + "_" + std::to_string(uid);
}

std::string to_snake_case(const std::string& name) {
  static const std::regex a("(.)([A-Z][a-z0-9]+)"), b("([a-z])([A-Z])");
  std::string s = std::regex_replace(name, a, "$1_$2");
  s = std::regex_replace(s, b, "$1_$2");
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Rng& global_rng() { return session().rng; }

void Rng::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : s_) s = splitmix64(x);
  has_spare_ = false;
}

uint64_t Rng::next() {
  // xoshiro256** (Blackman & Vigna).
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box-Muller: r = sqrt(-2 ln u1), angle 2 pi u2; u1 in (0, 1].
  double u1 = 1.0 - uniform(), u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  double a = 2.0 * M_PI * u2;
  spare_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

Tensor glorot_uniform(const std::vector<int64_t>& shape) {
  KILN_ASSERT(shape.size() >= 2, "glorot_uniform needs rank >= 2");
  int64_t receptive = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i) receptive *= shape[i];
  double fan_in = static_cast<double>(shape[shape.size() - 2] * receptive);
  double fan_out = static_cast<double>(shape.back() * receptive);
  double limit = std::sqrt(6.0 / (fan_in + fan_out));
  Tensor t = Tensor::zeros(shape);
  float* p = t.data();
  Rng& rng = global_rng();
  for (int64_t i = 0; i < t.size(); ++i) p[i] = static_cast<float>(-limit + 2.0 * limit * rng.uniform());
  return t;
}

Tensor orthogonal(const std::vector<int64_t>& shape) {
  KILN_ASSERT(shape.size() >= 2, "orthogonal needs rank >= 2");
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  int64_t cols = shape.back();
  int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  // a: m x n, column-major for Gram-Schmidt; filled in row-major draw order like numpy.
  std::vector<double> a(static_cast<size_t>(m * n));
  Rng& rng = global_rng();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) a[j * m + i] = rng.normal();
  // Modified Gram-Schmidt, twice per column for accuracy. It yields the Q of a QR whose R has a
  // positive diagonal, i.e. exactly Keras's q * sign(diag(r)).
  for (int64_t j = 0; j < n; ++j) {
    double* qj = &a[j * m];
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t k = 0; k < j; ++k) {
        const double* qk = &a[k * m];
        double dot = 0;
        for (int64_t i = 0; i < m; ++i) dot += qk[i] * qj[i];
        for (int64_t i = 0; i < m; ++i) qj[i] -= dot * qk[i];
      }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i) qj[i] /= norm;
  }
  Tensor t = Tensor::zeros(shape);
  float* p = t.data();
  // q is m x n; the result is rows x cols: q itself when rows >= cols, else q^T.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      double v = rows >= cols ? a[c * m + r] : a[r * m + c];
      p[r * cols + c] = static_cast<float>(v);
    }
  return t;
}

}  // namespace detail
}  // namespace kiln
