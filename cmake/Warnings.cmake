# Project warning flags, applied per target so that third-party headers stay quiet.
function(amortize_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter)
endfunction()
