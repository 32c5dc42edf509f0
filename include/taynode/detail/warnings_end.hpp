// No include guard: closes detail/warnings_begin.hpp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
