// The translation unit of slipway_pch, the target that compiles the precompiled header every
// Slipway library and test reuses (CMakeLists.txt, SLIPWAY_PCH). It defines nothing.
