// The translation unit that builds tests/test_pch.hpp's precompiled header (it has no code).
