// End-to-end smoke test of the PhysioNet example's code (examples/physionet/physionet_example.hpp)
// on the real records (../shared/data/physionet2012, set-a + set-b, the seed-0 split): the first 200
// training patients, batches of 50, the reference's model sizes, Dopri5 at rtol 1e-3, atol 1e-4.
//   1. R_2-regularized training (λ = 0.01, backprop) for 12 iterations: the evaluation loss (KL
//      weight 1, seeded samples, Dopri5 at 1.4e-8) of 50 training patients must fall by >= 30 %, the
//      masked MSE too; every metric finite, the per-trajectory NFE positive.
//   2. The continuous adjoint and RNODE for 6 iterations: the loss falls.
//   3. Checkpoint/resume: 3 + 3 iterations with a save and a load into a fresh model and optimizer
//      give bit-identical parameters to 6 straight iterations.
//   4. Bad options are rejected.
// Exit 0: pass, 1: fail, 77: skipped (no shared PhysioNet folder).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "physionet/physionet_example.hpp"

namespace fs = std::filesystem;
using namespace physionet_example;

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

Settings smoke_settings(const fs::path& dir) {
  Settings s;
  s.data_dir = dir.string();
  s.cache = "none";
  s.patients = 200;
  s.test_patients = 50;
  s.reg = "r2";
  s.lambda = 0.01;
  s.rtol = 1e-3;
  s.atol = 1e-4;
  s.eval_patients = 50;
  s.validate();
  return s;
}

void train(Trainer& tr, const Data& d, const Settings& s, std::int64_t from, std::int64_t to) {
  const std::int64_t per_epoch = iterations_per_epoch(d, s);
  for (std::int64_t it = from; it < to; ++it) {
    const auto r = tr.step(make_batch(d, batch_patients(d, s, it, per_epoch)), it / per_epoch);
    if (!std::isfinite(r.loss)) throw std::runtime_error("non-finite loss at iteration " + std::to_string(it));
  }
}

std::pair<EvalResult, EvalResult> before_after(const Settings& s, const Data& d, std::int64_t its) {
  Model model(s, s.seed);
  Trainer tr(model, s);
  const auto before = evaluate(model, d, d.train, s, "train");
  train(tr, d, s, 0, its);
  return {before, evaluate(model, d, d.train, s, "train")};
}
}  // namespace

int main() {
  const char* shared = std::getenv("TAYNODE_SHARED_DATA");
  const fs::path dir = fs::path(shared ? shared : "../shared/data") / "physionet2012";
  if (!fs::is_directory(dir / "set-a")) {
    std::printf("skipped: no PhysioNet set-a in %s\n", dir.string().c_str());
    return 77;
  }
  try {
    const Settings s = smoke_settings(dir);
    const Data data = load_data(s);
    check(data.records.size() == 8000 && data.train_part == 6400 && data.test_part == 1600 &&
              data.train.size() == 200 && data.test.size() == 50,
          "8000 records, a 6400 / 1600 split, subsets of 200 / 50");

    // 1. Backprop, R_2.
    {
      const auto [b, a] = before_after(s, data, 12);
      std::printf("backprop r2: loss %.4f -> %.4f, MSE %.4g -> %.4g, loglik %.4f -> %.4f, KL %.3g, R2 %.3g -> %.3g, "
                  "NFE/traj %.1f -> %.1f, NFE joint %.1f\n",
                  b.loss, a.loss, b.mse, a.mse, b.log_likelihood, a.log_likelihood, a.kl, b.rk, a.rk,
                  b.nfe_trajectory, a.nfe_trajectory, a.nfe_joint);
      check(std::isfinite(a.loss) && a.loss <= b.loss - 0.3 * std::abs(b.loss), "the loss falls by >= 30 % (backprop, R_2)");
      check(a.mse < b.mse, "the masked MSE falls");
      check(std::isfinite(a.kl) && std::isfinite(a.rk) && a.rk > 0 && a.nfe_trajectory > 0 && a.nfe_joint > 0 &&
                std::isfinite(a.log_likelihood),
            "evaluation metrics are finite");
    }
    // 2. Adjoint; RNODE.
    {
      Settings a = s;
      a.gradient = "adjoint";
      const auto [b, c] = before_after(a, data, 6);
      std::printf("adjoint r2: loss %.4f -> %.4f\n", b.loss, c.loss);
      check(std::isfinite(c.loss) && c.loss < b.loss, "the loss falls (adjoint, R_2)");
      Settings r = s;
      r.reg = "rnode";
      r.lambda = 0;
      r.lambda_kin = 0.01;
      r.lambda_fro = 0.01;
      r.validate();
      const auto [rb, rc] = before_after(r, data, 6);
      std::printf("backprop rnode: loss %.4f -> %.4f\n", rb.loss, rc.loss);
      check(std::isfinite(rc.loss) && rc.loss < rb.loss, "the loss falls (backprop, RNODE)");
    }
    // 3. Checkpoint / resume.
    {
      const fs::path ckpt =
          fs::temp_directory_path() / ("taynode_physionet_smoke_" + std::to_string(::getpid()) + ".bin");
      Model straight(s, s.seed);
      Trainer t1(straight, s);
      train(t1, data, s, 0, 6);
      Model first(s, s.seed);
      Trainer t2(first, s);
      train(t2, data, s, 0, 3);
      taynode::nn::save_checkpoint(ckpt, t2.parameters(), &t2.optimizer().state());
      Model resumed(s, s.seed + 1);  // different init: all must come from the file
      Trainer t3(resumed, s);
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
      bad.reg = "r7";
      check(rejects(bad, "--reg must be one of"), "--reg r7 is rejected");
      bad = s;
      bad.solver = "rk4";
      check(rejects(bad, "no error estimate"), "rk4 with --steps 0 is rejected");
      bad = s;
      bad.samples = 0;
      check(rejects(bad, "--samples"), "--samples 0 is rejected");
      bad = s;
      bad.normalization = "zscore";
      check(rejects(bad, "--normalization"), "an unknown normalization is rejected");
      bad = s;
      bad.patients = 20;  // fewer than one batch: rejected by the training setup
      const Data small = load_data(bad);
      bool threw = false;
      try {
        (void)iterations_per_epoch(small, bad);
      } catch (const std::invalid_argument& e) {
        threw = std::string(e.what()).find("exceeds the 20 training patients") != std::string::npos;
      }
      check(threw, "a batch larger than the training subset is rejected");
    }
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
