#pragma once
// Loaders for the data sets of the paper's experiments.

#include "taynode/data/errors.hpp"
#include "taynode/data/miniboone.hpp"
#include "taynode/data/mnist.hpp"
#include "taynode/data/npy.hpp"
#include "taynode/data/physionet.hpp"
#include "taynode/data/read_file.hpp"
