// End-to-end smoke test of the MINIBOONE example's code (examples/miniboone/miniboone_example.hpp):
// the first 200 rows of the shared val.npy (MAF's validation split), a tiny FFJORD network (hidden
// 16, 16), RK4 on 2 steps, batches of 50, Adam at a constant 1e-2.
//   1. R_2-regularized training (λ = 0.01, backprop) for 24 iterations: the test-style NLL of the
//      200 rows (exact trace, Dopri5) must fall by at least 2 nats; Hutchinson's NLL must agree
//      with it within 4 standard errors of their paired difference; R_2, B, K, NFE finite.
//   2. The continuous adjoint and RNODE (its ε the trace's) for 8 iterations: the NLL falls.
//   3. Checkpoint/resume: 3 + 3 iterations with a save and a load into a fresh model and optimizer
//      give bit-identical parameters to 6 straight iterations.
//   4. Bad options are rejected.
// Exit 0: pass, 1: fail, 77: skipped (no shared MINIBOONE folder).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "miniboone/miniboone_example.hpp"

namespace fs = std::filesystem;
using namespace miniboone_example;

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

Settings smoke_settings() {
  Settings s;
  s.hidden = {16, 16};
  s.reg = "r2";
  s.lambda = 0.01;
  s.solver = "rk4";
  s.steps = 2;
  s.batch = 50;
  s.lr_values = {1e-2};
  s.lr_iterations = {};
  s.eval_batch = 200;
  s.exact_batch = 50;
  s.validate();
  return s;
}

// Iterations [from, to) of the seeded epoch order.
void train(Trainer<double>& tr, const Mat<double>& d, const Settings& s, std::int64_t from, std::int64_t to) {
  const std::int64_t per_epoch = std::int64_t(std::size_t(d.rows()) / s.batch);
  Mat<double> x;
  for (std::int64_t it = from; it < to; ++it) {
    const auto perm = epoch_permutation(std::size_t(d.rows()), s.seed, it / per_epoch);
    gather_rows(d, perm, std::size_t(it % per_epoch) * s.batch, s.batch, x);
    const auto r = tr.step(x);
    if (!std::isfinite(r.loss)) throw std::runtime_error("non-finite loss at iteration " + std::to_string(it));
  }
}

// NLL (exact trace) before and after `its` iterations of a fresh model under settings s.
std::pair<double, double> nll_before_after(const Settings& s, const Mat<double>& d, std::int64_t its) {
  Model<double> model(d.cols(), s.hidden, s.seed);
  Trainer<double> tr(model, s, d.cols());
  Settings e = s;
  e.reg_metrics = false;
  const double before = evaluate(model, d, e, "val").nll_exact;
  train(tr, d, s, 0, its);
  return {before, evaluate(model, d, e, "val").nll_exact};
}
}  // namespace

int main() {
  const char* shared = std::getenv("TAYNODE_SHARED_DATA");
  const fs::path dir = fs::path(shared ? shared : "../shared/data") / "miniboone";
  if (!fs::exists(dir / "val.npy")) {
    std::printf("skipped: no MINIBOONE val.npy in %s\n", dir.string().c_str());
    return 77;
  }
  try {
    const auto all = load_data<double>(dir.string());
    const Mat<double> data = all.val.topRows(200);
    const Settings s = smoke_settings();

    // 1. Backprop, R_2.
    {
      Model<double> model(data.cols(), s.hidden, s.seed);
      Trainer<double> tr(model, s, data.cols());
      const auto before = evaluate(model, data, s, "val");
      train(tr, data, s, 0, 24);
      const auto after = evaluate(model, data, s, "val");
      std::printf("backprop r2: NLL exact %.4f -> %.4f, Hutchinson %.4f (paired s.e. %.4f), NFE %.0f -> %.0f, "
                  "R2 %.3g -> %.3g\n",
                  before.nll_exact, after.nll_exact, after.nll_hutchinson, after.difference_se, before.nfe, after.nfe,
                  before.r2, after.r2);
      check(std::isfinite(after.nll_exact) && after.nll_exact <= before.nll_exact - 2.0,
            "the NLL falls by >= 2 nats (backprop, R_2)");
      check(std::abs(after.nll_hutchinson - after.nll_exact) <= 4 * after.difference_se && after.difference_se > 0,
            "Hutchinson's NLL agrees with the exact trace's within 4 standard errors");
      check(std::isfinite(after.r2) && after.r2 > 0 && std::isfinite(after.kinetic) && std::isfinite(after.frobenius) &&
                after.nfe > 0,
            "evaluation metrics are finite");
    }
    // 2. Adjoint; RNODE.
    {
      Settings a = s;
      a.gradient = "adjoint";
      const auto [b, c] = nll_before_after(a, data, 8);
      std::printf("adjoint r2: NLL %.4f -> %.4f\n", b, c);
      check(std::isfinite(c) && c < b, "the NLL falls (adjoint, R_2)");
      Settings r = s;
      r.reg = "rnode";
      r.lambda = 0;
      r.lambda_kin = 0.01;
      r.lambda_fro = 0.01;
      r.validate();
      const auto [rb, rc] = nll_before_after(r, data, 8);
      std::printf("backprop rnode: NLL %.4f -> %.4f\n", rb, rc);
      check(std::isfinite(rc) && rc < rb, "the NLL falls (backprop, RNODE)");
    }
    // 3. Checkpoint / resume.
    {
      const fs::path ckpt =
          fs::temp_directory_path() / ("taynode_miniboone_smoke_" + std::to_string(::getpid()) + ".bin");
      Model<double> straight(data.cols(), s.hidden, s.seed);
      Trainer<double> t1(straight, s, data.cols());
      train(t1, data, s, 0, 6);
      Model<double> first(data.cols(), s.hidden, s.seed);
      Trainer<double> t2(first, s, data.cols());
      train(t2, data, s, 0, 3);
      taynode::nn::save_checkpoint(ckpt, t2.parameters(), &t2.optimizer().state());
      Model<double> resumed(data.cols(), s.hidden, s.seed + 1);  // different init: all must come from the file
      Trainer<double> t3(resumed, s, data.cols());
      taynode::nn::load_checkpoint(ckpt, t3.parameters(), &t3.optimizer().state());
      fs::remove(ckpt);
      check(t3.iteration() == 3, "resumed iteration count");
      train(t3, data, s, t3.iteration(), 6);
      const auto a = taynode::nn::ParameterSet<double>::copy_of(t1.parameters());
      const auto b = taynode::nn::ParameterSet<double>::copy_of(t3.parameters());
      const auto f = taynode::nn::ParameterSet<double>::copy_of(t2.parameters());
      check(a == b, "resume continues bit-identically");
      check(!(a == f), "... and the last 3 iterations did change the parameters");
    }
    // 4. Bad options.
    {
      auto rejects = [](Settings bad, const std::string& needle) {
        try {
          bad.validate();
        } catch (const std::invalid_argument& e) {
          return std::string(e.what()).find(needle) != std::string::npos;
        }
        return false;
      };
      Settings bad = s;
      bad.lambda = 0;
      check(rejects(bad, "--lam > 0"), "--reg r2 without --lam is rejected");
      bad = s;
      bad.lambda = NAN;
      check(rejects(bad, "finite"), "--lam nan is rejected");
      bad = s;
      bad.steps = 0;
      check(rejects(bad, "no error estimate"), "rk4 with --steps 0 is rejected");
      bad = s;
      bad.hidden = {16, 0};
      check(rejects(bad, "--hidden"), "a zero hidden width is rejected");
    }
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
