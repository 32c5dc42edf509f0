#pragma once
// Loaders for the data sets of the paper's experiments.

#include "taynode/data/errors.hpp"
#include "taynode/data/mnist.hpp"
#include "taynode/data/physionet.hpp"
