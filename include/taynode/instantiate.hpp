#pragma once
// Include in exactly ONE translation unit of a program whose other translation units are
// compiled with TAYNODE_EXTERN_INSTANCES: the explicit instantiation definitions of what those
// units declare extern (taynode/ad/instances.hpp, docs/ad.md). The CMake function
// taynode_add_instances() makes such units and the library around them.
//
// TAYNODE_INSTANCES_REAL (double or float), if defined, limits this unit to that real type (for
// programs that declare only that type's extern: TAYNODE_EXTERN_INSTANCES_DOUBLE / _FLOAT), and
// two such units build in parallel (the CMake function does so; each takes ~22 s of g++ -O2 and
// ~0.75 GB on the 2-core machine of benchmarks/RESULTS.md).
//
// (An explicit instantiation definition may follow an `extern template` declaration of the same
// specialization in one unit, so this works whether or not TAYNODE_EXTERN_INSTANCES is defined.)

#include "taynode/ad/instances.hpp"

#ifdef TAYNODE_INSTANCES_REAL
TAYNODE_AD_INSTANCES(template, TAYNODE_INSTANCES_REAL)
#else
TAYNODE_AD_INSTANCES(template, double)
TAYNODE_AD_INSTANCES(template, float)
#endif
