#pragma once
// Neural-network building blocks: layers, initializers, parameter sets, optimizers, schedules,
// checkpoints, the MNIST classifier head, the latent ODE's model pieces (docs/nn.md, docs/checkpoint.md).
#include "nn/layers.hpp"
#include "nn/generic_network.hpp"
#include "nn/init.hpp"
#include "nn/parameters.hpp"
#include "nn/parameter_buffers.hpp"
#include "nn/schedules.hpp"
#include "nn/optimizers.hpp"
#include "nn/checkpoint.hpp"
#include "nn/classifier.hpp"
#include "nn/latent_ode.hpp"
