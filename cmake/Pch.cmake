# One precompiled header, built once and reused by every target (same flags everywhere).
add_library(amortize_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch/pch_anchor.cpp)
target_link_libraries(amortize_pch PUBLIC torch)
amortize_warnings(amortize_pch)
target_precompile_headers(amortize_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/pch/amortize_pch.hpp)
set_target_properties(amortize_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)

function(amortize_use_pch target)
  amortize_warnings(${target})
  target_precompile_headers(${target} REUSE_FROM amortize_pch)
endfunction()
