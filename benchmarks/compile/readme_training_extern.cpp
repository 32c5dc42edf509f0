// The README's training snippet as a target linking a taynode_add_instances() library compiles it:
// with TAYNODE_EXTERN_INSTANCES, so the solve-gradient sweeps and the workspace constructors are
// declared extern here and compiled once in that library (taynode/ad/instances.hpp).
#define TAYNODE_EXTERN_INSTANCES
#include "readme_training.cpp"
