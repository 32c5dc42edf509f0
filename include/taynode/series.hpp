#pragma once
// Batched Taylor series of arrays (structure of arrays) and their operations; the CPU backend.

#include "taynode/backend/backend.hpp"
#include "taynode/backend/cpu.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/series/clock.hpp"
#include "taynode/series/ops.hpp"
#include "taynode/series/series.hpp"
