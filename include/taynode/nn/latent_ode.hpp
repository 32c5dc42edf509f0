#pragma once
// The latent ODE of the paper's PhysioNet experiment (REFERENCE.md §2) minus its ODE: the
// recognition network (recognition.hpp) and the decoder Linear(L → F), their initialization, names
// for checkpoints and optimizers, and the backward pass from the solve's z̄0 to every parameter.
// The latent dynamics are a separate network, nn::latent_ode_dynamics (layers.hpp, Haiku init).
//
// One training step (the ODE part is ad::solve_gradient's; docs/nn.md "Latent ODE"):
//   enc  = recognition_forward(model.recognition, times, values, mask)
//   zs   = sample_z0<T>(enc.mean, enc.std, 3, rng)             fresh ε per call
//   solve from zs.z0 at t_0 through the batch times; its callback runs
//   obj  = latent_ode_objective(model.decoder, z(t_i), values, mask, enc.mean, enc.std, options)
//          and hands back obj.z_bar (per time)
//   latent_ode_backward(model, enc, zs, z0_bar, obj, grad)      grad: the model's gradient
//
// Sizes (reference): features 37, GRU state 40 (mean and std each), latent 20, GRU and rec_to_gen
// hidden units 50: 31 560 (GRU) + 6 090 (rec_to_gen) + 777 (decoder) parameters, with the dynamics'
// 9 720 the reference's 48 147.

#include <cstddef>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "init.hpp"
#include "latent_ode_objective.hpp"
#include "layers.hpp"
#include "parameters.hpp"
#include "recognition.hpp"
#include "reparameterize.hpp"
#include "tanh_mlp.hpp"

namespace taynode::nn {

struct LatentOdeSizes {
  Eigen::Index features = 37;
  Eigen::Index gru_state = 40;
  Eigen::Index latent = 20;
  Eigen::Index gru_units = 50;
  Eigen::Index rec_to_gen_units = 50;
};

template <class T>
struct LatentOdeModel {
  RecognitionNetwork<T> recognition;
  Linear<T> decoder;  // latent → features
  explicit LatentOdeModel(const LatentOdeSizes& s = {})
      : recognition(s.features, s.gru_state, s.latent, s.gru_units, s.rec_to_gen_units), decoder(s.latent, s.features) {}
  LatentOdeSizes sizes() const {
    return {recognition.features(), recognition.state(), recognition.latent(), recognition.gru.units(),
            recognition.rec_to_gen.units()};
  }
  std::size_t parameter_count() const {
    return recognition.parameter_count() + std::size_t(decoder.weight.size() + decoder.bias.size());
  }
};

// f(name, array) for every tensor, in a fixed order: gru.{update,reset,candidate}.{0,1}.{weight,bias},
// rec_to_gen.{0,1}.{weight,bias}, decoder.{weight,bias} (".0" the hidden layer, ".1" the output layer).
template <class Model, class F>
void for_each_latent_ode_parameter(Model& model, F&& f) {
  auto mlp = [&](const std::string& prefix, auto& m) {
    f(prefix + ".0.weight", m.hidden.weight);
    f(prefix + ".0.bias", m.hidden.bias);
    f(prefix + ".1.weight", m.output.weight);
    f(prefix + ".1.bias", m.output.bias);
  };
  mlp("gru.update", model.recognition.gru.update);
  mlp("gru.reset", model.recognition.gru.reset);
  mlp("gru.candidate", model.recognition.gru.candidate);
  mlp("rec_to_gen", model.recognition.rec_to_gen);
  f(std::string("decoder.weight"), model.decoder.weight);
  f(std::string("decoder.bias"), model.decoder.bias);
}

// The reference's init of these parts: every weight N(0, stddev²) (0.1), biases zero; drawn in
// the order of for_each_latent_ode_parameter.
template <class T, class Rng>
void init_latent_ode_model(LatentOdeModel<T>& model, Rng& rng, double stddev = 0.1) {
  for_each_latent_ode_parameter(model, [&](const std::string& name, auto& a) {
    if (name.ends_with("weight")) normal(a, rng, stddev);
    else zeros(a);
  });
}

// Views of the model's tensors (append the dynamics' parameter_refs to train both with one optimizer
// and one checkpoint), and a copy of a gradient model under the same names.
template <class T>
ParameterRefs<T> parameter_refs(LatentOdeModel<T>& model) {
  ParameterRefs<T> refs;
  for_each_latent_ode_parameter(model, [&](std::string n, auto& a) { refs.add(std::move(n), a); });
  return refs;
}
template <class T>
ParameterSet<T> parameter_set(const LatentOdeModel<T>& model) {
  ParameterSet<T> set;
  for_each_latent_ode_parameter(const_cast<LatentOdeModel<T>&>(model),
                                [&](std::string n, const auto& a) { set.add(std::move(n), RowMatrix<T>(a)); });
  return set;
}

// Adds to `grad` (a LatentOdeModel of zeros to start, same sizes) the gradient of the loss given
// z̄0 (the solve's cotangent of zs.z0, (S·B) × L) and the objective's own cotangents (decoder,
// KL path of mean and std): through the sampling, rec_to_gen and the GRU back in time.
template <class T, class DZ>
void latent_ode_backward(const LatentOdeModel<T>& model, const RecognitionForward<T>& enc, const Z0Samples<T>& zs,
                         const Eigen::MatrixBase<DZ>& z0_bar, const LatentOdeObjective<T>& obj,
                         LatentOdeModel<T>& grad) {
  if (grad.sizes().features != model.sizes().features || grad.sizes().gru_state != model.sizes().gru_state ||
      grad.sizes().latent != model.sizes().latent || grad.sizes().gru_units != model.sizes().gru_units ||
      grad.sizes().rec_to_gen_units != model.sizes().rec_to_gen_units)
    throw std::invalid_argument("taynode::nn::latent_ode_backward: the gradient is not shaped like the model");
  if (obj.decoder_bar.weight.rows() != grad.decoder.weight.rows() ||
      obj.decoder_bar.weight.cols() != grad.decoder.weight.cols())
    throw std::invalid_argument("taynode::nn::latent_ode_backward: the objective's decoder gradient has another shape");
  RowMatrix<T> mean_bar = obj.mean_bar, std_bar = obj.std_bar;
  sample_z0_backward(zs, z0_bar, mean_bar, std_bar);
  recognition_backward(model.recognition, enc, mean_bar, std_bar, grad.recognition);
  grad.decoder.weight += obj.decoder_bar.weight;
  grad.decoder.bias += obj.decoder_bar.bias;
}

}  // namespace taynode::nn
