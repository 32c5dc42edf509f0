// No include guard: included at the top of each jet header, paired with warnings_end.hpp.
// GCC 12 reports -Warray-bounds false positives in the fully unrolled rule loops at -O3, after
// identical-code folding merges the rule instantiations of different orders K (the indices it
// flags are never reached; checked with AddressSanitizer and UBSan). Users building with -Werror
// should not be hit, so the jet headers silence this one warning for their own code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
